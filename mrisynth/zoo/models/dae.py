"""Denoising autoencoder (Vincent et al. 2008) and its generative Markov chain (Bengio et al. 2013).

Corrupt x~ ~ C(x~ | x) (masking, Gaussian or salt-and-pepper noise), encode h = sigmoid(W x~ + b),
decode r = sigmoid(W' h + b'), minimise L(x, r) (squared error as in the seed, or cross-entropy). Read
as P(X | x~) = Bernoulli(r), the DAE defines the chain x_t -> x~_t ~ C(. | x_t) -> x_{t+1} ~ P(X | x~_t)
whose stationary distribution estimates the data distribution (Bengio, Yao, Alain & Vincent 2013).
``walkback`` > 1 trains on the chain's own later states as well (their walkback procedure): every
reconstruction along the chain started at x must reconstruct x, which removes spurious modes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mrisynth.zoo.base import ZooModel
from mrisynth.zoo.models._pixels import from_unit, image_shape_of, split_batch, to_unit
from mrisynth.zoo.registry import register

CORRUPTIONS = ("masking", "gaussian", "salt_pepper")


def corrupt(x: torch.Tensor, kind: str, level: float, generator=None) -> torch.Tensor:
    """C(x~ | x) for x in [0, 1]: ``masking`` zeroes each value with probability ``level``; ``gaussian``
    adds N(0, level^2); ``salt_pepper`` sets each value with probability ``level`` to 0 or 1 (equally)."""
    if kind == "gaussian":
        return x + level * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    if kind == "masking":
        return x * (u >= level)
    if kind == "salt_pepper":
        salt = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) < 0.5
        return torch.where(u < level, salt.to(x.dtype), x)
    raise ValueError(f"corruption must be one of {CORRUPTIONS}, got {kind!r}")


def reconstruction_loss(logits: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean per pixel: ``mse`` of sigmoid(logits) (the seed's criterion) or binary cross-entropy ``bce``."""
    if kind == "mse":
        return F.mse_loss(torch.sigmoid(logits), target)
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, target)
    raise ValueError(f"loss must be 'mse' or 'bce', got {kind!r}")


class DAENet(nn.Module):
    def __init__(self, n_visible: int, n_hidden: int):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(n_visible, n_hidden), nn.Sigmoid())
        self.decoder = nn.Linear(n_hidden, n_visible)  # logits of P(X | x~)

    def forward(self, x_tilde: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x_tilde))


@register("dae")
class DAE(ZooModel):
    def __init__(
        self,
        image_shape: tuple[int, ...] = (1, 8, 8),
        image_size: int | None = None,
        n_hidden: int = 256,
        corruption: str = "salt_pepper",
        noise: float = 0.3,
        loss: str = "mse",
        walkback: int = 1,
        lr: float = 1e-3,
        sample_steps: int = 100,
        seed: int | None = None,
    ):
        super().__init__(seed=seed)
        if corruption not in CORRUPTIONS:
            raise ValueError(f"corruption must be one of {CORRUPTIONS}, got {corruption!r}")
        self.image_shape = image_shape_of(image_shape, image_size)
        self.corruption, self.noise, self.loss_kind = corruption, noise, loss
        self.walkback, self.sample_steps = walkback, sample_steps
        self.nets["dae"] = DAENet(math.prod(self.image_shape), n_hidden)
        self.optimizers["dae"] = torch.optim.Adam(self.nets["dae"].parameters(), lr=lr)

    def train_step(self, batch) -> dict[str, float]:
        x, _ = split_batch(self.prepare(batch))
        self.train()
        return self.optimize("dae", self.loss, to_unit(x))

    def loss(self, v: torch.Tensor, generator=None):
        """Mean reconstruction loss over ``walkback`` chain steps started at the data."""
        net, total, state = self.nets["dae"], 0.0, v
        for _ in range(self.walkback):
            logits = net(corrupt(state, self.corruption, self.noise, generator))
            total = total + reconstruction_loss(logits, v, self.loss_kind)
            with torch.no_grad():
                state = torch.bernoulli(torch.sigmoid(logits), generator=generator)
        total = total / self.walkback
        return total, {f"{self.loss_kind}": total.detach()}

    @torch.no_grad()
    def test_loss(self, x: torch.Tensor, generator=None) -> float:
        """The training criterion (one corruption, no walkback) on held-out images."""
        v = to_unit(x)
        return float(reconstruction_loss(self.nets["dae"](corrupt(v, self.corruption, self.noise, generator)), v, self.loss_kind))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, steps: int | None = None) -> torch.Tensor:
        """The corrupt-reconstruct-sample chain from uniform noise; returns the last reconstruction means."""
        net = self.nets["dae"]
        x = torch.bernoulli(torch.full((n, net.decoder.out_features), 0.5, device=self.device), generator=generator)
        for _ in range(steps or self.sample_steps):
            probs = torch.sigmoid(net(corrupt(x, self.corruption, self.noise, generator)))
            x = torch.bernoulli(probs, generator=generator)
        return from_unit(probs, self.image_shape)
