"""One seed for everything: python, numpy, torch and MONAI, and deterministic CPU kernels."""

from __future__ import annotations

import os
import random

import numpy as np


def seed_everything(seed: int) -> np.random.Generator:
    """Seed every RNG the project uses and return a fresh numpy Generator from the same seed."""
    import torch
    from monai.utils import set_determinism

    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    set_determinism(seed=seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    return np.random.default_rng(seed)
