"""Layer helpers over MONAI's factories: the same code builds 2D and 3D nets."""

from __future__ import annotations

from monai.networks.layers.factories import Conv, Dropout, Norm
from torch import nn

NORMS = ("batch", "instance", "none")


def conv(spatial_dims: int, *args, **kwargs) -> nn.Module:
    return Conv[Conv.CONV, spatial_dims](*args, **kwargs)


def conv_transpose(spatial_dims: int, *args, **kwargs) -> nn.Module:
    return Conv[Conv.CONVTRANS, spatial_dims](*args, **kwargs)


def dropout(spatial_dims: int, p: float) -> nn.Module:
    return Dropout[Dropout.DROPOUT, spatial_dims](p)


def norm(name: str, spatial_dims: int, channels: int) -> nn.Module:
    """junyanz's choices: batch (affine, running stats), instance (no affine, no running stats), none."""
    if name == "batch":
        return Norm[Norm.BATCH, spatial_dims](channels, affine=True, track_running_stats=True)
    if name == "instance":
        return Norm[Norm.INSTANCE, spatial_dims](channels, affine=False, track_running_stats=False)
    if name == "none":
        return nn.Identity()
    raise ValueError(f"norm must be one of {NORMS}, got {name!r}")


def uses_bias(norm_name: str) -> bool:
    """A conv followed by batch norm needs no bias (the norm's shift replaces it)."""
    return norm_name != "batch"


def reflection_pad(spatial_dims: int, padding: int) -> nn.Module:
    # MONAI's Pad factory has no reflection padding
    return (nn.ReflectionPad1d, nn.ReflectionPad2d, nn.ReflectionPad3d)[spatial_dims - 1](padding)


def check_dims(spatial_dims: int) -> int:
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    return spatial_dims
