"""junyanz's ResNet generator (c7s1-ngf, two stride-2 downs, n residual blocks, two ups, c7s1-out, tanh)
for 2D and 3D, with the few-output-channel 7^k output convolution computed as a "slab" (exact rewrite).
Optionally stochastic: N(0, 1) noise maps concatenated to the input (``noise='channels'``) or also in
front of every residual block (``'layers'``); see :mod:`mrisynth.zoo.nets.noise`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mrisynth.zoo.nets.layers import check_dims, conv, conv_transpose, reflection_pad, uses_bias
from mrisynth.zoo.nets.layers import norm as make_norm
from mrisynth.zoo.nets.noise import NoiseConcat, check_noise


class SlabConv(nn.Module):
    """Exact drop-in for ``nn.Conv{2,3}d(cin, cout, k)`` (stride 1, no padding) for small ``cout``.

    oneDNN runs a conv with one output channel and a 7^3 kernel at ~6% of peak (notes/performance-
    baseline.md, section 3). The same sum is a conv with ``k * cout`` output channels and kernel
    ``(1, k, k)`` (a conv over all but the first spatial axis) followed by a shifted sum over the ``k``
    offsets of that axis: 4.5x faster in fp32 for the ResNet generator's output layer, same result to
    float rounding. The weight keeps nn.Conv's shape ``(cout, cin, k, ..., k)`` so state dicts and
    ``init_weights`` treat it as a conv.
    """

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True):
        super().__init__()
        self.spatial_dims = check_dims(spatial_dims)
        self.k = kernel_size
        reference = conv(spatial_dims, in_channels, out_channels, kernel_size, bias=bias)
        self.weight = nn.Parameter(reference.weight.detach().clone())
        self.bias = nn.Parameter(reference.bias.detach().clone()) if bias else None

    @classmethod
    def from_conv(cls, reference: nn.modules.conv._ConvNd) -> SlabConv:
        dims = reference.weight.dim() - 2
        out_c, in_c, k = reference.weight.shape[0], reference.weight.shape[1], reference.weight.shape[2]
        slab = cls(dims, in_c, out_c, k, bias=reference.bias is not None)
        with torch.no_grad():
            slab.weight.copy_(reference.weight)
            if reference.bias is not None:
                slab.bias.copy_(reference.bias)
        return slab

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cout, k = self.weight.shape[0], self.k
        # (cout, cin, k, *rest) -> (k * cout, cin, 1, *rest): output channel kd * cout + o holds W[o, :, kd]
        w = self.weight.movedim(2, 0).reshape(k * cout, self.weight.shape[1], 1, *self.weight.shape[3:])
        y = (F.conv3d if self.spatial_dims == 3 else F.conv2d)(x, w)
        n = x.shape[2] - k + 1
        out = y[:, 0:cout, 0:n]
        for kd in range(1, k):
            out = out + y[:, kd * cout : (kd + 1) * cout, kd : kd + n]
        if self.bias is not None:
            out = out + self.bias.view(1, cout, *([1] * self.spatial_dims))
        return out


class ResnetBlock(nn.Module):
    def __init__(self, spatial_dims: int, channels: int, norm_name: str, use_dropout: bool, noise_channels: int = 0):
        super().__init__()
        bias = uses_bias(norm_name)
        layers = [NoiseConcat(noise_channels)] if noise_channels else []  # noise enters the residual branch only
        layers += [reflection_pad(spatial_dims, 1), conv(spatial_dims, channels + noise_channels, channels, 3, bias=bias)]
        layers += [make_norm(norm_name, spatial_dims, channels), nn.ReLU(True)]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [reflection_pad(spatial_dims, 1), conv(spatial_dims, channels, channels, 3, bias=bias)]
        layers.append(make_norm(norm_name, spatial_dims, channels))
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """Input sizes must be multiples of 4 (two stride-2 downs)."""

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        ngf: int = 64,
        n_blocks: int = 9,
        norm: str = "instance",
        use_dropout: bool = False,
        spatial_dims: int = 2,
        slab_output: bool = True,
        noise: str = "none",
        noise_channels: int = 1,
    ):
        super().__init__()
        d = check_dims(spatial_dims)
        bias = uses_bias(norm)
        n_noise = check_noise(noise, noise_channels)
        layers = [NoiseConcat(n_noise)] if n_noise else []
        layers += [reflection_pad(d, 3), conv(d, in_channels + n_noise, ngf, 7, bias=bias), make_norm(norm, d, ngf), nn.ReLU(True)]
        for i in range(2):
            c = ngf * 2**i
            layers += [conv(d, c, 2 * c, 3, stride=2, padding=1, bias=bias), make_norm(norm, d, 2 * c), nn.ReLU(True)]
        block_noise = n_noise if noise == "layers" else 0
        layers += [ResnetBlock(d, ngf * 4, norm, use_dropout, block_noise) for _ in range(n_blocks)]
        for i in range(2):
            c = ngf * 2 ** (2 - i)
            layers += [
                conv_transpose(d, c, c // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                make_norm(norm, d, c // 2),
                nn.ReLU(True),
            ]
        out_conv = SlabConv(d, ngf, out_channels, 7) if slab_output else conv(d, ngf, out_channels, 7)
        layers += [reflection_pad(d, 3), out_conv, nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)
