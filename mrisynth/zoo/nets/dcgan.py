"""DCGAN generator and discriminator (Radford et al. 2016) for 2D and 3D, optionally class-conditional.

Generator: z (+ one-hot class) -> linear -> (ngf * 2^(L-1), 4, ...) -> L x [transposed conv k4 s2, BN, ReLU]
-> conv k3 -> tanh, for ``image_size = 4 * 2^L``. Discriminator: input (+ one-hot class planes) ->
L x [conv k4 s2, norm, LeakyReLU 0.2] -> linear to one logit (no sigmoid; losses take logits).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mrisynth.zoo.nets.layers import check_dims, conv, conv_transpose, uses_bias
from mrisynth.zoo.nets.layers import norm as make_norm


def _levels(image_size: int) -> int:
    levels = int(round(math.log2(image_size / 4)))
    if image_size < 8 or 4 * 2**levels != image_size:
        raise ValueError(f"image_size must be 4 * 2**L with L >= 1 (8, 16, 32, 64, ...), got {image_size}")
    return levels


class DCGANGenerator(nn.Module):
    def __init__(
        self,
        latent_dim: int = 64,
        out_channels: int = 1,
        image_size: int = 32,
        ngf: int = 32,
        spatial_dims: int = 2,
        n_classes: int = 0,
        norm: str = "batch",
    ):
        super().__init__()
        d = check_dims(spatial_dims)
        self.levels = _levels(image_size)
        self.latent_dim, self.n_classes, self.spatial_dims = latent_dim, n_classes, d
        self.c0 = ngf * 2 ** (self.levels - 1)
        self.fc = nn.Linear(latent_dim + n_classes, self.c0 * 4**d)
        layers = [make_norm(norm, d, self.c0), nn.ReLU(True)]
        c = self.c0
        for _ in range(self.levels):
            c_out = max(c // 2, ngf)
            layers += [conv_transpose(d, c, c_out, 4, stride=2, padding=1, bias=uses_bias(norm)), make_norm(norm, d, c_out), nn.ReLU(True)]
            c = c_out
        layers += [conv(d, c, out_channels, 3, padding=1), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_classes:
            z = torch.cat([z, F.one_hot(labels, self.n_classes).to(z.dtype)], 1)
        x = self.fc(z).view(z.shape[0], self.c0, *([4] * self.spatial_dims))
        return self.body(x)


class DCGANDiscriminator(nn.Module):
    """``norm`` 'batch' (DCGAN), or 'none' / 'instance' for gradient-penalty critics (no batch coupling)."""

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 32,
        ndf: int = 32,
        spatial_dims: int = 2,
        n_classes: int = 0,
        norm: str = "batch",
    ):
        super().__init__()
        d = check_dims(spatial_dims)
        levels = _levels(image_size)
        self.n_classes = n_classes
        layers, c = [], in_channels + n_classes
        for i in range(levels):
            c_out = ndf * 2**i
            layers.append(conv(d, c, c_out, 4, stride=2, padding=1, bias=i == 0 or uses_bias(norm)))
            if i > 0:  # DCGAN: no norm on the first layer
                layers.append(make_norm(norm, d, c_out))
            layers.append(nn.LeakyReLU(0.2, True))
            c = c_out
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c * 4**d, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_classes:
            planes = F.one_hot(labels, self.n_classes).to(x.dtype).view(*labels.shape, self.n_classes, *([1] * (x.dim() - 2)))
            x = torch.cat([x, planes.expand(-1, -1, *x.shape[2:])], 1)
        return self.fc(self.features(x).flatten(1))
