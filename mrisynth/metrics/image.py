"""Voxelwise similarity of a synthetic image to a reference inside a (brain) mask: MAE, PSNR, SSIM.

Inputs are one spatial array each (2D ``(H, W)`` or 3D ``(D, H, W)``, numpy or torch, no batch/channel
axes) and an optional boolean mask of the same shape (``None`` = whole image). ``data_range`` is
keyword-only and has no default: PSNR and the SSIM constants depend on it, so the caller must state it
(e.g. the reference's intensity range inside the mask) and report it next to the numbers.

Masking:
- MAE and PSNR use only the voxels inside the mask (PSNR = 10 log10(data_range^2 / MSE_mask)).
- SSIM is computed as a map over the whole image with the formula and Gaussian window of MONAI's
  ``compute_ssim_and_cs`` (size 11, sigma 1.5, population covariance, K1=0.01, K2=0.03: the Wang et al.
  2004 settings), filtering separably in float64 (MONAI's dense 11^3 depthwise conv takes seconds per 3D
  volume on CPU; the result agrees with it to float32 rounding), i.e. every
  window sees the real neighbourhood, including voxels just outside the mask. The map is defined only where
  the whole window fits in the image (``kernel_size // 2`` voxels from each border); the score is the mean
  of the map over the voxels of that region whose window centre lies inside the mask. Without a mask this
  equals scikit-image's ``structural_similarity(..., gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False)``.
"""

from __future__ import annotations

import numpy as np
import torch
from monai.metrics import PSNRMetric


def _prepare(pred, target, mask) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    pred_t = torch.as_tensor(np.asarray(pred) if not torch.is_tensor(pred) else pred).double()
    target_t = torch.as_tensor(np.asarray(target) if not torch.is_tensor(target) else target).double()
    if pred_t.shape != target_t.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred_t.shape)} vs {tuple(target_t.shape)}")
    if pred_t.ndim not in (2, 3):
        raise ValueError(f"expected a 2D or 3D spatial array, got shape {tuple(pred_t.shape)}")
    if mask is None:
        mask_t = torch.ones_like(pred_t, dtype=torch.bool)
    else:
        mask_t = torch.as_tensor(np.asarray(mask) if not torch.is_tensor(mask) else mask).bool()
        if mask_t.shape != pred_t.shape:
            raise ValueError(f"mask shape {tuple(mask_t.shape)} differs from image shape {tuple(pred_t.shape)}")
    if not mask_t.any():
        raise ValueError("mask is empty")
    return pred_t, target_t, mask_t


def _check_range(data_range: float) -> float:
    if not data_range > 0:
        raise ValueError(f"data_range must be positive, got {data_range}")
    return float(data_range)


def mae(pred, target, mask=None) -> float:
    """Mean absolute error over the voxels inside ``mask``."""
    pred_t, target_t, mask_t = _prepare(pred, target, mask)
    return float((pred_t[mask_t] - target_t[mask_t]).abs().mean())


def psnr(pred, target, mask=None, *, data_range: float) -> float:
    """PSNR in dB over the voxels inside ``mask`` (MONAI ``PSNRMetric`` on the masked voxels)."""
    pred_t, target_t, mask_t = _prepare(pred, target, mask)
    metric = PSNRMetric(max_val=_check_range(data_range), reduction="none")
    return float(metric(pred_t[mask_t][None, None], target_t[mask_t][None, None]).squeeze())


def ssim_map(pred, target, *, data_range: float, kernel_size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """SSIM map (MONAI, valid windows only): shape = image shape minus ``kernel_size - 1`` per axis."""
    pred_t, target_t, _ = _prepare(pred, target, None)
    if min(pred_t.shape) < kernel_size:
        raise ValueError(f"image shape {tuple(pred_t.shape)} is smaller than the SSIM window {kernel_size}")
    c1, c2 = (0.01 * _check_range(data_range)) ** 2, (0.03 * data_range) ** 2
    x, y = pred_t, target_t
    mu_x, mu_y, mu_xx, mu_yy, mu_xy = _gaussian_filter_valid(torch.stack([x, y, x * x, y * y, x * y]), kernel_size, sigma)
    sigma_x, sigma_y, sigma_xy = mu_xx - mu_x * mu_x, mu_yy - mu_y * mu_y, mu_xy - mu_x * mu_y
    contrast = (2 * sigma_xy + c2) / (sigma_x + sigma_y + c2)
    return ((2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)) * contrast


def _gaussian_filter_valid(stack: torch.Tensor, kernel_size: int, sigma: float) -> torch.Tensor:
    """Separable Gaussian filter (MONAI's normalised sampled kernel) over the spatial axes of (K, *spatial),
    keeping only the positions where the whole window fits ("valid" convolution)."""
    dist = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2
    g = torch.exp(-0.5 * (dist / sigma) ** 2)
    g = g / g.sum()
    out = stack
    for axis in range(1, stack.ndim):
        n = out.shape[axis] - kernel_size + 1
        out = sum(g[i] * out.narrow(axis, i, n) for i in range(kernel_size))
    return out


def ssim(pred, target, mask=None, *, data_range: float, kernel_size: int = 11, sigma: float = 1.5) -> float:
    """Mean SSIM over the window centres inside ``mask`` (see the module docstring)."""
    _, _, mask_t = _prepare(pred, target, mask)
    smap = ssim_map(pred, target, data_range=data_range, kernel_size=kernel_size, sigma=sigma)
    r = kernel_size // 2
    inner = mask_t[tuple(slice(r, n - r) for n in mask_t.shape)]
    if not inner.any():
        raise ValueError(f"no mask voxel lies at least {r} voxels from the image border")
    return float(smap[inner].mean())
