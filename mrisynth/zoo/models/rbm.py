"""Restricted Boltzmann machine: Bernoulli-Bernoulli or Gaussian-Bernoulli, CD-k or persistent CD.

Energy (Bernoulli visible v, Bernoulli hidden h):  E(v, h) = -a.v - b.h - v W h
Energy (Gaussian visible, fixed std sigma):       E(v, h) = sum_i (v_i - a_i)^2 / (2 sigma_i^2) - b.h - (v / sigma) W h
Free energy F(v) = -log sum_h exp(-E(v, h)); training minimises F(data) - F(negative samples), whose
gradient is the CD-k (negatives from a k-step Gibbs chain started at the data) or PCD (negatives from
persistent chains) estimate of the negative log-likelihood gradient.

``up_scale`` / ``down_scale`` multiply W in p(h|v) / p(v|h); 2 gives the "doubled" RBMs used to pre-train
a DBM (:mod:`mrisynth.zoo.models.dbm`). Likelihoods need log Z: :meth:`RBMNet.log_partition_exact`
(enumerates the hidden states, fine up to ~20 hidden units) or AIS along :meth:`RBMNet.annealing_path`
(:func:`mrisynth.metrics.likelihood.ais_log_partition`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mrisynth.zoo.base import ZooModel
from mrisynth.zoo.models._pixels import from_unit, image_shape_of, split_batch, to_unit
from mrisynth.zoo.registry import register

VISIBLE_TYPES = ("bernoulli", "gaussian")


def all_binary_states(n: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """The 2^n binary vectors of length n, one per row."""
    if n > 24:
        raise ValueError(f"refusing to enumerate 2^{n} states")
    codes = torch.arange(2**n, device=device)
    return ((codes[:, None] >> torch.arange(n, device=device)) & 1).to(dtype)


class RBMNet(nn.Module):
    def __init__(
        self,
        n_visible: int,
        n_hidden: int,
        visible: str = "bernoulli",
        sigma: float = 1.0,
        up_scale: float = 1.0,
        down_scale: float = 1.0,
        init_std: float = 0.01,
    ):
        super().__init__()
        if visible not in VISIBLE_TYPES:
            raise ValueError(f"visible must be one of {VISIBLE_TYPES}, got {visible!r}")
        self.visible = visible
        self.up_scale, self.down_scale = up_scale, down_scale
        self.W = nn.Parameter(torch.randn(n_visible, n_hidden) * init_std)
        self.a = nn.Parameter(torch.zeros(n_visible))
        self.b = nn.Parameter(torch.zeros(n_hidden))
        self.register_buffer("sigma", torch.full((n_visible,), float(sigma)))

    @property
    def n_visible(self) -> int:
        return self.W.shape[0]

    @property
    def n_hidden(self) -> int:
        return self.W.shape[1]

    def _v_in(self, v: torch.Tensor) -> torch.Tensor:
        return v / self.sigma if self.visible == "gaussian" else v

    # ----------------------------------------------------------------- conditionals (beta: AIS temperature)
    def hidden_logits(self, v: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
        return beta * (self.b + self.up_scale * self._v_in(v) @ self.W)

    def hidden_probs(self, v: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
        return torch.sigmoid(self.hidden_logits(v, beta))

    def visible_mean(self, h: torch.Tensor, beta: float = 1.0, base_bias: torch.Tensor | None = None) -> torch.Tensor:
        top_down = self.down_scale * h @ self.W.T
        if self.visible == "gaussian":
            return self.a + beta * self.sigma * top_down
        logits = beta * (self.a + top_down)
        if base_bias is not None:
            logits = logits + (1.0 - beta) * base_bias
        return torch.sigmoid(logits)

    def sample_hidden(self, v, beta: float = 1.0, generator=None) -> torch.Tensor:
        return torch.bernoulli(self.hidden_probs(v, beta), generator=generator)

    def sample_visible(self, h, beta: float = 1.0, base_bias=None, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(sample, mean) of p(v | h)."""
        mean = self.visible_mean(h, beta, base_bias)
        if self.visible == "gaussian":
            noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            return mean + self.sigma * noise, mean
        return torch.bernoulli(mean, generator=generator), mean

    def gibbs(self, v: torch.Tensor, k: int = 1, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
        """k steps v -> h -> v; returns (last visible sample, its mean)."""
        mean = v
        for _ in range(k):
            v, mean = self.sample_visible(self.sample_hidden(v, generator=generator), generator=generator)
        return v, mean

    def random_visible(self, n: int, generator=None) -> torch.Tensor:
        shape = (n, self.n_visible)
        if self.visible == "gaussian":
            return self.a + self.sigma * torch.randn(shape, generator=generator, device=self.W.device, dtype=self.W.dtype)
        return torch.bernoulli(torch.full(shape, 0.5, device=self.W.device, dtype=self.W.dtype), generator=generator)

    # ----------------------------------------------------------------- energies
    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) per row: p(v) = exp(-F(v)) / Z."""
        hidden_term = F.softplus(self.hidden_logits(v)).sum(1)
        if self.visible == "gaussian":
            return ((v - self.a) ** 2 / (2 * self.sigma**2)).sum(1) - hidden_term
        return -(v @ self.a) - hidden_term

    def log_partition_exact(self) -> torch.Tensor:
        """log Z by enumerating the 2^n_hidden hidden states and integrating/summing v analytically."""
        h = all_binary_states(self.n_hidden, self.W.dtype, self.W.device)
        m = self.down_scale * h @ self.W.T  # (2^H, V)
        if self.visible == "gaussian":
            per_h = h @ self.b + (m * self.a / self.sigma).sum(1) + 0.5 * (m**2).sum(1)
            const = 0.5 * self.n_visible * math.log(2 * math.pi) + torch.log(self.sigma).sum()
            return torch.logsumexp(per_h, 0) + const
        return torch.logsumexp(h @ self.b + F.softplus(self.a + m).sum(1), 0)

    def annealing_path(self, base_visible_bias: torch.Tensor | None = None) -> dict:
        """AIS path p_beta(v, h) from independent units (beta=0) to this RBM (beta=1).

        Bernoulli: p_beta ~ exp((1-beta) a0.v + beta (a.v + b.h + v W h)), a0 = ``base_visible_bias``
        (e.g. the data's logit means; zeros by default); Gaussian: the visible Gaussian term is kept and
        the interaction + hidden bias scaled by beta. Returns the keyword arguments of ``ais_log_partition``.
        """
        if self.up_scale != 1.0 or self.down_scale != 1.0:
            raise ValueError("AIS needs a plain RBM (up_scale = down_scale = 1)")
        a0 = torch.zeros_like(self.a) if base_visible_bias is None else base_visible_bias.to(self.a)
        gaussian = self.visible == "gaussian"

        def log_f(v, beta):
            hidden = F.softplus(self.hidden_logits(v, beta)).sum(1)
            if gaussian:
                return -((v - self.a) ** 2 / (2 * self.sigma**2)).sum(1) + hidden
            return v @ ((1 - beta) * a0 + beta * self.a) + hidden

        def transition(v, beta, generator=None):
            h = self.sample_hidden(v, beta, generator)
            return self.sample_visible(h, beta, None if gaussian else a0, generator)[0]

        def init(n, generator=None):
            if gaussian:
                return self.random_visible(n, generator)
            probs = torch.sigmoid(a0).expand(n, -1)
            return torch.bernoulli(probs, generator=generator)

        if gaussian:
            log_z0 = 0.5 * self.n_visible * math.log(2 * math.pi) + float(torch.log(self.sigma).sum())
        else:
            log_z0 = float(F.softplus(a0).sum())
        log_z0 += self.n_hidden * math.log(2.0)
        return {"log_f": log_f, "transition": transition, "init": init, "log_z0": log_z0}


def cd_free_energy_gap(net: RBMNet, v: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
    """Mean F(data) - mean F(negatives): the CD / PCD surrogate loss (negatives carry no gradient)."""
    return net.free_energy(v).mean() - net.free_energy(negatives.detach()).mean()


@register("rbm")
class RBM(ZooModel):
    """An RBM on flattened images; Bernoulli visible units read [-1, 1] images as probabilities in [0, 1]."""

    def __init__(
        self,
        image_shape: tuple[int, ...] = (1, 8, 8),
        image_size: int | None = None,
        n_hidden: int = 64,
        visible: str = "bernoulli",
        sigma: float = 1.0,
        k: int = 1,
        persistent: bool = False,
        n_chains: int = 100,
        lr: float = 0.05,
        momentum: float = 0.5,
        weight_decay: float = 1e-4,
        sample_steps: int = 1000,
        seed: int | None = None,
    ):
        super().__init__(seed=seed)
        self.image_shape = image_shape_of(image_shape, image_size)
        self.k, self.persistent, self.sample_steps = k, persistent, sample_steps
        net = RBMNet(math.prod(self.image_shape), n_hidden, visible, sigma)
        if persistent:
            net.register_buffer("chains", net.random_visible(n_chains))
        self.nets["rbm"] = net
        self.optimizers["rbm"] = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)

    @property
    def net(self) -> RBMNet:
        return self.nets["rbm"]

    def visible_data(self, x: torch.Tensor) -> torch.Tensor:
        return to_unit(x) if self.net.visible == "bernoulli" else x.flatten(1).float()

    def to_images(self, v: torch.Tensor) -> torch.Tensor:
        return from_unit(v, self.image_shape) if self.net.visible == "bernoulli" else v.reshape(len(v), *self.image_shape)

    def train_step(self, batch) -> dict[str, float]:
        x, _ = split_batch(self.prepare(batch))
        self.train()
        return self.optimize("rbm", self.loss, self.visible_data(x))

    def loss(self, v: torch.Tensor):
        net = self.net
        with torch.no_grad():
            negatives, _ = net.gibbs(net.chains if self.persistent else v, self.k)
            if self.persistent:
                net.chains.copy_(negatives)
        gap = cd_free_energy_gap(net, v, negatives)
        return gap, {"free_energy_gap": gap.detach(), "recon_mse": self.reconstruction_mse(v)}

    @torch.no_grad()
    def reconstruction_mse(self, v: torch.Tensor) -> torch.Tensor:
        """Mean squared error of the one-step mean-field reconstruction v -> p(h|v) -> E[v|h]."""
        return ((self.net.visible_mean(self.net.hidden_probs(v)) - v) ** 2).mean()

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, steps: int | None = None) -> torch.Tensor:
        """Gibbs chains from random visibles, ``steps`` (default ``sample_steps``) steps; the last means."""
        v = self.net.random_visible(n, generator)
        _, mean = self.net.gibbs(v, steps or self.sample_steps, generator)
        return self.to_images(mean)
