"""A tiny valid cohort (small NIfTIs + manifest) in a temp folder, for the io and cohort-report tests."""

from pathlib import Path

import numpy as np
import pytest

from mrisynth.io.nifti import save_nifti

HEADER = "participant_id,session_id,diagnosis,age,sex,site,t1w,pet"
# (participant, diagnosis, age, sex, site, has PET)
SUBJECTS = [
    ("sub-01", "NC", 70, "F", "A", True),
    ("sub-02", "sMCI", 72.5, "M", "A", False),
    ("sub-03", "pMCI", 75, "F", "B", True),
    ("sub-04", "AD", 78, "M", "B", False),
    ("sub-05", "AD", 80, "F", "B", True),
]
T1_AFFINE = np.diag([1.5, 1.5, 2.0, 1.0])
PET_AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])


def random_volume(seed: int, shape=(10, 12, 8)) -> np.ndarray:
    return np.random.default_rng(seed).normal(100, 20, size=shape).astype(np.float32)


@pytest.fixture
def tiny_cohort(tmp_path: Path) -> Path:
    """``tmp_path/cohort/manifest.csv`` with relative paths to 5 T1s and 3 PETs (10x12x8 / 8^3 voxels)."""
    root = tmp_path / "cohort"
    lines = [HEADER]
    for i, (pid, dx, age, sex, site, has_pet) in enumerate(SUBJECTS):
        t1 = f"raw/{pid}_T1w.nii.gz"
        save_nifti(random_volume(i), T1_AFFINE, root / t1)
        pet = ""
        if has_pet:
            pet = f"raw/{pid}_pet.nii.gz"
            save_nifti(random_volume(100 + i, (8, 8, 8)), PET_AFFINE, root / pet)
        lines.append(f"{pid},bl,{dx},{age},{sex},{site},{t1},{pet}")
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return root / "manifest.csv"
