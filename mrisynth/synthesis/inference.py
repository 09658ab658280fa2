"""Generator inference on whole volumes: one padded forward where it fits, MONAI sliding windows with
Gaussian blending where it does not.

At 2-3 mm template size a whole-volume forward is both cheaper (overlapping windows redo 2x the work) and
more faithful (InstanceNorm statistics of the whole brain, no seams): notes/performance-baseline.md,
section 5. The fast path (bf16 autocast + channels_last_3d on CPU) is the default, as in training.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from mrisynth.synthesis.data import crop_like, pad_to_multiple


@dataclass(frozen=True)
class InferenceConfig:
    multiple: int = 16  # the generator's input sizes must be multiples of this
    max_whole_voxels: int = 8_000_000  # larger (padded) volumes go through sliding windows
    roi_size: int = 64
    overlap: float = 0.25
    sw_batch_size: int = 2
    fast: bool = True  # bf16 autocast + channels_last_3d (CPU); fp32 contiguous otherwise


def _context(fast: bool, device: torch.device):
    if fast and device.type == "cpu":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    if fast and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def _layout(x: torch.Tensor, fast: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last_3d) if fast else x.contiguous()


def whole_volume(generator: nn.Module, x: torch.Tensor, cfg: InferenceConfig) -> torch.Tensor:
    """(N, 1, X, Y, Z) in -> same shape out: replicate-pad to ``cfg.multiple``, one forward, crop."""
    padded, size = pad_to_multiple(x, cfg.multiple)
    with torch.inference_mode(), _context(cfg.fast, x.device):
        y = generator(_layout(padded, cfg.fast))
    return crop_like(y.float(), size).contiguous()


def sliding_window(generator: nn.Module, x: torch.Tensor, cfg: InferenceConfig) -> torch.Tensor:
    """MONAI ``SlidingWindowInferer`` (Gaussian blending, replicate padding) with ``cfg.roi_size``^3 windows."""
    from monai.inferers import SlidingWindowInferer

    roi = max(cfg.multiple, cfg.roi_size - cfg.roi_size % cfg.multiple)
    inferer = SlidingWindowInferer(roi_size=(roi,) * 3, sw_batch_size=cfg.sw_batch_size, overlap=cfg.overlap,
                                   mode="gaussian", padding_mode="replicate", progress=False)

    def forward(window: torch.Tensor) -> torch.Tensor:
        with _context(cfg.fast, window.device):
            return generator(_layout(window, cfg.fast)).float()

    with torch.inference_mode():
        return inferer(x.contiguous(), forward).float().contiguous()


def predict(generator: nn.Module, x: torch.Tensor, cfg: InferenceConfig, mc_dropout: bool = False) -> tuple[torch.Tensor, str]:
    """Whole-volume forward if the padded volume has at most ``cfg.max_whole_voxels`` voxels, else sliding
    windows; returns (output, method name). ``mc_dropout``: dropout layers keep sampling (test-time dropout)."""
    padded = 1
    for n in x.shape[-3:]:
        padded *= n + (-n) % cfg.multiple
    was_training = generator.training
    generator.eval()
    if mc_dropout:
        from mrisynth.zoo.nets.noise import enable_dropout

        enable_dropout(generator)
    try:
        if padded <= cfg.max_whole_voxels:
            return whole_volume(generator, x, cfg), "whole"
        return sliding_window(generator, x, cfg), "sliding"
    finally:
        generator.train(was_training)
