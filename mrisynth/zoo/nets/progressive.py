"""Progressive GAN nets (Karras et al. 2018), 2D/3D: equalised learning rate, pixel norm, minibatch
standard deviation, one block per resolution 4, 8, ..., ``image_size`` with fade-in of each new one.

Both nets take ``(input, stage, alpha)``: ``stage`` s works at resolution ``4 * 2**s``; while a stage
fades in (alpha < 1) the output / input of the new block is blended with the previous resolution's.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mrisynth.zoo.nets.dcgan import _levels
from mrisynth.zoo.nets.layers import check_dims

_CONV = {2: F.conv2d, 3: F.conv3d}
_POOL = {2: F.avg_pool2d, 3: F.avg_pool3d}


class EqualizedConv(nn.Module):
    """Conv with weights ~ N(0, 1) scaled at run time by He's constant sqrt(2 / fan_in)."""

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        self.d, self.pad = spatial_dims, kernel_size // 2
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, *([kernel_size] * spatial_dims)))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = math.sqrt(2.0 / (in_channels * kernel_size**spatial_dims))

    def forward(self, x):
        return _CONV[self.d](x, self.weight * self.scale, self.bias, padding=self.pad)


class EqualizedLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int, gain: float = math.sqrt(2.0)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x):
        return F.linear(x, self.weight * self.scale, self.bias)


class PixelNorm(nn.Module):
    """Normalise each pixel's feature vector to unit mean square."""

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class MinibatchStdDev(nn.Module):
    """Append one channel: the std over the batch of every feature and position, averaged."""

    def forward(self, x):
        std = x.float().std(dim=0, unbiased=False).add(1e-8).mean().to(x.dtype) if x.shape[0] > 1 else x.new_zeros(())
        return torch.cat([x, std.expand(x.shape[0], 1, *x.shape[2:])], 1)


def _up(x):
    return F.interpolate(x, scale_factor=2, mode="nearest")


class ProgressiveGenerator(nn.Module):
    def __init__(self, latent_dim: int = 64, out_channels: int = 1, image_size: int = 16, nf: int = 32, spatial_dims: int = 2):
        super().__init__()
        d = self.d = check_dims(spatial_dims)
        self.nf, self.n_stages = nf, _levels(image_size) + 1
        act = nn.LeakyReLU(0.2)
        self.fc = EqualizedLinear(latent_dim, nf * 4**d, gain=math.sqrt(2.0) / 4)
        self.first = nn.Sequential(act, PixelNorm(), EqualizedConv(d, nf, nf, 3), act, PixelNorm())
        self.blocks = nn.ModuleList(
            [nn.Sequential(EqualizedConv(d, nf, nf, 3), act, PixelNorm(), EqualizedConv(d, nf, nf, 3), act, PixelNorm()) for _ in range(self.n_stages - 1)]
        )
        self.to_rgb = nn.ModuleList([EqualizedConv(d, nf, out_channels, 1) for _ in range(self.n_stages)])
        self.pixel_norm = PixelNorm()

    def forward(self, z: torch.Tensor, stage: int, alpha: float = 1.0) -> torch.Tensor:
        x = self.first(self.fc(self.pixel_norm(z)).view(z.shape[0], self.nf, *([4] * self.d)))
        prev = x
        for s in range(1, stage + 1):
            prev = x
            x = self.blocks[s - 1](_up(x))
        out = self.to_rgb[stage](x)
        if stage > 0 and alpha < 1:
            out = (1 - alpha) * _up(self.to_rgb[stage - 1](prev)) + alpha * out
        return out


class ProgressiveDiscriminator(nn.Module):
    def __init__(self, in_channels: int = 1, image_size: int = 16, nf: int = 32, spatial_dims: int = 2):
        super().__init__()
        d = self.d = check_dims(spatial_dims)
        self.n_stages = _levels(image_size) + 1
        act = nn.LeakyReLU(0.2)
        self.from_rgb = nn.ModuleList([nn.Sequential(EqualizedConv(d, in_channels, nf, 1), act) for _ in range(self.n_stages)])
        self.blocks = nn.ModuleList(
            [nn.Sequential(EqualizedConv(d, nf, nf, 3), act, EqualizedConv(d, nf, nf, 3), act) for _ in range(self.n_stages - 1)]
        )
        self.final = nn.Sequential(MinibatchStdDev(), EqualizedConv(d, nf + 1, nf, 3), act, nn.Flatten(), EqualizedLinear(nf * 4**d, nf), act, EqualizedLinear(nf, 1, gain=1.0))

    def _down(self, x):
        return _POOL[self.d](x, 2)

    def forward(self, x: torch.Tensor, stage: int, alpha: float = 1.0) -> torch.Tensor:
        h = self.from_rgb[stage](x)
        if stage > 0:
            h = self._down(self.blocks[stage - 1](h))
            if alpha < 1:
                h = (1 - alpha) * self.from_rgb[stage - 1](self._down(x)) + alpha * h
        for s in range(stage - 1, 0, -1):
            h = self._down(self.blocks[s - 1](h))
        return self.final(h)
