"""A second reader of the MRI for the severity path: a ridge regression of the disease stage on the T1's mean in
each ``mrisynth.anatomy`` region, fit on the fold's labelled training MRIs (PET or not; the stage labels the
severity encoder is trained with).

The trained encoder and this regional reader see different parts of what the MRI says about the disease: on
the benchmark cohort, combining both on the validation subjects beats either alone
(``benchmarks/severity_plus_regional.py``). ``mrisynth.synthesis.severity_gain`` (mode ``metaroi_regional``)
fits that combination and hands the reader to the severity path, which adds its term to s(x).
"""

from __future__ import annotations

import numpy as np
import torch

from mrisynth.io.nifti import load_array

ALPHAS = np.logspace(-2, 4, 30)  # RidgeCV's grid (leave-one-out choice on the training MRIs)


def region_masks(affine: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(R, *shape) bool: the ``mrisynth.anatomy`` regions, sorted by name, on a grid."""
    from mrisynth.anatomy import REGIONS, region_mask

    return np.stack([region_mask(name, affine, tuple(shape)) for name in sorted(REGIONS)])


def regional_means(image: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """(R,) the image's mean in each region (0 for a region with no voxel on the grid)."""
    sizes = masks.reshape(len(masks), -1).sum(1)
    sums = masks.reshape(len(masks), -1).astype(np.float64) @ image.reshape(-1).astype(np.float64)
    return np.where(sizes > 0, sums / np.maximum(sizes, 1), 0.0)


class RegionalReader:
    """``gain * (ridge(x) - centre)`` for net-range inputs x (N, 1, *padded grid): the term the severity path
    adds to s(x). ``voxels``: each region's flat voxel indices on the padded grid of shape ``padded``; the
    ridge's ``coef`` (R,) and ``intercept`` act on the regional means directly (an empty region reads 0)."""

    def __init__(self, voxels: list[torch.Tensor], padded: tuple[int, ...], coef: np.ndarray, intercept: float,
                 gain: float = 1.0, centre: float = 0.0):
        self.voxels, self.padded = voxels, tuple(padded)
        self.coef = torch.as_tensor(coef, dtype=torch.float32)
        self.intercept, self.gain, self.centre = float(intercept), float(gain), float(centre)

    def stage(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) the ridge's stage estimate."""
        if tuple(x.shape[2:]) != self.padded:
            raise ValueError(f"the regional reader's masks are on a {self.padded} grid, got an input of "
                             f"{tuple(x.shape[2:])} (it reads whole volumes, padded as the generator's inputs)")
        flat = x[:, 0].reshape(len(x), -1).float()
        means = torch.stack([flat[:, v].mean(1) if len(v) else flat.new_zeros(len(x)) for v in self.voxels], 1)
        return means @ self.coef.to(x.device) + self.intercept

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.gain * (self.stage(x) - self.centre)


def fit_reader(labelled, stages: list[float], mapping, multiple: int) -> tuple[RegionalReader, dict]:
    """Fit the ridge on ``labelled`` subjects' T1s (net range, as the generator reads them) and their
    ``stages``; returns the reader (gain 1, centre 0) for inputs padded to ``multiple``, and what was fit."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    t1, affine = load_array(labelled[0].paths.t1)
    masks = region_masks(affine, t1.shape)
    if not masks.any():
        raise ValueError(f"no mrisynth.anatomy region has a voxel on the grid of {labelled[0].paths.t1}")
    features = np.stack([regional_means(mapping.t1_to_net(load_array(s.paths.t1)[0]).numpy(), masks) for s in labelled])
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS)).fit(features, stages)
    scaler, ridge = model[0], model[1]
    coef = ridge.coef_ / scaler.scale_  # the pipeline as one linear map of the raw means
    intercept = float(ridge.intercept_ - coef @ scaler.mean_)
    padded = tuple(n + (-n) % multiple for n in t1.shape)  # padding at the ends keeps every voxel's index
    voxels = [torch.from_numpy(np.ravel_multi_index(np.nonzero(m), padded)) for m in masks]
    fitted = {"alpha": float(ridge.alpha_), "subjects": len(labelled),
              "regions_off_grid": int(sum(not m.any() for m in masks))}
    return RegionalReader(voxels, padded, coef, intercept), fitted
