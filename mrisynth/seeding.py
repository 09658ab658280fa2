"""One seed for everything: python, numpy, torch and MONAI, and deterministic CPU kernels."""

from __future__ import annotations

import os
import random
import sys

import numpy as np


def seed_everything(seed: int) -> np.random.Generator:
    """Seed every RNG the project uses and return a fresh numpy Generator from the same seed."""
    import torch

    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if "monai" in sys.modules:  # MONAI's own seed (its DataLoader workers, get_seed) matters only where MONAI is used
        from monai.utils import set_determinism

        set_determinism(seed=seed)
    else:  # what set_determinism does besides the seeds above (importing MONAI costs ~2.4 CPU-s per process)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    torch.use_deterministic_algorithms(True, warn_only=True)
    return np.random.default_rng(seed)
