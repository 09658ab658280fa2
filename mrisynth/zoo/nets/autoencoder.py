"""BEGAN's convolutional autoencoder (the discriminator) and its decoder (also the generator), 2D/3D.

Decoder: linear -> (nf, 4, ...) -> L x [conv3, ELU, conv3, ELU, nearest x2] -> conv3, ELU, conv3.
Encoder: conv3 -> L x [conv3, ELU, conv3 s2, ELU] -> linear to ``hidden``. ``image_size = 4 * 2**L``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mrisynth.zoo.nets.dcgan import _levels
from mrisynth.zoo.nets.layers import check_dims, conv


class Upsample(nn.Module):
    def forward(self, x):
        return F.interpolate(x, scale_factor=2, mode="nearest")


class ConvDecoder(nn.Module):
    def __init__(self, hidden: int, out_channels: int, image_size: int, nf: int, spatial_dims: int = 2, tanh: bool = False):
        super().__init__()
        d = check_dims(spatial_dims)
        self.nf, self.d = nf, d
        self.fc = nn.Linear(hidden, nf * 4**d)
        layers = []
        for _ in range(_levels(image_size)):
            layers += [conv(d, nf, nf, 3, padding=1), nn.ELU(), conv(d, nf, nf, 3, padding=1), nn.ELU(), Upsample()]
        layers += [conv(d, nf, nf, 3, padding=1), nn.ELU(), conv(d, nf, out_channels, 3, padding=1)]
        if tanh:
            layers.append(nn.Tanh())
        self.body = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.body(self.fc(h).view(h.shape[0], self.nf, *([4] * self.d)))


class ConvEncoder(nn.Module):
    def __init__(self, in_channels: int, image_size: int, nf: int, hidden: int, spatial_dims: int = 2):
        super().__init__()
        d = check_dims(spatial_dims)
        layers, c = [conv(d, in_channels, nf, 3, padding=1), nn.ELU()], nf
        for i in range(_levels(image_size)):
            c_out = nf * (i + 2)
            layers += [conv(d, c, c, 3, padding=1), nn.ELU(), conv(d, c, c_out, 3, stride=2, padding=1), nn.ELU()]
            c = c_out
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(c * 4**d, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x).flatten(1))


class ConvAutoencoder(nn.Module):
    def __init__(self, channels: int = 1, image_size: int = 16, nf: int = 32, hidden: int = 32, spatial_dims: int = 2):
        super().__init__()
        self.encoder = ConvEncoder(channels, image_size, nf, hidden, spatial_dims)
        self.decoder = ConvDecoder(hidden, channels, image_size, nf, spatial_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
