"""Deep Boltzmann machine with two hidden layers (Salakhutdinov & Hinton 2009).

E(v, h1, h2) = -a.v - b1.h1 - b2.h2 - v W h1 - h1 U h2   (all units binary)

Training:
1. greedy pre-training with doubled weights: RBM 1 (v-h1) uses 2W bottom-up (its visible layer counts
   twice), RBM 2 (h1-h2) uses 2U top-down (its hidden layer counts twice); each for ``pretrain_steps``
   trainer steps. This compensates for h1 receiving input from both v and h2 once the two are joined.
2. joint training: the data term from mean-field inference q(h1) q(h2) (``mean_field_steps`` fixed-point
   iterations), the model term from persistent Gibbs chains (``n_chains`` chains, ``gibbs_steps`` sweeps
   per update). The loss E(v, mu1, mu2) - E(chains) has the stochastic-approximation gradient.

Log Z: exact by enumerating h1 (v and h2 are conditionally independent given h1) when h1 is small, else
AIS on (v, h2) with h1 summed out (:meth:`DBMNet.annealing_path`); the log-likelihood lower bound is in
:func:`mrisynth.metrics.likelihood.dbm_log_likelihood_lower_bound`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mrisynth.zoo.base import ZooModel
from mrisynth.zoo.models._pixels import from_unit, image_shape_of, split_batch, to_unit
from mrisynth.zoo.models.rbm import RBMNet, all_binary_states, cd_free_energy_gap
from mrisynth.zoo.registry import register


class DBMNet(nn.Module):
    def __init__(self, n_visible: int, n_hidden1: int, n_hidden2: int, n_chains: int = 100, init_std: float = 0.01):
        super().__init__()
        self.W = nn.Parameter(torch.randn(n_visible, n_hidden1) * init_std)
        self.U = nn.Parameter(torch.randn(n_hidden1, n_hidden2) * init_std)
        self.a = nn.Parameter(torch.zeros(n_visible))
        self.b1 = nn.Parameter(torch.zeros(n_hidden1))
        self.b2 = nn.Parameter(torch.zeros(n_hidden2))
        half = torch.full((n_chains, 1), 0.5)
        for name, size in (("chain_v", n_visible), ("chain_h1", n_hidden1), ("chain_h2", n_hidden2)):
            self.register_buffer(name, torch.bernoulli(half.expand(-1, size)))

    @property
    def sizes(self) -> tuple[int, int, int]:
        return self.W.shape[0], self.W.shape[1], self.U.shape[1]

    # ----------------------------------------------------------------- conditionals
    def h1_probs(self, v, h2, beta: float = 1.0):
        return torch.sigmoid(beta * (self.b1 + v @ self.W + h2 @ self.U.T))

    def v_probs(self, h1, beta: float = 1.0, base_bias=None):
        logits = beta * (self.a + h1 @ self.W.T)
        return torch.sigmoid(logits if base_bias is None else logits + (1 - beta) * base_bias)

    def h2_probs(self, h1, beta: float = 1.0):
        return torch.sigmoid(beta * (self.b2 + h1 @ self.U))

    def energy(self, v, h1, h2) -> torch.Tensor:
        return -(v @ self.a + h1 @ self.b1 + h2 @ self.b2 + ((v @ self.W) * h1).sum(1) + ((h1 @ self.U) * h2).sum(1))

    def mean_field(self, v, steps: int = 10):
        """Fixed-point mean-field q(h1) q(h2), started from the doubled bottom-up recognition pass."""
        mu1 = torch.sigmoid(self.b1 + 2 * v @ self.W)
        mu2 = self.h2_probs(mu1)
        for _ in range(steps):
            mu1 = self.h1_probs(v, mu2)
            mu2 = self.h2_probs(mu1)
        return mu1, mu2

    def gibbs(self, v, h2, steps: int = 1, generator=None):
        """``steps`` sweeps: h1 | v, h2, then (v, h2) | h1. Returns v, h1, h2 samples and the mean of v."""
        for _ in range(steps):
            h1 = torch.bernoulli(self.h1_probs(v, h2), generator=generator)
            v_mean = self.v_probs(h1)
            v = torch.bernoulli(v_mean, generator=generator)
            h2 = torch.bernoulli(self.h2_probs(h1), generator=generator)
        return v, h1, h2, v_mean

    # ----------------------------------------------------------------- partition function
    def log_partition_exact(self) -> torch.Tensor:
        """log Z by enumerating h1 (2^n_hidden1 states); v and h2 are summed analytically."""
        h1 = all_binary_states(self.sizes[1], self.W.dtype, self.W.device)
        return torch.logsumexp(h1 @ self.b1 + F.softplus(self.a + h1 @ self.W.T).sum(1) + F.softplus(self.b2 + h1 @ self.U).sum(1), 0)

    def log_prob_exact(self, v) -> torch.Tensor:
        """Exact log p(v) per row by enumerating h1 (small h1 only; for tests)."""
        h1 = all_binary_states(self.sizes[1], self.W.dtype, self.W.device)
        per = (v @ self.a)[:, None] + (h1 @ self.b1)[None] + v @ self.W @ h1.T + F.softplus(self.b2 + h1 @ self.U).sum(1)[None]
        return torch.logsumexp(per, 1) - self.log_partition_exact()

    def annealing_path(self, base_visible_bias: torch.Tensor | None = None) -> dict:
        """AIS on x = (v, h2) with h1 summed out: log f_beta = (1-beta) a0.v + beta (a.v + b2.h2)
        + sum_j softplus(beta (b1 + v W + U h2)_j); beta = 0 is independent units (v ~ sigmoid(a0))."""
        n_v, n_h1, n_h2 = self.sizes
        a0 = torch.zeros_like(self.a) if base_visible_bias is None else base_visible_bias.to(self.a)

        def log_f(x, beta):
            v, h2 = x[:, :n_v], x[:, n_v:]
            act = beta * (self.b1 + v @ self.W + h2 @ self.U.T)
            return v @ ((1 - beta) * a0 + beta * self.a) + beta * (h2 @ self.b2) + F.softplus(act).sum(1)

        def transition(x, beta, generator=None):
            v, h2 = x[:, :n_v], x[:, n_v:]
            h1 = torch.bernoulli(self.h1_probs(v, h2, beta), generator=generator)
            v = torch.bernoulli(self.v_probs(h1, beta, a0), generator=generator)
            h2 = torch.bernoulli(self.h2_probs(h1, beta), generator=generator)
            return torch.cat([v, h2], 1)

        def init(n, generator=None):
            v = torch.bernoulli(torch.sigmoid(a0).expand(n, -1), generator=generator)
            h2 = torch.bernoulli(torch.full((n, n_h2), 0.5, dtype=v.dtype, device=v.device), generator=generator)
            return torch.cat([v, h2], 1)

        log_z0 = float(F.softplus(a0).sum()) + (n_h1 + n_h2) * math.log(2.0)
        return {"log_f": log_f, "transition": transition, "init": init, "log_z0": log_z0}


@register("dbm")
class DBM(ZooModel):
    def __init__(
        self,
        image_shape: tuple[int, ...] = (1, 8, 8),
        image_size: int | None = None,
        hidden: tuple[int, int] = (64, 64),
        pretrain_steps: int = 500,
        k: int = 1,
        n_chains: int = 100,
        mean_field_steps: int = 10,
        gibbs_steps: int = 1,
        lr: float = 0.05,
        joint_lr: float = 0.01,
        momentum: float = 0.5,
        weight_decay: float = 1e-4,
        sample_steps: int = 1000,
        seed: int | None = None,
    ):
        super().__init__(seed=seed)
        self.image_shape = image_shape_of(image_shape, image_size)
        n_v, (n_h1, n_h2) = math.prod(self.image_shape), hidden
        self.pretrain_steps, self.k = pretrain_steps, k
        self.mean_field_steps, self.gibbs_steps, self.sample_steps = mean_field_steps, gibbs_steps, sample_steps
        self.nets["rbm1"] = RBMNet(n_v, n_h1, up_scale=2.0)
        self.nets["rbm2"] = RBMNet(n_h1, n_h2, down_scale=2.0)
        self.nets["dbm"] = DBMNet(n_v, n_h1, n_h2, n_chains)
        for name in self.nets:
            rate = joint_lr if name == "dbm" else lr
            self.optimizers[name] = torch.optim.SGD(self.nets[name].parameters(), lr=rate, momentum=momentum, weight_decay=weight_decay)

    @property
    def net(self) -> DBMNet:
        return self.nets["dbm"]

    def phase(self) -> str:
        if self.iteration < self.pretrain_steps:
            return "rbm1"
        if self.iteration < 2 * self.pretrain_steps:
            return "rbm2"
        return "dbm"

    def train_step(self, batch) -> dict[str, float]:
        x, _ = split_batch(self.prepare(batch))
        self.train()
        v = to_unit(x)
        phase = self.phase()
        if phase == "rbm1":
            return {"phase": 1.0, **self.optimize("rbm1", lambda d: self._pretrain_loss(self.nets["rbm1"], d), v)}
        if phase == "rbm2":
            with torch.no_grad():
                h1 = self.nets["rbm1"].hidden_probs(v)
            return {"phase": 2.0, **self.optimize("rbm2", lambda d: self._pretrain_loss(self.nets["rbm2"], d), h1)}
        if self.iteration == 2 * self.pretrain_steps:
            self.join_pretrained()
        return {"phase": 3.0, **self.optimize("dbm", self._joint_loss, v)}

    def _pretrain_loss(self, rbm: RBMNet, v):
        with torch.no_grad():
            negatives, _ = rbm.gibbs(v, self.k)
        gap = cd_free_energy_gap(rbm, v, negatives)
        return gap, {"free_energy_gap": gap.detach()}

    @torch.no_grad()
    def join_pretrained(self) -> None:
        """Compose the DBM from the doubled RBMs; h1's bias is the mean of its two RBM biases."""
        r1, r2, net = self.nets["rbm1"], self.nets["rbm2"], self.net
        net.W.copy_(r1.W)
        net.U.copy_(r2.W)
        net.a.copy_(r1.a)
        net.b1.copy_((r1.b + r2.a) / 2)
        net.b2.copy_(r2.b)

    def _joint_loss(self, v):
        net = self.net
        with torch.no_grad():
            mu1, mu2 = net.mean_field(v, self.mean_field_steps)
            cv, ch1, ch2, _ = net.gibbs(net.chain_v, net.chain_h2, self.gibbs_steps)
            net.chain_v.copy_(cv), net.chain_h1.copy_(ch1), net.chain_h2.copy_(ch2)
        loss = net.energy(v, mu1, mu2).mean() - net.energy(cv, ch1, ch2).mean()
        return loss, {"energy_gap": loss.detach()}

    @torch.no_grad()
    def reconstruction_mse(self, x: torch.Tensor) -> float:
        """MSE (in [0, 1] pixel units) of v -> mean-field h1 -> E[v | h1]."""
        v = to_unit(x)
        mu1, _ = self.net.mean_field(v, self.mean_field_steps)
        return float(((self.net.v_probs(mu1) - v) ** 2).mean())

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, steps: int | None = None) -> torch.Tensor:
        """Fresh Gibbs chains from random states, ``steps`` sweeps; the last p(v | h1) means."""
        n_v, _, n_h2 = self.net.sizes
        half = torch.full((n, n_v + n_h2), 0.5, device=self.net.W.device)
        start = torch.bernoulli(half, generator=generator)
        *_, v_mean = self.net.gibbs(start[:, :n_v], start[:, n_v:], steps or self.sample_steps, generator)
        return from_unit(v_mean, self.image_shape)
