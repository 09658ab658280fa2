"""The classifier's inputs: the cohort table, labels per task, and image stacks on the template grid.

One session per participant (the first listed in the manifest, i.e. baseline). Labels: positive = the
converting / demented group (pMCI, AD), negative = sMCI, NC. The primary task is pMCI vs sMCI; AD vs NC
is the secondary task, evaluated on the AD and NC test subjects of the same folds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mrisynth.errors import InputError

#: task name -> (positive diagnosis, negative diagnosis)
TASKS = {"pMCI_vs_sMCI": ("pMCI", "sMCI"), "AD_vs_NC": ("AD", "NC")}
POSITIVE = {"pMCI", "AD"}

#: training populations: which diagnoses train the classifier, as (positives, negatives)
POPULATIONS = {
    "mci": ({"pMCI"}, {"sMCI"}),
    "ad_nc": ({"AD"}, {"NC"}),  # transferred to MCI at test time, as in LDMIL / LM3IL
    "all": ({"AD", "pMCI"}, {"NC", "sMCI"}),
}


def read_cohort(manifest_path: str | Path) -> pd.DataFrame:
    """participant_id, session_id, diagnosis, has_pet, label, task: one row per participant."""
    path = Path(manifest_path)
    if not path.exists():
        raise InputError(f"manifest {path} does not exist")
    table = pd.read_csv(path, dtype={"participant_id": str, "session_id": str, "pet": str})
    missing = {"participant_id", "session_id", "diagnosis", "pet"} - set(table.columns)
    if missing:
        raise InputError(f"manifest {path} lacks column(s) {sorted(missing)}")
    cohort = table.groupby("participant_id", sort=True).first().reset_index()
    cohort["has_pet"] = cohort["pet"].fillna("").astype(str).str.strip() != ""
    cohort["label"] = cohort["diagnosis"].isin(POSITIVE).astype(int)
    task_of = {dx: task for task, pair in TASKS.items() for dx in pair}
    unknown = sorted(set(cohort["diagnosis"]) - set(task_of))
    if unknown:
        raise InputError(f"manifest {path}: unknown diagnosis {unknown}; expected one of {sorted(task_of)}")
    cohort["task"] = cohort["diagnosis"].map(task_of)
    return cohort[["participant_id", "session_id", "diagnosis", "has_pet", "label", "task"]]


def in_population(cohort: pd.DataFrame, population: str) -> pd.Series:
    pos, neg = POPULATIONS[population]
    return cohort["diagnosis"].isin(pos | neg)


def load_stack(paths: list[Path], what: str) -> tuple[np.ndarray, np.ndarray]:
    """Stack volumes (N, X, Y, Z) float32; every one must be on the grid of the first (shape and affine)."""
    from mrisynth.io.nifti import load_nifti

    if not paths:
        raise InputError(f"no {what} images to load")
    arrays, affine = [], None
    for p in paths:
        if not Path(p).exists():
            raise InputError(f"{what} image {p} does not exist (did preprocessing / synthesis run?)")
        img = load_nifti(p)
        if affine is None:
            affine, shape = img.affine, img.shape
        elif img.shape != shape or not np.allclose(img.affine, affine, atol=1e-3):
            raise InputError(f"{what} image {p}: grid {img.shape} differs from {paths[0]} {shape}; "
                             "all preprocessed images must share the template grid")
        arrays.append(np.asarray(img.dataobj, dtype=np.float32))
    return np.stack(arrays), np.asarray(affine)


def subject_images(results: str | Path, cohort: pd.DataFrame, resolution_mm: float) -> dict:
    """participant_id -> preprocessing derivative paths (``mrisynth.preprocess.outputs.SubjectPaths``)."""
    from mrisynth.preprocess.outputs import subject_paths

    return {r.participant_id: subject_paths(results, r.participant_id, r.session_id, resolution_mm)
            for r in cohort.itertuples()}
