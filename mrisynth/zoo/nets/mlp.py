"""Small MLPs for vector data (2D mode-collapse benchmarks, conditional sampling) and the mode-collapse
remedies that live in the discriminator: minibatch discrimination, minibatch standard deviation and
PacGAN packing.

* Minibatch discrimination (Salimans et al. 2016): features f(x_i) in R^A are projected by a learned
  tensor T to M_i in R^{B x C}; o(x_i)_b = sum_{j != i} exp(-||M_{i,b} - M_{j,b}||_1) is appended to f(x_i),
  so the discriminator can see that a batch is too homogeneous.
* Minibatch standard deviation (Karras et al. 2018): one extra feature, the std over the batch averaged
  over features (the zoo's one implementation, ``nets.progressive.MinibatchStdDev``, works on vectors).
* PacGAN (Lin et al. 2018): the discriminator judges ``pack`` samples at once, concatenated; a batch of
  N samples becomes N / pack packed samples, so a collapsed generator's packs are easy to spot.
"""

from __future__ import annotations

import torch
from torch import nn

from mrisynth.zoo.nets.progressive import MinibatchStdDev


def mlp(in_dim: int, out_dim: int, hidden: int = 128, depth: int = 3, slope: float = 0.2) -> nn.Sequential:
    """``depth`` hidden layers of width ``hidden`` with LeakyReLU, then a linear output."""
    layers: list[nn.Module] = []
    d = in_dim
    for _ in range(depth):
        layers += [nn.Linear(d, hidden), nn.LeakyReLU(slope)]
        d = hidden
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


def pack(x: torch.Tensor, m: int) -> torch.Tensor:
    """(N, ...) -> (N / m, m * prod(...)): consecutive samples concatenated (PacGAN)."""
    if x.shape[0] % m:
        raise ValueError(f"batch size {x.shape[0]} is not a multiple of pack={m}")
    return x.reshape(x.shape[0] // m, -1)


class MinibatchDiscrimination(nn.Module):
    """Appends ``out_features`` closeness-to-the-rest-of-the-batch features (Salimans et al. 2016)."""

    def __init__(self, in_features: int, out_features: int, kernel_dim: int = 5):
        super().__init__()
        self.out_features, self.kernel_dim = out_features, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, out_features * kernel_dim) * 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = (x @ self.T).view(-1, self.out_features, self.kernel_dim)  # (N, B, C)
        l1 = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(-1)  # (N, N, B)
        o = torch.exp(-l1).sum(1) - 1.0  # minus exp(0) = 1: the sample itself
        return torch.cat([x, o], 1)


class MLPDiscriminator(nn.Module):
    """Vector discriminator/critic: [pack] -> trunk MLP (``features``) -> [minibatch layers] -> head.

    ``out_dim`` raw outputs (logits / critic values; no activation). ``features(x)`` are the trunk's last
    hidden activations, used by feature matching and by InfoGAN's Q head.
    """

    def __init__(
        self,
        in_dim: int,
        hidden: int = 128,
        depth: int = 3,
        out_dim: int = 1,
        pack: int = 1,
        minibatch_features: int = 0,
        minibatch_stddev: bool = False,
    ):
        super().__init__()
        if depth < 1 or pack < 1:
            raise ValueError(f"depth and pack must be >= 1, got depth={depth}, pack={pack}")
        self.pack = pack
        self.trunk = nn.Sequential(*mlp(in_dim * pack, hidden, hidden, depth - 1), nn.LeakyReLU(0.2))
        extra: list[nn.Module] = []
        width = hidden
        if minibatch_features:
            extra.append(MinibatchDiscrimination(width, minibatch_features))
            width += minibatch_features
        if minibatch_stddev:
            extra.append(MinibatchStdDev())
            width += 1
        self.minibatch = nn.Sequential(*extra)
        self.head = nn.Linear(width, out_dim)
        self.feature_dim = hidden

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(pack(x, self.pack) if self.pack > 1 else x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.minibatch(self.features(x)))
