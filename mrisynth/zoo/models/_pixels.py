"""Conversions between the zoo's image range and what the likelihood models work on.

Zoo images live in [-1, 1] (see :mod:`mrisynth.zoo.base`). Bernoulli models (RBM, DBN, DBM, DAE, GSN,
Bernoulli VAE) read them as pixel probabilities in [0, 1] (binarised data: exactly 0 or 1), flattened
to vectors; autoregressive models read them as integer levels 0..L-1.
"""

from __future__ import annotations

import torch


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] images (N, C, H, W) -> [0, 1] vectors (N, C*H*W)."""
    return ((x.flatten(1).float() + 1.0) / 2.0).clamp(0.0, 1.0)


def from_unit(v: torch.Tensor, image_shape: tuple[int, ...]) -> torch.Tensor:
    """[0, 1] vectors -> [-1, 1] images of ``image_shape`` (C, H, W)."""
    return (v * 2.0 - 1.0).reshape(len(v), *image_shape)


def to_levels(x: torch.Tensor, n_levels: int) -> torch.Tensor:
    """[-1, 1] images -> integer levels 0..n_levels-1 (long), same shape."""
    return torch.round((x.float() + 1.0) / 2.0 * (n_levels - 1)).clamp(0, n_levels - 1).long()


def from_levels(levels: torch.Tensor, n_levels: int) -> torch.Tensor:
    return levels.float() / (n_levels - 1) * 2.0 - 1.0


def split_batch(batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(images,) or (images, labels, ...) -> images, labels-or-None."""
    return batch[0], (batch[1] if len(batch) > 1 else None)


def image_shape_of(image_shape: tuple[int, ...], image_size: int | None) -> tuple[int, ...]:
    """``image_size`` (the GAN family's square one-channel convention) overrides ``image_shape``."""
    return (1, image_size, image_size) if image_size else tuple(image_shape)
