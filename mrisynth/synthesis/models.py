"""The zoo's Pix2Pix and CycleGAN and the FGAN (+ its ablation), built in 3D from their settings
(:mod:`mrisynth.synthesis.settings`), and the MRI -> PET generator of each."""

from __future__ import annotations

import torch
from torch import nn


def model_class(name: str) -> type:
    """The class of model ``name`` (zoo classes imported directly: the synthesis stage needs no other zoo model)."""
    from mrisynth.synthesis.settings import ABLATIONS

    name = ABLATIONS[name][0] if name in ABLATIONS else name
    if name == "pix2pix":
        from mrisynth.zoo.models.pix2pix import Pix2Pix

        return Pix2Pix
    if name == "cyclegan":
        from mrisynth.zoo.models.cyclegan import CycleGAN

        return CycleGAN
    if name == "fgan":
        from mrisynth.synthesis.fgan import FGAN

        return FGAN
    raise ValueError(f"unknown synthesis model {name!r}")


def build(name: str, kwargs: dict):
    return model_class(name)(**kwargs)


def input_multiple(name: str, kwargs: dict) -> int:
    """Input sides must be multiples of this (U-Net: 2**num_downs; ResNet generator: 4)."""
    import inspect

    defaults = {}  # FGAN passes the Pix2Pix keywords on: collect defaults along the class hierarchy
    for cls in reversed(model_class(name).__mro__):
        if "__init__" in vars(cls):
            defaults.update({k: p.default for k, p in inspect.signature(cls).parameters.items()
                             if p.default is not inspect.Parameter.empty})
    params = {**defaults, **kwargs}
    return 2 ** int(params["num_downs"]) if params["generator"] == "unet" else 4


def generator(model, ema: bool = True) -> nn.Module:
    """The MRI -> PET generator (A = MRI, B = PET); its EMA copy when the trainer keeps one."""
    name = "G" if "G" in model.nets else "G_AB"
    return model.net_for_sampling(name) if ema else model.nets[name]


def load_generator(checkpoint: dict) -> tuple[nn.Module, dict]:
    """Rebuild the model saved in ``best.pt`` and return (generator with the saved weights, checkpoint)."""
    model = build(checkpoint["model"], checkpoint["kwargs"])
    net = generator(model, ema=False)
    net.load_state_dict(checkpoint["generator"])
    return net.eval(), checkpoint


def to_fast_layout(net: nn.Module) -> nn.Module:
    for p in net.parameters():
        if p.dim() == 5:
            p.data = p.data.contiguous(memory_format=torch.channels_last_3d)
    return net
