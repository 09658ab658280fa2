"""Adversarial objectives as pure functions of the discriminator's raw outputs (logits / critic values).

Every function returns the quantity each player MINIMISES, averaged over all elements (so PatchGAN
maps work too), computed in fp32 even under autocast. No sigmoid lives in the discriminators.

=================  ========================================  =============================
name               discriminator                              generator
=================  ========================================  =============================
minimax            -log s(r) - log(1 - s(f))                  log(1 - s(f))  (saturating)
non_saturating     same as minimax                            -log s(f)
least_squares      ((r - 1)^2 + f^2) / 2                      (f - 1)^2 / 2   (no activation)
wasserstein        f - r                                      -f
hinge              max(0, 1 - r) + max(0, 1 + f)              -f
=================  ========================================  =============================
(s = sigmoid, r = D(real), f = D(fake); log s(x) = -softplus(-x), log(1 - s(x)) = -softplus(x).)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def minimax_d(real: Tensor, fake: Tensor) -> Tensor:
    return F.softplus(-real.float()).mean() + F.softplus(fake.float()).mean()


def minimax_g(fake: Tensor) -> Tensor:
    return -F.softplus(fake.float()).mean()


def non_saturating_g(fake: Tensor) -> Tensor:
    return F.softplus(-fake.float()).mean()


def least_squares_d(real: Tensor, fake: Tensor) -> Tensor:
    return 0.5 * ((real.float() - 1) ** 2).mean() + 0.5 * (fake.float() ** 2).mean()


def least_squares_g(fake: Tensor) -> Tensor:
    return 0.5 * ((fake.float() - 1) ** 2).mean()


def wasserstein_d(real: Tensor, fake: Tensor) -> Tensor:
    return fake.float().mean() - real.float().mean()


def wasserstein_g(fake: Tensor) -> Tensor:
    return -fake.float().mean()


def hinge_d(real: Tensor, fake: Tensor) -> Tensor:
    return F.relu(1 - real.float()).mean() + F.relu(1 + fake.float()).mean()


ADVERSARIAL = {
    "minimax": (minimax_d, minimax_g),
    "non_saturating": (minimax_d, non_saturating_g),
    "least_squares": (least_squares_d, least_squares_g),
    "wasserstein": (wasserstein_d, wasserstein_g),
    "hinge": (hinge_d, wasserstein_g),
}


def _pair(name: str):
    if name not in ADVERSARIAL:
        raise ValueError(f"unknown adversarial loss {name!r}; one of {sorted(ADVERSARIAL)}")
    return ADVERSARIAL[name]


def discriminator_loss(name: str, real: Tensor, fake: Tensor) -> Tensor:
    return _pair(name)[0](real, fake)


def generator_loss(name: str, fake: Tensor) -> Tensor:
    return _pair(name)[1](fake)
