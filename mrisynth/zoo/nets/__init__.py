"""Dimension-agnostic networks (``spatial_dims`` 2 or 3) built from MONAI's layer factories."""

from mrisynth.zoo.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from mrisynth.zoo.nets.init import init_weights
from mrisynth.zoo.nets.patchgan import PatchGAN
from mrisynth.zoo.nets.pool import ImagePool
from mrisynth.zoo.nets.resnet import ResnetGenerator, SlabConv
from mrisynth.zoo.nets.unet import UnetGenerator

__all__ = [
    "DCGANDiscriminator",
    "DCGANGenerator",
    "ImagePool",
    "PatchGAN",
    "ResnetGenerator",
    "SlabConv",
    "UnetGenerator",
    "init_weights",
]
