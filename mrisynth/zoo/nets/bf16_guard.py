"""Run 3D convolutions whose kernel overhangs the volume in fp32 under CPU bf16 autocast.

oneDNN's bf16 channels_last_3d convolution (torch 2.13 CPU) returns a wrong, often NaN or ~1e36,
WEIGHT gradient when the kernel is larger than the input along some axis (Conv3d, e.g. PatchGAN's final
4^3 conv on a 3^3 map) or larger than the output (ConvTranspose3d). The forward pass and the input
gradient are right; fp32 and contiguous bf16 are right. Measured sweep over kernel 1-5, size 1-8,
padding 0-2, stride 1-2: every wrong case satisfies the condition below, so those layers (always the
tiniest, so the cost is nil) run in fp32; all others keep the bf16 fast path.
``tests/zoo/test_bf16_guard.py`` checks the guarded gradients against fp32.
"""

from __future__ import annotations

import types

import torch
from torch import nn

_GUARDED = (nn.Conv3d, nn.ConvTranspose3d)


def kernel_overhangs(conv: nn.Conv3d | nn.ConvTranspose3d, x: torch.Tensor) -> bool:
    """True when the kernel is larger than the input (Conv3d) or the output (ConvTranspose3d) on some axis."""
    sizes = x.shape[-3:]
    if isinstance(conv, nn.ConvTranspose3d):
        sizes = [(s - 1) * st - 2 * p + d * (k - 1) + op + 1
                 for s, st, p, d, k, op in zip(sizes, conv.stride, conv.padding, conv.dilation,
                                               conv.kernel_size, conv.output_padding)]
    return any(s < k for s, k in zip(sizes, conv.kernel_size))


def _guarded_forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    if torch.is_autocast_enabled("cpu") and kernel_overhangs(self, x):
        with torch.autocast("cpu", enabled=False):
            return type(self).forward(self, x.float(), *args, **kwargs)
    return type(self).forward(self, x, *args, **kwargs)


def guard_bf16_convs(net: nn.Module) -> int:
    """Give every Conv3d / ConvTranspose3d of ``net`` the fp32 fallback; returns how many were guarded."""
    n = 0
    for m in net.modules():
        if isinstance(m, _GUARDED) and "forward" not in vars(m):
            m.forward = types.MethodType(_guarded_forward, m)  # deepcopy (EMA) rebinds to the copy
            n += 1
    return n
