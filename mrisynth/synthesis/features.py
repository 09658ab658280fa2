"""A small 3D convolutional autoencoder trained on the fold's TRAINING PET volumes, whose pooled
bottleneck serves as the feature space of a 3D FID / KID (no downloaded weights, nothing from test
subjects). Trained with the zoo's one trainer like every other model.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from mrisynth.zoo.base import ZooModel
from mrisynth.zoo.train import Trainer, TrainConfig


class Encoder3D(nn.Module):
    def __init__(self, width: int = 8, features: int = 32):
        super().__init__()
        chans = [1, width, 2 * width, features]
        layers = []
        for a, b in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv3d(a, b, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


class Decoder3D(nn.Module):
    def __init__(self, width: int = 8, features: int = 32):
        super().__init__()
        chans = [features, 2 * width, width]
        layers = []
        for a, b in zip(chans[:-1], chans[1:]):
            layers += [nn.ConvTranspose3d(a, b, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        layers += [nn.ConvTranspose3d(width, 1, 4, stride=2, padding=1)]
        self.body = nn.Sequential(*layers)

    def forward(self, z):
        return self.body(z)


class PETAutoencoder(ZooModel):
    """L2 autoencoder on volumes in [-1, 1] whose sides are multiples of 8; features = mean-pooled code."""

    def __init__(self, width: int = 8, features: int = 32, lr: float = 1e-3, seed: int | None = None):
        super().__init__(seed=seed)
        self.nets["encoder"] = Encoder3D(width, features)
        self.nets["decoder"] = Decoder3D(width, features)
        params = [p for net in self.nets.values() for p in net.parameters()]
        self.optimizers["ae"] = torch.optim.Adam(params, lr)

    def reconstruction_loss(self, x):
        recon = self.nets["decoder"](self.nets["encoder"](x))
        loss = F.mse_loss(recon.float(), x.float())
        return loss, {"mse": loss.detach()}

    def train_step(self, batch):
        (x,) = self.prepare(batch)
        self.train()
        return self.optimize("ae", self.reconstruction_loss, x)

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> np.ndarray:
        self.eval()
        return self.nets["encoder"](x).mean(dim=(2, 3, 4)).double().numpy()


def prepare_volumes(volumes: np.ndarray, downsample: int) -> torch.Tensor:
    """(N, X, Y, Z) in [-1, 1] -> (N, 1, ...) average-pooled by ``downsample`` and padded to multiples of 8."""
    from mrisynth.synthesis.data import pad_to_multiple

    x = torch.as_tensor(volumes, dtype=torch.float32)[:, None]
    if downsample > 1:
        x = F.avg_pool3d(x, downsample, ceil_mode=True)
    return pad_to_multiple(x, 8)[0]


def train_encoder(train_volumes: np.ndarray, steps: int, downsample: int, seed: int,
                  batch_size: int = 4) -> PETAutoencoder:
    """Fit the autoencoder on training PET volumes (already in the networks' [-1, 1] range)."""
    data = TensorDataset(prepare_volumes(train_volumes, downsample))
    model = PETAutoencoder(seed=seed)
    cfg = TrainConfig(steps=steps, batch_size=min(batch_size, len(data)), seed=seed, progress=False)
    Trainer(model, data, cfg).fit()
    return model
