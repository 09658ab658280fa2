"""BEGAN (Berthelot et al. 2017): the discriminator is an autoencoder; L(x) = mean |x - D(x)|.

D minimises L(real) - k_t L(fake), G minimises L(fake); after each step
k_{t+1} = clip(k_t + lambda_k (gamma L(real) - L(fake)), 0, 1), and the convergence measure is
M = L(real) + |gamma L(real) - L(fake)|.
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor


def began_recon_error(x: Tensor, reconstruction: Tensor) -> Tensor:
    return (x.float() - reconstruction.float()).abs().mean()


def began_d_loss(l_real: Tensor, l_fake: Tensor, k: float) -> Tensor:
    return l_real - k * l_fake


def began_g_loss(l_fake: Tensor) -> Tensor:
    return l_fake


def began_update_k(k: float, l_real: float, l_fake: float, gamma: float = 0.5, lambda_k: float = 1e-3) -> tuple[float, float]:
    """Returns (k_{t+1}, convergence measure M)."""
    balance = gamma * l_real - l_fake
    return min(max(k + lambda_k * balance, 0.0), 1.0), l_real + abs(balance)
