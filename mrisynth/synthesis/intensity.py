"""Intensity mapping between the preprocessed images and the networks' [-1, 1] range.

T1 (already normalised in the brain mask by preprocessing) is mapped linearly ``[0, t1_high] -> [-1, 1]``
and clipped. PET (SUVR) is mapped either the same way (``[0, pet_high]``) or, in ``residual`` mode, as the
deviation from a population template: ``(suvr - template) / residual_scale`` clipped to [-1, 1], where the
template is the voxelwise mean SUVR of the TRAINING subjects. In residual mode the generator only has to
learn what the MRI says about a subject beyond the population average (an untrained generator already
gives ~ the template), which a small 3D GAN can do within the demo's few hundred steps.

High values and scales are percentiles of the training subjects' values inside their brain masks. The
mapping (template included) travels with the generator in ``best.pt`` and is inverted on output, so a
synthetic PET comes out in SUVR units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class IntensityMapping:
    t1_high: float
    pet_high: float
    percentile: float
    template: torch.Tensor | None = None  # residual mode: mean training SUVR on the template grid
    residual_scale: float = 1.0

    @classmethod
    def fit(cls, t1_arrays, pet_arrays, masks, percentile: float, residual: bool = False) -> IntensityMapping:
        inside = [np.asarray(m) > 0 for m in masks]
        t1 = np.concatenate([np.asarray(a)[m] for a, m in zip(t1_arrays, inside)])
        pet = np.concatenate([np.asarray(a)[m] for a, m in zip(pet_arrays, inside)])
        t1_high, pet_high = float(np.percentile(t1, percentile)), float(np.percentile(pet, percentile))
        if not (t1_high > 0 and pet_high > 0):
            raise ValueError(f"degenerate intensities in the training images (T1 high {t1_high}, PET high {pet_high})")
        if not residual:
            return cls(t1_high, pet_high, float(percentile))
        template = np.mean(np.stack([np.asarray(a, np.float32) for a in pet_arrays]), 0).astype(np.float32)
        dev = np.concatenate([np.abs(np.asarray(a) - template)[m] for a, m in zip(pet_arrays, inside)])
        scale = float(np.percentile(dev, percentile))
        return cls(t1_high, pet_high, float(percentile), torch.from_numpy(template), scale if scale > 0 else 1.0)

    @staticmethod
    def _forward(x, high: float):
        x = torch.as_tensor(x, dtype=torch.float32)
        return (x / high).clamp(0.0, 1.0) * 2.0 - 1.0

    def t1_to_net(self, t1):
        return self._forward(t1, self.t1_high)

    def _template_like(self, x: torch.Tensor) -> torch.Tensor:
        """The template, on the trailing spatial axes of ``x`` (crop when ``x`` is a padded volume)."""
        if tuple(x.shape[-3:]) != tuple(self.template.shape):
            raise ValueError(f"volume {tuple(x.shape[-3:])} is not on the template grid {tuple(self.template.shape)}")
        return self.template

    def pet_to_net(self, pet):
        if self.template is None:
            return self._forward(pet, self.pet_high)
        pet = torch.as_tensor(pet, dtype=torch.float32)
        return ((pet - self._template_like(pet)) / self.residual_scale).clamp(-1.0, 1.0)

    def net_to_pet(self, y) -> torch.Tensor:
        """Generator output in [-1, 1] -> SUVR."""
        y = torch.as_tensor(y, dtype=torch.float32).clamp(-1.0, 1.0)
        if self.template is None:
            return (y + 1.0) * 0.5 * self.pet_high
        return (self._template_like(y) + y * self.residual_scale).clamp(min=0.0)

    def to_dict(self) -> dict:
        d = {"t1_high": self.t1_high, "pet_high": self.pet_high, "percentile": self.percentile,
             "residual_scale": self.residual_scale}
        if self.template is not None:
            d["template"] = self.template
        return d

    def describe(self) -> dict:
        """JSON-friendly summary (no template array)."""
        return {k: v for k, v in self.to_dict().items() if k != "template"} | {"residual": self.template is not None}

    @classmethod
    def from_dict(cls, d: dict) -> IntensityMapping:
        template = d.get("template")
        return cls(float(d["t1_high"]), float(d["pet_high"]), float(d["percentile"]),
                   None if template is None else torch.as_tensor(template, dtype=torch.float32),
                   float(d.get("residual_scale", 1.0)))
