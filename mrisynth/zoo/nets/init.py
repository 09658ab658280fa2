"""junyanz's ``init_weights``: normal / xavier / kaiming / orthogonal for conv and linear weights."""

from __future__ import annotations

import torch
from torch import nn

INIT_TYPES = ("normal", "xavier", "kaiming", "orthogonal")


@torch.no_grad()
def init_weights(net: nn.Module, init_type: str = "normal", gain: float = 0.02) -> nn.Module:
    """Initialise conv / transposed conv / linear weights (bias 0) and batch-norm scales N(1, gain).

    ``gain`` is the std for ``normal`` and the gain for ``xavier`` / ``orthogonal`` (as in pix2pix).
    """
    from mrisynth.zoo.nets.resnet import SlabConv

    if init_type not in INIT_TYPES:
        raise ValueError(f"init_type must be one of {INIT_TYPES}, got {init_type!r}")
    for m in net.modules():
        if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear, SlabConv)):
            if init_type == "normal":
                nn.init.normal_(m.weight, 0.0, gain)
            elif init_type == "xavier":
                nn.init.xavier_normal_(m.weight, gain=gain)
            elif init_type == "kaiming":
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            else:
                nn.init.orthogonal_(m.weight, gain=gain)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return net
