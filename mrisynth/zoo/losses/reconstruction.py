"""Reconstruction losses (fp32): L1, L2, and CycleGAN's weighted cycle and identity terms."""

from __future__ import annotations

import torch

Tensor = torch.Tensor


def l1_loss(x: Tensor, y: Tensor) -> Tensor:
    return (x.float() - y.float()).abs().mean()


def l2_loss(x: Tensor, y: Tensor) -> Tensor:
    return ((x.float() - y.float()) ** 2).mean()


def cycle_loss(real: Tensor, reconstructed: Tensor, lam: float = 10.0) -> Tensor:
    """``lam * |F(G(x)) - x|_1`` (Zhu et al. 2017)."""
    return lam * l1_loss(reconstructed, real)


def identity_loss(real: Tensor, mapped: Tensor, lam: float = 5.0) -> Tensor:
    """``lam * |G(y) - y|_1`` for y already in G's target domain (junyanz: 0.5 * lambda_cycle)."""
    return lam * l1_loss(mapped, real)
