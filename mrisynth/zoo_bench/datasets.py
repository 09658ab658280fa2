"""The zoo's 2D benchmark data: scikit-learn's bundled digits (1797 8x8 images, no download),
bilinearly upsampled to ``size`` x ``size`` and scaled to [-1, 1], with a fixed stratified split.

For the image-to-image models the pairs are (A, B) = (a low-resolution version, the digit):
A is the digit average-pooled to 4x4 and upsampled back to ``size`` (a 4x super-resolution task).
CycleGAN gets them unpaired: A from one half of the training digits, B from the other half.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

N_CLASSES = 10


def digits(size: int = 16, split: str = "train", test_fraction: float = 0.25) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (N, 1, size, size) in [-1, 1], labels (N,)) of the ``train`` or ``test`` split (fixed)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be train, test or all, got {split!r}")
    data = load_digits()
    x = torch.from_numpy(data.images.astype(np.float32) / 16.0).unsqueeze(1)
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x = (x * 2 - 1).clamp(-1, 1)
    y = torch.from_numpy(data.target.astype(np.int64))
    if split == "all":
        return x, y
    idx_train, idx_test = train_test_split(np.arange(len(y)), test_size=test_fraction, random_state=0, stratify=data.target)
    idx = torch.from_numpy(idx_train if split == "train" else idx_test)
    return x[idx], y[idx]


def low_resolution(x: torch.Tensor, factor: int = 4) -> torch.Tensor:
    """Domain A: average-pool by ``factor`` and upsample back (bilinear)."""
    small = F.avg_pool2d(x, factor)
    return F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False)


def digits_dataset(kind: str, size: int = 16, split: str = "train") -> TensorDataset:
    """``images``: (x, label); ``paired``: (low-res x, x, label); ``unpaired``: (low-res x_i, x_j, label_j)
    with i, j from disjoint halves of the split."""
    return image_dataset(kind, *digits(size, split))


def image_dataset(kind: str, x: torch.Tensor, y: torch.Tensor, a: torch.Tensor | None = None) -> TensorDataset:
    """``digits_dataset`` for any labelled images ``x`` (N, C, H, W) in [-1, 1] (e.g. zoo_bench.slices); ``a``:
    the domain-A image of each ``x`` (default: its low-resolution version)."""
    if kind == "images":
        return TensorDataset(x, y)
    a = low_resolution(x) if a is None else a
    if len(a) != len(x):
        raise ValueError(f"{len(a)} domain-A images for {len(x)} images")
    if kind == "paired":
        return TensorDataset(a, x, y)
    if kind == "unpaired":
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
        half = len(x) // 2
        i, j = perm[:half], perm[half : 2 * half]
        return TensorDataset(a[i], x[j], y[j])
    raise ValueError(f"kind must be images, paired or unpaired, got {kind!r}")
