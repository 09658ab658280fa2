"""Intensity mapping between the preprocessed images and the networks' [-1, 1] range.

T1 (already normalised in the brain mask by preprocessing) is mapped linearly ``[0, t1_high] -> [-1, 1]``
and clipped. PET (SUVR) is mapped either the same way (``[0, pet_high]``) or, in ``residual`` mode, as the
deviation from a population template: ``(suvr - template) / residual_scale`` clipped to [-1, 1], where the
template is the voxelwise mean SUVR of the TRAINING subjects. In residual mode the generator only has to
learn what the MRI says about a subject beyond the population average; training zeroes the generator's
output layer, so the untrained generator gives exactly the template.

``base="linear"`` replaces the template by a per-subject base: the voxelwise least-squares line from the
subject's T1 (network range) to SUVR over the training subjects, ``template + slope * (t1 - t1_mean)``
(the evaluation's linear-regression baseline, fit on the network-range T1). The generator then learns
what the MRI says beyond a voxelwise linear T1 map, and starts from that map instead of the mean.

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
    slope: torch.Tensor | None = None  # base "linear": SUVR per network-range T1 unit, per voxel
    t1_mean: torch.Tensor | None = None  # base "linear": mean network-range T1 of the training subjects

    @classmethod
    def fit(cls, t1_arrays, pet_arrays, masks, percentile: float, residual: bool = False, base: str = "mean") -> IntensityMapping:
        inside = [np.asarray(m) > 0 for m in masks]
        t1 = np.concatenate([np.asarray(a)[m] for a, m in zip(t1_arrays, inside)])
        pet = np.concatenate([np.asarray(a)[m] for a, m in zip(pet_arrays, inside)])
        t1_high, pet_high = float(np.percentile(t1, percentile)), float(np.percentile(pet, percentile))
        if not (t1_high > 0 and pet_high > 0):
            raise ValueError(f"degenerate intensities in the training images (T1 high {t1_high}, PET high {pet_high})")
        if not residual:
            return cls(t1_high, pet_high, float(percentile))
        if base not in ("mean", "linear"):
            raise ValueError(f"residual base must be 'mean' or 'linear', got {base!r}")
        pets = np.stack([np.asarray(a, np.float32) for a in pet_arrays])
        template = pets.mean(0)
        slope = t1_mean = None
        bases = [template] * len(pets)
        if base == "linear":
            t1n = np.clip(np.stack([np.asarray(a, np.float32) for a in t1_arrays]) / t1_high, 0.0, 1.0) * 2.0 - 1.0
            t1_mean = t1n.mean(0)
            var = ((t1n - t1_mean) ** 2).mean(0)
            cov = ((t1n - t1_mean) * (pets - template)).mean(0)
            slope = np.divide(cov, var, out=np.zeros_like(cov), where=var > 1e-12).astype(np.float32)  # constant T1: the mean
            bases = [template + slope * (t - t1_mean) for t in t1n]
        dev = np.concatenate([np.abs(p - b)[m] for p, b, m in zip(pets, bases, inside)])
        scale = float(np.percentile(dev, percentile))
        as_tensor = lambda a: None if a is None else torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
        return cls(t1_high, pet_high, float(percentile), as_tensor(template), scale if scale > 0 else 1.0,
                   as_tensor(slope), as_tensor(t1_mean))

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

    def _base(self, x: torch.Tensor, t1_net=None) -> torch.Tensor:
        """The residual's base for a subject: the template, or (base "linear", ``t1_net`` given: the subject's
        network-range T1 on the same grid) the voxelwise linear map of its T1."""
        template = self._template_like(x)
        if self.slope is None or t1_net is None:
            return template
        return template + self.slope * (torch.as_tensor(t1_net, dtype=torch.float32) - self.t1_mean)

    def pet_to_net(self, pet, t1_net=None):
        """SUVR -> network range. Base "linear" needs the subject's network-range T1 for the training target;
        without it the residual is taken over the template (a fixed map, used for the FID encoder)."""
        if self.template is None:
            return self._forward(pet, self.pet_high)
        pet = torch.as_tensor(pet, dtype=torch.float32)
        return ((pet - self._base(pet, t1_net)) / self.residual_scale).clamp(-1.0, 1.0)

    def net_to_pet(self, y, t1_net=None) -> torch.Tensor:
        """Generator output in [-1, 1] -> SUVR (base "linear": ``t1_net``, the generator's input, is required)."""
        y = torch.as_tensor(y, dtype=torch.float32).clamp(-1.0, 1.0)
        if self.template is None:
            return (y + 1.0) * 0.5 * self.pet_high
        if self.slope is not None and t1_net is None:
            raise ValueError("this mapping's residual base is linear in T1: pass the subject's network-range T1")
        return (self._base(y, t1_net) + y * self.residual_scale).clamp(min=0.0)

    def to_dict(self) -> dict:
        d = {"t1_high": self.t1_high, "pet_high": self.pet_high, "percentile": self.percentile,
             "residual_scale": self.residual_scale}
        if self.template is not None:
            d["template"] = self.template
        if self.slope is not None:
            d["slope"], d["t1_mean"] = self.slope, self.t1_mean
        return d

    def describe(self) -> dict:
        """JSON-friendly summary (no template array)."""
        return ({k: v for k, v in self.to_dict().items() if k not in ("template", "slope", "t1_mean")}
                | {"residual": self.template is not None, "base": "linear" if self.slope is not None else "mean"})

    @classmethod
    def from_dict(cls, d: dict) -> IntensityMapping:
        def tensor(key):
            return None if d.get(key) is None else torch.as_tensor(d[key], dtype=torch.float32)

        return cls(float(d["t1_high"]), float(d["pet_high"]), float(d["percentile"]), tensor("template"),
                   float(d.get("residual_scale", 1.0)), tensor("slope"), tensor("t1_mean"))
