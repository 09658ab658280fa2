"""A tiny synthetic cohort on a template-like grid (24^3 at 7.5 mm covering MNI space) with planted group
differences: T1 darker in the hippocampi and PET lower in the posterior cingulate / precuneus as disease
severity grows (NC < sMCI < pMCI < AD). Written where preprocessing would write it.

``lesion=True`` builds the known-signal cohort instead: the T1 is noise with a per-subject intensity scale,
a dark lesion in the RIGHT hippocampus sets the label (every pMCI and AD subject has it, no sMCI or NC
subject does) and a decoy lesion in the left hippocampus, unrelated to the label, is in half of every group
(a left-right flip or a landmark on the decoy shows)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pandas as pd
import yaml

from mrisynth.anatomy import region_mask
from mrisynth.cohort.splits import write_splits
from mrisynth.io.nifti import save_nifti
from mrisynth.preprocess.outputs import subject_paths

RES = 7.5
SHAPE = (24, 28, 24)
AFFINE = np.array([[RES, 0, 0, -86.25], [0, RES, 0, -120.0], [0, 0, RES, -72.0], [0, 0, 0, 1]])
SEVERITY = {"NC": 0.0, "sMCI": 0.35, "pMCI": 0.65, "AD": 1.0}


def build_cohort(root: Path, n_per_group: int = 8, k: int = 3, seed: int = 0, classify: dict | None = None,
                 lesion: bool = False) -> dict:
    """Write manifest, preprocessed images, truth PET, splits and a config under ``root``; return paths."""
    rng = np.random.default_rng(seed)
    results = root / "results"
    ijk = np.indices(SHAPE).reshape(3, -1).T
    xyz = (ijk @ AFFINE[:3, :3].T + AFFINE[:3, 3]).reshape(*SHAPE, 3)
    brain = (((xyz - (0, -18, 18)) / (70, 90, 75)) ** 2).sum(-1) <= 1
    hippo = region_mask(["hippocampus_L", "hippocampus_R"], AFFINE, SHAPE)
    right, left = region_mask("hippocampus_R", AFFINE, SHAPE), region_mask("hippocampus_L", AFFINE, SHAPE)
    pcc = region_mask(["posterior_cingulate", "precuneus"], AFFINE, SHAPE)
    rows = []
    for dx, sev in SEVERITY.items():
        for i in range(n_per_group):
            pid = f"{dx}{i:02d}"
            s = sev + rng.normal(0, 0.1)
            if lesion:
                t1 = (1.0 + rng.normal(0, 0.15, SHAPE)) * brain * rng.uniform(0.9, 1.1)
                t1[right] -= 0.5 * (dx in ("pMCI", "AD"))
                t1[left] -= 0.5 * (i % 2)
            else:
                t1 = (1.0 + rng.normal(0, 0.05, SHAPE)) * brain
                t1[hippo] -= 0.5 * s
            pet = (1.5 + rng.normal(0, 0.05, SHAPE)) * brain
            pet[pcc] -= 0.6 * s
            has_pet = i % 2 == 0
            sp = subject_paths(results, pid, "bl", RES)
            save_nifti(t1.astype(np.float32), AFFINE, sp.t1)
            save_nifti(brain.astype(np.uint8), AFFINE, sp.mask)
            save_nifti(pet.astype(np.float32), AFFINE, sp.pet if has_pet else sp.truth_pet)
            rows.append({"participant_id": pid, "session_id": "bl", "diagnosis": dx, "age": 70, "sex": "F", "site": "A",
                         "t1w": f"/raw/{pid}.nii.gz", "pet": f"/raw/{pid}_pet.nii.gz" if has_pet else ""})
    manifest = results / "manifest" / "manifest.csv"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(manifest, index=False)
    write_splits(manifest, results / "splits", k=k, seed=seed, val_fraction=0.25)
    cfg = {
        "seed": seed, "results": str(results), "preprocess": {"resolution_mm": RES}, "split": {"k": k},
        "classify": classify or {
            "landmarks": {"n": 6, "min_distance_mm": 15, "smooth_fwhm_mm": 0},
            "network": {"patch_sizes": [4, 6], "patch_out": 4, "channels": 4, "features": 8, "epochs": 6,
                        "batch_size": 6, "patience": 3, "jitter_vox": 1, "lr": 0.01},
            # the planted regions plus a control region, so that the separation is certain
            "regional": {"regions": ["hippocampus_L", "hippocampus_R", "posterior_cingulate", "precuneus", "motor_L"]},
            "n_bootstrap": 200,
        },
    }
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    return {"results": results, "manifest": manifest, "config": config, "affine": AFFINE, "shape": SHAPE}


@pytest.fixture
def cohort(tmp_path):
    """The tiny cohort of ``build_cohort`` with default settings."""
    return build_cohort(tmp_path)


@pytest.fixture
def make_cohort(tmp_path):
    """Factory: ``make_cohort(**kwargs)`` -> ``build_cohort(tmp_path, **kwargs)``."""
    return lambda **kw: build_cohort(tmp_path, **kw)
