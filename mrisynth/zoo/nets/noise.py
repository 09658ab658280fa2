"""Injected noise for stochastic generators (noise outsourcing: G(eta, x) with eta independent of x).

``NoiseConcat`` appends ``channels`` maps of N(0, 1) noise to its input. The noise is drawn from torch's
global generator, so seeding torch (``torch.manual_seed``) before a forward pass fixes the sample; it is
drawn in training AND evaluation mode (it is an input of the generator, not a regulariser). Generators use
it at their input (``noise='channels'``) or in front of every encoder / residual block (``'layers'``, as
BicycleGAN's "add to all" generator, with spatial noise maps instead of a broadcast latent vector).
"""

from __future__ import annotations

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
    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.randn((x.shape[0], self.channels, *x.shape[2:]), device=x.device, dtype=x.dtype)
        return torch.cat([x, z], 1)

    def extra_repr(self) -> str:
        return f"channels={self.channels}"


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
