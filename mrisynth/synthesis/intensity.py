"""Intensity mapping between the preprocessed images and the networks' [-1, 1] range.

T1 (already normalised in the brain mask by preprocessing) and PET (SUVR) are each mapped linearly
``[0, high] -> [-1, 1]`` and clipped, where ``high`` is a percentile of the TRAINING subjects' values inside
their brain masks. The mapping travels with the generator in ``best.pt`` and is inverted on output, so a
synthetic PET comes out in SUVR units.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class IntensityMapping:
    t1_high: float
    pet_high: float
    percentile: float

    @classmethod
    def fit(cls, t1_arrays, pet_arrays, masks, percentile: float) -> IntensityMapping:
        t1 = np.concatenate([np.asarray(a)[np.asarray(m) > 0] for a, m in zip(t1_arrays, masks)])
        pet = np.concatenate([np.asarray(a)[np.asarray(m) > 0] for a, m in zip(pet_arrays, masks)])
        t1_high, pet_high = float(np.percentile(t1, percentile)), float(np.percentile(pet, percentile))
        if not (t1_high > 0 and pet_high > 0):
            raise ValueError(f"degenerate intensities in the training images (T1 high {t1_high}, PET high {pet_high})")
        return cls(t1_high, pet_high, float(percentile))

    @staticmethod
    def _forward(x, high: float):
        x = torch.as_tensor(x, dtype=torch.float32)
        return (x / high).clamp(0.0, 1.0) * 2.0 - 1.0

    def t1_to_net(self, t1):
        return self._forward(t1, self.t1_high)

    def pet_to_net(self, pet):
        return self._forward(pet, self.pet_high)

    def net_to_pet(self, y) -> torch.Tensor:
        """Generator output in [-1, 1] -> SUVR."""
        return (torch.as_tensor(y, dtype=torch.float32).clamp(-1.0, 1.0) + 1.0) * 0.5 * self.pet_high

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> IntensityMapping:
        return cls(float(d["t1_high"]), float(d["pet_high"]), float(d["percentile"]))
