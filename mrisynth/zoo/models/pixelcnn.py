"""PixelCNN (van den Oord et al. 2016): masked convolutions, gated variant, exact likelihood.

p(x) = prod_i p(x_i | x_<i) in raster order over the pixels of a one-channel image with ``n_levels``
intensity levels. Causality comes from masks on the kernels: type A (first layer) hides the current
pixel, type B (later layers) lets a pixel see its own *features*, which never depend on its own value.
The gated variant (van den Oord et al. 2016c) uses a vertical stack (rows above) and a horizontal stack
(the current row to the left) with tanh * sigmoid gates, which removes the plain PixelCNN's blind spot.

Output per pixel: a ``softmax`` over the n_levels values (256-way for 8-bit images) or a discretised
mixture of logistics (``logistic_mixture``, Salimans et al. 2017: PixelCNN++), both turned into the full
categorical log-probabilities by :func:`level_log_probs`, which gives the exact NLL and the sampler.
Images in [-1, 1] map to levels round((x + 1) / 2 * (n_levels - 1)).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mrisynth.zoo.base import ZooModel
from mrisynth.zoo.models._pixels import from_levels, image_shape_of, split_batch, to_levels
from mrisynth.zoo.registry import register

OUTPUTS = ("softmax", "logistic_mixture")


def causal_mask(kh: int, kw: int, include_centre: bool) -> torch.Tensor:
    """1 where the kernel may look: rows above the centre, and the centre row left of (or at) the centre."""
    mask = torch.zeros(kh, kw)
    cy, cx = kh // 2, kw // 2
    mask[:cy] = 1
    mask[cy, : cx + int(include_centre)] = 1
    return mask


class MaskedConv2d(nn.Conv2d):
    """'same'-padded convolution whose kernel is multiplied by a fixed mask (type 'A' or 'B', or given)."""

    def __init__(self, c_in: int, c_out: int, kernel_size, mask_type: str | None = "B", mask: torch.Tensor | None = None):
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        super().__init__(c_in, c_out, (kh, kw), padding=(kh // 2, kw // 2))
        if mask is None:
            if mask_type not in ("A", "B"):
                raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
            mask = causal_mask(kh, kw, include_centre=mask_type == "B")
        self.register_buffer("mask", mask.reshape(1, 1, kh, kw).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class ResidualMaskedBlock(nn.Module):
    """ReLU-1x1-ReLU-masked(B) kxk-ReLU-1x1 with a residual connection (PixelCNN paper, Fig. 5)."""

    def __init__(self, channels: int, kernel_size: int = 3):
        super().__init__()
        half = channels // 2
        self.body = nn.Sequential(
            nn.ReLU(), nn.Conv2d(channels, half, 1), nn.ReLU(), MaskedConv2d(half, half, kernel_size, "B"), nn.ReLU(), nn.Conv2d(half, channels, 1)
        )

    def forward(self, x):
        return x + self.body(x)


class GatedLayer(nn.Module):
    """One gated layer on (vertical, horizontal) feature maps; the vertical stack only ever depends on
    rows strictly above (its first layer hides the centre row), so it can feed the horizontal stack
    directly. The horizontal stack has a residual connection."""

    def __init__(self, channels: int, kernel_size: int = 3):
        super().__init__()
        k = kernel_size
        self.v_conv = MaskedConv2d(channels, 2 * channels, (k, k), mask=_vertical_mask(k, centre_row=True))
        self.h_conv = MaskedConv2d(channels, 2 * channels, (1, k), mask=_horizontal_mask(k, centre=True))
        self.v_to_h = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.h_out = nn.Conv2d(channels, channels, 1)

    def forward(self, v, h):
        v_feat = self.v_conv(v)
        v_val, v_gate = v_feat.chunk(2, 1)
        h_val, h_gate = (self.h_conv(h) + self.v_to_h(v_feat)).chunk(2, 1)
        return torch.tanh(v_val) * torch.sigmoid(v_gate), h + self.h_out(torch.tanh(h_val) * torch.sigmoid(h_gate))


def _vertical_mask(k: int, centre_row: bool) -> torch.Tensor:
    mask = torch.zeros(k, k)
    mask[: k // 2 + int(centre_row)] = 1
    return mask


def _horizontal_mask(k: int, centre: bool) -> torch.Tensor:
    mask = torch.zeros(1, k)
    mask[0, : k // 2 + int(centre)] = 1
    return mask


class PixelCNNNet(nn.Module):
    def __init__(self, out_channels: int, channels: int = 64, n_layers: int = 5, gated: bool = False, kernel_size: int = 3):
        super().__init__()
        self.gated = gated
        if gated:
            self.v_in = MaskedConv2d(1, channels, (kernel_size, kernel_size), mask=_vertical_mask(kernel_size, centre_row=False))
            self.h_in = MaskedConv2d(1, channels, (1, kernel_size), mask=_horizontal_mask(kernel_size, centre=False))
            self.layers = nn.ModuleList(GatedLayer(channels, kernel_size) for _ in range(n_layers))
        else:
            self.inp = MaskedConv2d(1, channels, 7, "A")
            self.layers = nn.Sequential(*(ResidualMaskedBlock(channels, kernel_size) for _ in range(n_layers)))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(), nn.Conv2d(channels, out_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 1, H, W) in [-1, 1] -> output parameters per pixel (N, out_channels, H, W)."""
        if not self.gated:
            return self.head(self.layers(self.inp(x)))
        v, h = self.v_in(x), self.h_in(x)
        for layer in self.layers:
            v, h = layer(v, h)
        return self.head(h)


