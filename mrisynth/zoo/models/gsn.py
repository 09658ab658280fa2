"""Generative stochastic network (Bengio, Thibodeau-Laufer, Alain & Yosinski 2014; Alain et al. 2016).

A DAE with a latent state carried along the chain: h_t = tanh(W_x C(x_{t-1}) + W_h h_{t-1} + b + pre-noise)
+ post-noise, P(X_t | h_t) = Bernoulli(sigmoid(W_d h_t + c)), x_t ~ P(X_t | h_t). Walkback training
unrolls ``walkback`` steps from each training example and makes every P(X_t | h_t) reconstruct that
example (mean binary cross-entropy per pixel over the steps: the criterion reported as its test loss).
Sampling runs the same chain from noise. GSNs have no tractable likelihood: the usual number is a
Parzen-window estimate from samples (:func:`mrisynth.metrics.likelihood.parzen_log_likelihood`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mrisynth.zoo.base import ZooModel
from mrisynth.zoo.models._pixels import from_unit, image_shape_of, split_batch, to_unit
from mrisynth.zoo.models.dae import CORRUPTIONS, corrupt
from mrisynth.zoo.registry import register


class GSNNet(nn.Module):
    def __init__(self, n_visible: int, n_hidden: int):
        super().__init__()
        self.inp = nn.Linear(n_visible, n_hidden)
        self.rec = nn.Linear(n_hidden, n_hidden, bias=False)
        self.out = nn.Linear(n_hidden, n_visible)

    def step(self, x_tilde, h, pre_noise: float, post_noise: float, generator=None):
        """One transition of the latent state; returns (new h, logits of P(X | h))."""
        pre = self.inp(x_tilde) + self.rec(h)
        pre = pre + pre_noise * torch.randn(pre.shape, generator=generator, dtype=pre.dtype, device=pre.device)
        h = torch.tanh(pre)
        h = h + post_noise * torch.randn(h.shape, generator=generator, dtype=h.dtype, device=h.device)
        return h, self.out(h)


@register("gsn")
class GSN(ZooModel):
    def __init__(
        self,
        image_shape: tuple[int, ...] = (1, 8, 8),
        image_size: int | None = None,
        n_hidden: int = 256,
        corruption: str = "salt_pepper",
        noise: float = 0.3,
        pre_noise: float = 1.0,
        post_noise: float = 0.5,
        walkback: int = 4,
        lr: float = 1e-3,
        sample_steps: int = 100,
        seed: int | None = None,
    ):
        super().__init__(seed=seed)
        if corruption not in CORRUPTIONS:
            raise ValueError(f"corruption must be one of {CORRUPTIONS}, got {corruption!r}")
        self.image_shape = image_shape_of(image_shape, image_size)
        self.corruption, self.noise, self.pre_noise, self.post_noise = corruption, noise, pre_noise, post_noise
        self.walkback, self.sample_steps, self.n_hidden = walkback, sample_steps, n_hidden
        self.nets["gsn"] = GSNNet(math.prod(self.image_shape), n_hidden)
        self.optimizers["gsn"] = torch.optim.Adam(self.nets["gsn"].parameters(), lr=lr)

    def _transition(self, x, h, generator=None):
        return self.nets["gsn"].step(corrupt(x, self.corruption, self.noise, generator), h, self.pre_noise, self.post_noise, generator)

    def train_step(self, batch) -> dict[str, float]:
        x, _ = split_batch(self.prepare(batch))
        self.train()
        return self.optimize("gsn", self.walkback_loss, to_unit(x))

    def walkback_loss(self, v: torch.Tensor, generator=None):
        x, h, total = v, v.new_zeros(len(v), self.n_hidden), 0.0
        for _ in range(self.walkback):
            h, logits = self._transition(x, h, generator)
            total = total + F.binary_cross_entropy_with_logits(logits, v)
            x = torch.bernoulli(torch.sigmoid(logits.detach()), generator=generator)
        total = total / self.walkback
        return total, {"walkback_bce": total.detach()}

    @torch.no_grad()
    def test_loss(self, x: torch.Tensor, generator=None) -> float:
        return float(self.walkback_loss(to_unit(x), generator)[0])

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, steps: int | None = None) -> torch.Tensor:
        """The chain from uniform binary noise and h = 0; the last P(X | h) means."""
        x = torch.bernoulli(torch.full((n, math.prod(self.image_shape)), 0.5, device=self.device), generator=generator)
        h = x.new_zeros(n, self.n_hidden)
        for _ in range(steps or self.sample_steps):
            h, logits = self._transition(x, h, generator)
            probs = torch.sigmoid(logits)
            x = torch.bernoulli(probs, generator=generator)
        return from_unit(probs, self.image_shape)
