"""N-layer PatchGAN discriminator (pix2pix's 70x70 for n_layers=3): MONAI's PatchDiscriminator, returning
only the patch logits instead of the list of every intermediate feature map (which costs memory)."""

from __future__ import annotations

from monai.networks.nets import PatchDiscriminator

from mrisynth.zoo.nets.layers import check_dims, uses_bias

_MONAI_NORM = {"batch": "BATCH", "instance": ("INSTANCE", {"affine": False}), "none": None}


class PatchGAN(PatchDiscriminator):
    """Conv k4 s2 (no norm) -> (n_layers - 1) x [conv k4 s2, norm, LeakyReLU 0.2] -> conv k4 s1, norm,
    LeakyReLU -> conv k4 s1 to one logit per patch. Channels ndf, 2ndf, 4ndf, 8ndf, ... (as junyanz for
    n_layers <= 3). Spatial size must be at least ``2**n_layers * 2`` per axis. No sigmoid: losses take logits.
    """

    def __init__(self, in_channels: int = 1, ndf: int = 64, n_layers: int = 3, norm: str = "instance", spatial_dims: int = 2):
        if norm not in _MONAI_NORM:
            raise ValueError(f"norm must be one of {sorted(_MONAI_NORM)}, got {norm!r}")
        super().__init__(
            spatial_dims=check_dims(spatial_dims),
            channels=ndf,
            in_channels=in_channels,
            out_channels=1,
            num_layers_d=n_layers,
            kernel_size=4,
            norm=_MONAI_NORM[norm],
            bias=uses_bias(norm),
            padding=1,
        )

    def forward(self, x):
        for layer in self.children():
            x = layer(x)
        return x
