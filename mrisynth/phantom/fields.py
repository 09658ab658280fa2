"""Smooth random fields and soft region weights, vectorised on regular grids.

A smooth field is a random combination of low-frequency cosines, one per axis, multiplied together
(a truncated 3D DCT). Because the basis is separable, evaluating it on an ``nx*ny*nz`` grid costs three
small tensor products instead of one cosine per voxel, which keeps deformation, bias and variability
fields at a few milliseconds each.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from mrisynth.anatomy import Ellipsoid


def _cosine_basis(n: int, modes: int) -> np.ndarray:
    """(n, modes) cosines cos(pi * k * (i + 0.5) / n), k = 0..modes-1 (DCT-II basis over the axis)."""
    i = (np.arange(n, dtype=np.float32) + 0.5) / n
    return np.cos(np.pi * i[:, None] * np.arange(modes, dtype=np.float32)[None, :]).astype(np.float32)


def random_coefficients(rng: np.random.Generator, modes: int, count: int = 1) -> np.ndarray:
    """Random DCT coefficients (count, modes, modes, modes), amplitude falling with frequency, no constant term.

    Normalised so that the field has a root-mean-square of about 1 over the grid.
    """
    k = np.arange(modes)
    freq = k[:, None, None] + k[None, :, None] + k[None, None, :]
    decay = 1.0 / (1.0 + freq.astype(np.float64))
    decay[0, 0, 0] = 0.0
    coef = rng.standard_normal((count, modes, modes, modes)) * decay
    # each non-constant basis product has mean square 2^-(number of non-zero frequencies) over the grid
    nonzero = (k > 0).astype(int)
    power = (decay**2 * 0.5 ** (nonzero[:, None, None] + nonzero[None, :, None] + nonzero[None, None, :])).sum()
    return (coef / np.sqrt(power)).astype(np.float32)


def smooth_field(coef: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Evaluate DCT coefficients (modes, modes, modes) on a grid of ``shape`` (float32)."""
    modes = coef.shape[0]
    bx, by, bz = (_cosine_basis(n, modes) for n in shape)
    out = np.tensordot(bx, coef, axes=(1, 0))  # (nx, my, mz)
    out = np.tensordot(out, by, axes=(1, 1))  # (nx, mz, ny)
    out = np.tensordot(out, bz, axes=(1, 1))  # (nx, ny, nz)
    return out.astype(np.float32, copy=False)


def soft_weight(region: Ellipsoid, affine: np.ndarray, shape: tuple[int, int, int], edge: float = 0.15) -> np.ndarray:
    """1 inside the ellipsoid, 0 outside, with a logistic edge of relative width ``edge`` (no hard steps)."""
    r = region.distance(affine, shape)
    return expit((1.0 - r) / edge).astype(np.float32)
