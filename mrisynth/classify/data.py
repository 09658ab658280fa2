"""The classifier's inputs: training populations and image stacks on the template grid (the cohort table,
labels and tasks are :mod:`mrisynth.cohort.table`'s)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mrisynth.errors import InputError

#: training populations: which diagnoses train the classifier, as (positives, negatives)
POPULATIONS = {
    "mci": ({"pMCI"}, {"sMCI"}),
    "ad_nc": ({"AD"}, {"NC"}),  # transferred to MCI at test time, as in LDMIL / LM3IL
    "all": ({"AD", "pMCI"}, {"NC", "sMCI"}),
}


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
    from mrisynth.cohort.subjects import cohort_subjects

    return {pid: s.paths for pid, s in cohort_subjects(results, cohort, resolution_mm).items()}
