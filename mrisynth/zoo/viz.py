"""Sample grids as PNG (2D images, or the middle depth slice of 3D volumes), written atomically."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from mrisynth.io.atomic import atomic_path


def make_grid(images: torch.Tensor, nrow: int | None = None, value_range=(-1.0, 1.0)) -> np.ndarray:
    """(N, C, H, W) or (N, C, D, H, W) -> (rows*H, cols*W[, 3]) array in [0, 1], 1 px gaps.

    One channel gives a grey image, three give RGB; other channel counts show channel 0.
    """
    x = images.detach().float().cpu()
    if x.dim() == 5:
        x = x[:, :, x.shape[2] // 2]
    if x.dim() != 4:
        raise ValueError(f"expected 4D or 5D images, got shape {tuple(images.shape)}")
    if x.shape[1] not in (1, 3):
        x = x[:, :1]
    lo, hi = value_range
    x = ((x - lo) / (hi - lo)).clamp(0, 1).numpy()
    n, c, h, w = x.shape
    cols = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.ones((c, rows * (h + 1) - 1, cols * (w + 1) - 1), dtype=np.float32)
    for k in range(n):
        r, q = divmod(k, cols)
        grid[:, r * (h + 1) : r * (h + 1) + h, q * (w + 1) : q * (w + 1) + w] = x[k]
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None, value_range=(-1.0, 1.0)) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = make_grid(images, nrow=nrow, value_range=value_range)
    with atomic_path(path) as tmp:
        plt.imsave(tmp, grid, cmap="gray", vmin=0.0, vmax=1.0)