def level_log_probs(out: torch.Tensor, output: str, n_levels: int) -> torch.Tensor:
    """Network output (N, P, H, W) -> log-probabilities of every level (N, n_levels, H, W)."""
    if output == "softmax":
        return F.log_softmax(out, 1)
    log_pi, mu, log_s = out.chunk(3, 1)  # (N, M, H, W) each
    log_pi = F.log_softmax(log_pi, 1)
    log_s = log_s.clamp(-7.0, 7.0)
    centres = torch.linspace(-1.0, 1.0, n_levels, dtype=out.dtype, device=out.device).view(1, 1, -1, 1, 1)
    half_bin = 1.0 / (n_levels - 1)
    inv_s = torch.exp(-log_s).unsqueeze(2)
    upper = (centres + half_bin - mu.unsqueeze(2)) * inv_s  # (N, M, L, H, W)
    lower = (centres - half_bin - mu.unsqueeze(2)) * inv_s
    # log(sigmoid(u) - sigmoid(l)) = log sigmoid(u) + log sigmoid(-l) + log(1 - exp(l - u)), stable
    inner = -F.softplus(-upper) - F.softplus(lower) + torch.log(-torch.expm1(lower - upper))
    first = -F.softplus(-upper[:, :, :1])  # level 0 takes the mass below: log sigmoid(u)
    last = -F.softplus(lower[:, :, -1:])  # the top level takes the mass above: log(1 - sigmoid(l))
    log_mass = torch.cat([first, inner[:, :, 1:-1], last], 2)
    return torch.logsumexp(log_pi.unsqueeze(2) + log_mass, 1)


class AutoregressiveModel(ZooModel):
    """Shared by PixelCNN and PixelRNN: ``nets['ar']`` maps [-1, 1] images to per-pixel output parameters."""

    def __init__(self, image_shape, n_levels: int, output: str, n_mixtures: int, seed: int | None):
        super().__init__(seed=seed)
        if image_shape[0] != 1:
            raise ValueError(f"autoregressive models here take one-channel images, got image_shape {image_shape}")
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        self.image_shape, self.n_levels, self.output = tuple(image_shape), n_levels, output
        self.out_channels = n_levels if output == "softmax" else 3 * n_mixtures

    def level_log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """[-1, 1] images (N, 1, H, W) -> log p(x_i = level | x_<i) for every pixel and level."""
        net_in = from_levels(to_levels(x, self.n_levels), self.n_levels)
        return level_log_probs(self.nets["ar"](net_in), self.output, self.n_levels)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x) per image (nats)."""
        lp = self.level_log_probs(x)
        return lp.gather(1, to_levels(x, self.n_levels)).flatten(1).sum(1)

    def train_step(self, batch) -> dict[str, float]:
        x, _ = split_batch(self.prepare(batch))
        self.train()
        return self.optimize("ar", self.loss, x)

    def loss(self, x: torch.Tensor):
        nats_per_dim = -self.log_prob(x).mean() / math.prod(self.image_shape)
        return nats_per_dim, {"nll_nats_per_dim": nats_per_dim.detach(), "nll_bits_per_dim": nats_per_dim.detach() / math.log(2)}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Pixel by pixel in raster order: one network pass per pixel."""
        _, height, width = self.image_shape
        x = torch.zeros(n, *self.image_shape, device=self.device) - 1.0
        for i in range(height):
            for j in range(width):
                probs = self.level_log_probs(x)[:, :, i, j].exp()
                level = torch.multinomial(probs, 1, generator=generator)[:, 0]
                x[:, 0, i, j] = from_levels(level, self.n_levels)
        return x


@register("pixelcnn")
class PixelCNN(AutoregressiveModel):
    def __init__(
        self,
        image_shape: tuple[int, ...] = (1, 8, 8),
        image_size: int | None = None,
        n_levels: int = 256,
        output: str = "softmax",
        n_mixtures: int = 5,
        channels: int = 64,
        n_layers: int = 5,
        gated: bool = False,
        lr: float = 1e-3,
        seed: int | None = None,
    ):
        super().__init__(image_shape_of(image_shape, image_size), n_levels, output, n_mixtures, seed)
        self.nets["ar"] = PixelCNNNet(self.out_channels, channels, n_layers, gated)
        self.optimizers["ar"] = torch.optim.Adam(self.nets["ar"].parameters(), lr=lr)
