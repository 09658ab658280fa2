"""Injected noise for stochastic generators (noise outsourcing: G(eta, x) with eta independent of x).

``NoiseConcat`` appends ``channels`` maps of N(0, 1) noise to its input. The noise is drawn from torch's
global generator, so seeding torch (``torch.manual_seed``) before a forward pass fixes the sample; it is
drawn in training AND evaluation mode (it is an input of the generator, not a regulariser). Generators use
it at their input (``noise='channels'``) or in front of every encoder / residual block (``'layers'``, as
BicycleGAN's "add to all" generator, with spatial noise maps instead of a broadcast latent vector).

``MeanPlusOddNoise`` keeps the mean and the randomness in two networks: y = M(x) + (S(x, eta) - S(x, -eta)) / 2
with a deterministic M and a noise-injecting S. The second term is odd in eta, so for symmetric noise its
expectation is exactly 0: every draw scatters around M(x), and learning the spread cannot move the mean
(in a single noise-injecting generator the two are entangled). S sees the same eta with both signs: its
batch is doubled and its ``NoiseConcat`` layers (``antithetic``) draw noise for the first half and negate
it for the second, so S runs once per draw (per-sample norms only: instance, not batch norm). Its ``sign``
(``antithetic_partner``) gives the draw with -eta: a seeded draw and its partner average to M(x) exactly, so
K draws taken in such pairs have the mean of M(x) without Monte Carlo noise (antithetic variates).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

NOISE_MODES = ("none", "channels", "layers")


def check_noise(mode: str, channels: int) -> int:
    """Noise channels per injection point (0 for ``mode='none'``); ValueError on bad settings."""
    if mode not in NOISE_MODES:
        raise ValueError(f"noise must be one of {NOISE_MODES}, got {mode!r}")
    if mode != "none" and int(channels) < 1:
        raise ValueError(f"noise={mode!r} needs noise_channels >= 1, got {channels}")
    return 0 if mode == "none" else int(channels)


class NoiseConcat(nn.Module):
    """``antithetic``: the batch is two halves (same inputs); the second half gets the first half's noise negated."""

    def __init__(self, channels: int, antithetic: bool = False):
        super().__init__()
        self.channels, self.antithetic = channels, antithetic

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0] // 2 if self.antithetic else x.shape[0]
        z = torch.randn((n, self.channels, *x.shape[2:]), device=x.device, dtype=x.dtype)
        if self.antithetic:
            if x.shape[0] % 2:
                raise ValueError(f"antithetic noise needs an even batch (two halves), got {x.shape[0]}")
            z = torch.cat([z, -z])
        return torch.cat([x, z], 1)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, antithetic={self.antithetic}"


class MeanPlusOddNoise(nn.Module):
    """y = mean_net(x) + (noise_net(x, eta) - noise_net(x, -eta)) / 2 (module docstring): E_eta[y] = mean_net(x)."""

    def __init__(self, mean_net: nn.Module, noise_net: nn.Module):
        super().__init__()
        if is_stochastic(mean_net) or not is_stochastic(noise_net):
            raise ValueError("MeanPlusOddNoise needs a deterministic mean_net and a noise-injecting noise_net")
        for m in noise_net.modules():
            if isinstance(m, NoiseConcat):
                m.antithetic = True
        self.mean_net, self.noise_net = mean_net, noise_net
        self.sign = 1.0  # -1: the antithetic partner of the draw with the same torch seed

    def odd(self, x: torch.Tensor) -> torch.Tensor:
        """The zero-mean term (S(x, eta) - S(x, -eta)) / 2 of one draw."""
        plus, minus = self.noise_net(torch.cat([x, x])).chunk(2)
        return (0.5 * self.sign) * (plus - minus)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mean_net(x) + self.odd(x)


def has_antithetic_pairs(net: nn.Module) -> bool:
    return any(isinstance(m, MeanPlusOddNoise) for m in net.modules())


@contextmanager
def antithetic_partner(net: nn.Module, partner: bool = True):
    """Within the block, ``net``'s MeanPlusOddNoise modules return the partner draw (-eta) of each seeded draw."""
    mods = [m for m in net.modules() if isinstance(m, MeanPlusOddNoise)]
    for m in mods:
        m.sign = -1.0 if partner else 1.0
    try:
        yield net
    finally:
        for m in mods:
            m.sign = 1.0


@contextmanager
def seeded_draw(net: nn.Module, k: int, seed_of=lambda j: j, antithetic: bool = True):
    """Seed torch for draw ``k`` of ``net`` (run its forward inside the block). With antithetic pairs
    (``MeanPlusOddNoise``, unless ``antithetic`` is off) draws 2j and 2j + 1 share the seed ``seed_of(j)`` and the
    odd one is the partner (-eta), so each pair averages to the mean network's output; otherwise draw k is
    seeded ``seed_of(k)``."""
    pairs = antithetic and has_antithetic_pairs(net)
    torch.manual_seed(seed_of(k // 2 if pairs else k))
    with antithetic_partner(net, pairs and k % 2 == 1):
        yield net


def is_stochastic(net: nn.Module) -> bool:
    """Whether ``net`` injects noise (its forward differs between calls with different torch seeds)."""
    return any(isinstance(m, NoiseConcat) for m in net.modules())


def has_dropout(net: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.dropout._DropoutNd) for m in net.modules())


def enable_dropout(net: nn.Module) -> nn.Module:
    """Test-time (Monte Carlo) dropout: dropout layers sample, everything else stays as it is."""
    for m in net.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.train()
    return net
