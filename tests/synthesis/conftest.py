"""A tiny preprocessed cohort on a 24^3 grid: T1, brain mask and SUVR PET written where preprocessing
puts them, hidden true PET for the PET-less subjects, a validated-style manifest and split files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.ndimage import gaussian_filter

from mrisynth.cohort.splits import write_splits
from mrisynth.config import load_config
from mrisynth.io.nifti import save_nifti
from mrisynth.preprocess.outputs import subject_paths

SHAPE = (24, 24, 24)
AFFINE = np.diag([3.0, 3.0, 3.0, 1.0])
AFFINE[:3, 3] = [-36.0, -40.0, -30.0]


def subject_volumes(rng: np.random.Generator, severity: float):
    """(t1, mask, pet): PET is a smooth function of T1 tissue plus a severity-dependent regional dip."""
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in SHAPE], indexing="ij"))
    mask = ((grid**2).sum(0) < 0.8).astype(np.uint8)
    tissue = gaussian_filter(rng.normal(size=SHAPE), 1.5)
    tissue = (tissue - tissue.min()) / (tissue.max() - tissue.min())
    t1 = np.where(mask > 0, 0.2 + 0.8 * tissue, 0.0).astype(np.float32)
    dip = severity * np.exp(-((grid[0] - 0.3) ** 2 + grid[1] ** 2 + grid[2] ** 2) / 0.1)
    pet = (0.3 + np.where(mask > 0, 1.5 * tissue * (1 - 0.5 * dip) + 0.3, 0.0)
           + 0.02 * rng.normal(size=SHAPE)).astype(np.float32)
    return t1, mask, np.clip(pet, 0, None)


def make_cohort(root, n: int = 12, k: int = 2, seed: int = 0):
    results = root / "results"
    rng = np.random.default_rng(seed)
    diagnoses = ["NC", "sMCI", "pMCI", "AD"]
    rows = []
    for i in range(n):
        pid, dx = f"{i:03d}", diagnoses[i % 4]
        has_pet = i % 3 != 2
        paths = subject_paths(results, pid, "M00", 3.0)
        t1, mask, pet = subject_volumes(rng, diagnoses.index(dx) / 3)
        save_nifti(t1, AFFINE, paths.t1, dtype=np.float32)
        save_nifti(mask, AFFINE, paths.mask, dtype=np.uint8)
        save_nifti(pet, AFFINE, paths.pet if has_pet else paths.truth_pet, dtype=np.float32)
        rows.append({"participant_id": pid, "session_id": "M00", "diagnosis": dx, "age": 70.0, "sex": "F",
                     "site": "A", "t1w": f"/raw/{pid}_T1w.nii.gz", "pet": f"/raw/{pid}_pet.nii.gz" if has_pet else ""})
    manifest = results / "manifest" / "manifest.csv"
    manifest.parent.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(manifest, index=False)
    write_splits(manifest, results / "splits", k, seed, 0.25)
    return results, manifest


TINY_NETS = {"pix2pix": {"ngf": 4, "ndf": 4, "num_downs": 3, "n_layers": 2, "g_norm": "instance", "d_norm": "instance"},
             "cyclegan": {"ngf": 4, "ndf": 4, "n_blocks": 1, "n_layers": 2, "pool_size": 4}}


def tiny_config(results, models: dict | None = None, **synthesis) -> dict:
    """Schema defaults with tiny pix2pix / cyclegan sections (4 steps, 16^3 patches); ``models`` entries are
    merged into those sections (``net`` keywords one by one), other keywords set shared synthesis keys."""
    sections = {m: {"steps": 4, "patch_size": 16, "net": dict(net)} for m, net in TINY_NETS.items()}
    for name, extra in (models or {}).items():
        section = sections.setdefault(name, {})
        section.update({k: v for k, v in extra.items() if k != "net"})
        section["net"] = {**section.get("net", {}), **extra.get("net", {})}
    cfg = load_config(None, overrides={"results": str(results), "preprocess": {"resolution_mm": 3.0},
                                       "split": {"k": 2, "val_fraction": 0.25}, "synthesis": {"models": sections}})
    sc = cfg["synthesis"]
    sc.update(validate_every=2, checkpoint_every=2, val_subjects=2)
    sc["evaluation"].update(encoder_steps=5, encoder_downsample=1, kid_subsets=3, figure_subjects=2)
    sc.update(synthesis)
    return cfg


def results_root(results, root):
    """A new results folder at ``root`` sharing the cohort's inputs (preprocessing, manifest, splits) by
    symlink, so a test can train a model of a fold a second time without touching the first run's outputs."""
    root.mkdir(parents=True)
    for name in ("preprocess", "preprocess_truth", "manifest", "splits"):
        if (results / name).exists():
            (root / name).symlink_to(results / name)
    return root


@pytest.fixture(scope="session")
def cohort(tmp_path_factory):
    return make_cohort(tmp_path_factory.mktemp("synthesis_cohort"))
