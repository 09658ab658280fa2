"""junyanz's U-Net generator (skip connections, dropout in the innermost decoder blocks), 2D and 3D,
optionally stochastic: N(0, 1) noise maps concatenated to the input (``noise='channels'``) or in front of
every down convolution (``'layers'``); see :mod:`mrisynth.zoo.nets.noise`."""

from __future__ import annotations

import torch
from torch import nn

from mrisynth.zoo.nets.layers import check_dims, conv, conv_transpose, uses_bias
from mrisynth.zoo.nets.layers import norm as make_norm
from mrisynth.zoo.nets.noise import NoiseConcat, check_noise


class UnetBlock(nn.Module):
    """down (LeakyReLU 0.2, conv k4 s2, norm) -> submodule -> up (ReLU, transposed conv k4 s2, norm),
    output concatenated with the block's input (except the outermost block). ``noise_channels`` > 0:
    that many noise maps are concatenated to the down convolution's input (not to the skip connection)."""

    def __init__(self, d, outer_c, inner_c, in_c=None, sub=None, outermost=False, innermost=False, norm="batch", use_dropout=False,
                 noise_channels=0):
        super().__init__()
        self.outermost = outermost
        bias = uses_bias(norm)
        in_c = outer_c if in_c is None else in_c
        down = [conv(d, in_c + noise_channels, inner_c, 4, stride=2, padding=1, bias=bias)]
        if noise_channels:
            down = [NoiseConcat(noise_channels)] + down
        if outermost:
            up = [nn.ReLU(True), conv_transpose(d, inner_c * 2, outer_c, 4, stride=2, padding=1), nn.Tanh()]
            layers = down + [sub] + up
        elif innermost:
            up = [nn.ReLU(True), conv_transpose(d, inner_c, outer_c, 4, stride=2, padding=1, bias=bias), make_norm(norm, d, outer_c)]
            layers = [nn.LeakyReLU(0.2, True)] + down + up
        else:
            down = [nn.LeakyReLU(0.2, True)] + down + [make_norm(norm, d, inner_c)]
            up = [nn.ReLU(True), conv_transpose(d, inner_c * 2, outer_c, 4, stride=2, padding=1, bias=bias), make_norm(norm, d, outer_c)]
            layers = down + [sub] + up + ([nn.Dropout(0.5)] if use_dropout else [])
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """``num_downs`` stride-2 levels (input sizes must be multiples of ``2**num_downs``); channels
    ngf, 2ngf, 4ngf, then 8ngf for the deeper levels; dropout 0.5 in the decoder of the
    ``max(num_downs - 5, 1)`` blocks around the innermost one (junyanz: num_downs - 5, i.e. 3 for unet_256).
    ``noise``: none (deterministic, junyanz), channels (``noise_channels`` maps at the input) or layers
    (``noise_channels`` maps in front of every down convolution)."""

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        num_downs: int = 4,
        ngf: int = 64,
        norm: str = "batch",
        use_dropout: bool = True,
        spatial_dims: int = 2,
        noise: str = "none",
        noise_channels: int = 1,
    ):
        super().__init__()
        n_noise = check_noise(noise, noise_channels)
        inner_noise = n_noise if noise == "layers" else 0
        if num_downs < 2:
            raise ValueError(f"num_downs must be >= 2, got {num_downs}")
        d = check_dims(spatial_dims)
        width = [ngf * min(2**i, 8) for i in range(num_downs)]  # channels after each down
        n_dropout = max(num_downs - 5, 1) if use_dropout else 0  # junyanz: num_downs - 5 blocks
        block = UnetBlock(d, width[-2], width[-1], innermost=True, norm=norm, noise_channels=inner_noise)
        for i in range(num_downs - 2, 0, -1):
            block = UnetBlock(d, width[i - 1], width[i], sub=block, norm=norm, use_dropout=i > num_downs - 2 - n_dropout,
                              noise_channels=inner_noise)
        self.model = UnetBlock(d, out_channels, ngf, in_c=in_channels, sub=block, outermost=True, norm=norm, noise_channels=n_noise)

    def forward(self, x):
        return self.model(x)
