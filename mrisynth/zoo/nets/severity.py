"""A subject-level path for a translation generator: y = map0(x) + s(x) * map1(x).

A U-Net trained voxel by voxel on a few dozen subjects learns the local T1 -> PET relation and little of what
a whole brain says about the disease (``benchmarks/results/generator-learning.md``: a plain U-Net stays at
the linear map on the demo). Here the generator (``maps``) outputs two maps per output channel and a small
encoder reads one scalar per subject, s(x), from the whole input; the output is map0 + s * map1. The encoder
can also be taught directly (``stage_loss``) to predict every training subject's disease stage from its
MRI, PET or not, which gives it the labels the voxel loss alone does not surface. Measured on the demo
(Pix2Pix, 3 folds, 80 test subjects): meta-ROI SUVR RMSE 0.1520 (linear map) -> 0.1425; trained on pairs
shuffled between subjects with the stages uncorrelated (negative control) it does not learn.

The encoder runs in fp32 even under bf16 autocast: it is small (the cost is nil), and its regression on ~50
labelled MRIs is the part that must generalise.
"""

from __future__ import annotations

import torch
from torch import nn


class SeverityPath(nn.Module):
    """``maps`` outputs 2 * C channels (C = the generator's output channels); forward returns the first C plus
    s(x) times the last C. ``width``: the encoder's first conv width (three stride-2 convs, 4^d average pool,
    dropout, a linear layer)."""

    def __init__(self, maps: nn.Module, in_channels: int = 1, width: int = 8, spatial_dims: int = 3, dropout: float = 0.5):
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        conv = nn.Conv3d if spatial_dims == 3 else nn.Conv2d
        pool = nn.AdaptiveAvgPool3d(4) if spatial_dims == 3 else nn.AdaptiveAvgPool2d(4)
        self.maps = maps
        # s is used as centre + gain * (s - centre) (+ reader(x)): 1, 0 (and None) while training; set after it by
        # a fit on held-out subjects (mrisynth.synthesis.severity_gain). Plain attributes: not in the state dict.
        self.gain, self.centre = 1.0, 0.0
        self.reader = None  # optional callable, input -> (N,): a second estimate's term, added to s
        self.encoder = nn.Sequential(
            conv(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2),
            conv(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2),
            conv(2 * width, 4 * width, 4, 2, 1), nn.LeakyReLU(0.2),
            pool, nn.Flatten(), nn.Dropout(dropout), nn.Linear(4 * width * 4**spatial_dims, 1))

    def reset_encoder(self) -> None:
        """PyTorch's default (Kaiming-uniform) init for the encoder, after a GAN init of the whole generator:
        N(0, 0.02) weights shrink its output ~25-fold, which the probe that showed the path learning did not have."""
        for m in self.encoder.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def severity(self, x: torch.Tensor) -> torch.Tensor:
        """s(x), one value per batch item (fp32)."""
        with torch.autocast(x.device.type, enabled=False):
            return self.encoder(x.float())[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.maps(x)
        c = out.shape[1] // 2
        s = self.severity(x)
        if self.gain != 1.0:
            s = self.centre + self.gain * (s - self.centre)
        if self.reader is not None:
            s = s + self.reader(x)
        s = s.to(out.dtype).view(-1, *[1] * (out.dim() - 1))
        return out[:, :c] + s * out[:, c:]

    def stage_loss(self, images: torch.Tensor, stages: torch.Tensor) -> torch.Tensor:
        """MSE of s against the disease stage; ``images`` (N, k, C, *spatial) and ``stages`` (N, k): k labelled
        MRIs per batch item."""
        x = images.flatten(0, 1)
        if x.dim() == 5:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        return (self.severity(x) - stages.flatten().float()).square().mean()


def severity_path(net: nn.Module) -> SeverityPath | None:
    """The SeverityPath inside ``net`` (e.g. an additive sampler's mean net), or None."""
    return next((m for m in net.modules() if isinstance(m, SeverityPath)), None)
