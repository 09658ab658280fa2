"""junyanz's U-Net generator (skip connections, dropout in the innermost decoder blocks), 2D and 3D."""

from __future__ import annotations

import torch
from torch import nn

from mrisynth.zoo.nets.layers import check_dims, conv, conv_transpose, uses_bias
from mrisynth.zoo.nets.layers import norm as make_norm


class UnetBlock(nn.Module):
    """down (LeakyReLU 0.2, conv k4 s2, norm) -> submodule -> up (ReLU, transposed conv k4 s2, norm),
    output concatenated with the block's input (except the outermost block)."""

    def __init__(self, d, outer_c, inner_c, in_c=None, sub=None, outermost=False, innermost=False, norm="batch", use_dropout=False):
        super().__init__()
        self.outermost = outermost
        bias = uses_bias(norm)
        in_c = outer_c if in_c is None else in_c
        down = [conv(d, in_c, inner_c, 4, stride=2, padding=1, bias=bias)]
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
    ``max(num_downs - 5, 1)`` blocks around the innermost one (junyanz: num_downs - 5, i.e. 3 for unet_256)."""

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        num_downs: int = 4,
        ngf: int = 64,
        norm: str = "batch",
        use_dropout: bool = True,
        spatial_dims: int = 2,
    ):
        super().__init__()
        if num_downs < 2:
            raise ValueError(f"num_downs must be >= 2, got {num_downs}")
        d = check_dims(spatial_dims)
        width = [ngf * min(2**i, 8) for i in range(num_downs)]  # channels after each down
        n_dropout = max(num_downs - 5, 1) if use_dropout else 0  # junyanz: num_downs - 5 blocks
        block = UnetBlock(d, width[-2], width[-1], innermost=True, norm=norm)
        for i in range(num_downs - 2, 0, -1):
            block = UnetBlock(d, width[i - 1], width[i], sub=block, norm=norm, use_dropout=i > num_downs - 2 - n_dropout)
        self.model = UnetBlock(d, out_channels, ngf, in_c=in_channels, sub=block, outermost=True, norm=norm)

    def forward(self, x):
        return self.model(x)
