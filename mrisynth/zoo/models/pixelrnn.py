"""PixelRNN (van den Oord, Kalchbrenner & Kavukcuoglu 2016): Row LSTM and Diagonal BiLSTM.

Both start with a 7x7 type-A masked convolution and end with 1x1 convolutions to the per-pixel output
(softmax or logistic mixture, shared with :mod:`mrisynth.zoo.models.pixelcnn`); the LSTM layers in
between have residual connections.

* Row LSTM: processes the image row by row; the input-to-state part is a 1 x k type-B masked
  convolution along the row, the state-to-state part a 1D convolution (width 3) over the previous row's
  hidden state. Receptive field: a triangle above the pixel.
* Diagonal BiLSTM: the feature map is *skewed* (row r shifted right by r) so that diagonals become
  columns; an LSTM runs over the columns with a 2x1 state-to-state convolution (the pixel above and the
  pixel to the left in unskewed coordinates), and the result is unskewed. The second direction runs on
  the mirrored map; its output is shifted down one row before being added, so no pixel sees its own row
  to the right. Receptive field: everything above and to the left.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mrisynth.zoo.models._pixels import image_shape_of
from mrisynth.zoo.models.pixelcnn import OUTPUTS, AutoregressiveModel, MaskedConv2d
from mrisynth.zoo.registry import register

VARIANTS = ("row", "diagonal")


def _lstm_update(gates: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    o, f, i, g = gates.chunk(4, 1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


class RowLSTM(nn.Module):
    def __init__(self, channels: int, kernel_size: int = 3):
        super().__init__()
        self.input_to_state = MaskedConv2d(channels, 4 * channels, (1, kernel_size), "B")
        self.state_to_state = nn.Conv1d(channels, 4 * channels, 3, padding=1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, ch, height, width = x.shape
        gates_in = self.input_to_state(x)
        h = x.new_zeros(n, ch, width)
        c = x.new_zeros(n, ch, width)
        rows = []
        for r in range(height):
            h, c = _lstm_update(gates_in[:, :, r] + self.state_to_state(h), c)
            rows.append(h)
        return x + self.out(torch.stack(rows, 2))


def skew(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, H, W + H - 1): row r shifted right by r (zeros elsewhere).

    Pad each row with H zeros, flatten, drop the last H values and re-fold with rows of W + H - 1:
    element (r, c) at flat index r (W + H) + c lands at row r, column r + c."""
    n, c, height, width = x.shape
    flat = F.pad(x, (0, height)).flatten(2)[:, :, : height * (width + height - 1)]
    return flat.view(n, c, height, width + height - 1)


def unskew(x: torch.Tensor, width: int) -> torch.Tensor:
    """Inverse of :func:`skew`."""
    n, c, height, skewed = x.shape
    flat = F.pad(x.flatten(2), (0, height))
    return flat.view(n, c, height, skewed + 1)[:, :, :, :width]


class DiagonalBiLSTM(nn.Module):
    """Both directions in one column loop (grouped convolutions, group 0 = left-to-right, group 1 = the
    mirrored map). Input-to-state 1x1 (type B is trivial for one-channel images), state-to-state 2x1:
    at skewed row i it reads h[i-1] and h[i] of the previous column, i.e. the pixels above and left."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.input_to_state = nn.Conv2d(2 * channels, 8 * channels, 1, groups=2)
        self.state_to_state = nn.Conv1d(2 * channels, 8 * channels, 2, groups=2)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, ch, height, width = x.shape
        gates_in = skew(self.input_to_state(torch.cat([x, x.flip(3)], 1)))  # (N, 8C, H, W + H - 1)
        h = x.new_zeros(n, 2 * ch, height)
        c = x.new_zeros(n, 2, ch, height)
        cols = []
        for j in range(gates_in.shape[3]):
            gates = (gates_in[:, :, :, j] + self.state_to_state(F.pad(h, (1, 0)))).view(n, 2, 4 * ch, height)
            o, f, i, g = gates.chunk(4, 2)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = (torch.sigmoid(o) * torch.tanh(c)).view(n, 2 * ch, height)
            cols.append(h)
        both = unskew(torch.stack(cols, 3), width)
        left, right = both[:, :ch], both[:, ch:].flip(3)
        right = F.pad(right, (0, 0, 1, 0))[:, :, :-1]  # shift down one row: row r sees rows < r only
        return x + self.out(left + right)


class PixelRNNNet(nn.Module):
    def __init__(self, out_channels: int, variant: str = "row", channels: int = 32, n_layers: int = 2):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        self.inp = MaskedConv2d(1, channels, 7, "A")
        layer = RowLSTM if variant == "row" else DiagonalBiLSTM
        self.layers = nn.Sequential(*(layer(channels) for _ in range(n_layers)))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(), nn.Conv2d(channels, out_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layers(self.inp(x)))


@register("pixelrnn")
class PixelRNN(AutoregressiveModel):
    def __init__(
        self,
        image_shape: tuple[int, ...] = (1, 8, 8),
        image_size: int | None = None,
        n_levels: int = 256,
        output: str = "softmax",
        n_mixtures: int = 5,
        variant: str = "row",
        channels: int = 32,
        n_layers: int = 2,
        lr: float = 1e-3,
        seed: int | None = None,
    ):
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        super().__init__(image_shape_of(image_shape, image_size), n_levels, output, n_mixtures, seed)
        self.nets["ar"] = PixelRNNNet(self.out_channels, variant, channels, n_layers)
        self.optimizers["ar"] = torch.optim.Adam(self.nets["ar"].parameters(), lr=lr)
