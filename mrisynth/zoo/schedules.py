"""LR schedules shared by the image-to-image models."""

from __future__ import annotations

import torch


def linear_decay(optimizer: torch.optim.Optimizer, constant_steps: int, decay_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """junyanz's 'linear' policy, counted in steps: the initial LR for ``constant_steps``, then linearly
    down to 0 over ``decay_steps`` (LR factor ``1 - (t - constant_steps) / (decay_steps + 1)``, floored at 0)."""

    def factor(t: int) -> float:
        return max(0.0, 1.0 - max(0, t - constant_steps) / float(decay_steps + 1))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
