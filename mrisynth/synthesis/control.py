"""Negative control of synthesis: training pairs shuffled between subjects.

A generator trained on T1 / PET pairs whose PET belongs to another training subject can learn the
population's PET and whatever T1 -> PET relation holds for everybody, but nothing that is specific to a
subject's own MRI. It must not beat the linear map on held-out subjects; if it does, the evaluation (not
the subject's MRI) produces the gain. :func:`shuffled_results` builds a results tree for one fold in which
every training subject's PET is another training subject's (a derangement); T1, masks, validation and test
subjects are the originals, linked, not copied. Benchmarks train on it and score against the true tree.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np


def derangement(n: int, rng: np.random.Generator, values: np.ndarray | None = None,
                max_corr: float | None = None) -> np.ndarray:
    """A random permutation of 0..n-1 with no fixed point (n >= 2), by rejection (about e tries). With
    ``values`` and ``max_corr``: also |Pearson r(values, values[perm])| <= max_corr (a random derangement of
    ~20 subjects can keep e.g. the disease stage aligned by chance, r 0.25 measured, which leaves a diluted
    true signal in the shuffled pairs)."""
    if n < 2:
        raise ValueError(f"a derangement needs at least 2 elements, got {n}")
    for _ in range(100_000):
        perm = rng.permutation(n)
        if np.any(perm == np.arange(n)):
            continue
        if values is None or max_corr is None or abs(np.corrcoef(values, values[perm])[0, 1]) <= max_corr:
            return perm
    raise ValueError(f"no derangement with |r| <= {max_corr} in 100000 tries")


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    os.symlink(os.path.abspath(src), dst)


def shuffled_results(results: Path, manifest: Path, split_path: Path, resolution_mm: float, out: Path,
                     seed: int, shuffle: bool = True, max_stage_corr: float | None = None) -> dict[str, str]:
    """Write ``out``: a results tree for the fold of ``split_path`` with shuffled training PET; returns
    {training subject: the subject whose PET it now has}. ``shuffle=False``: the same tree with the true
    pairs (the control's twin, trained the same way). ``max_stage_corr``: the derangement keeps the disease
    stages of MRI and PET uncorrelated up to this |r|."""
    from mrisynth.cohort.table import DISEASE_STAGE
    from mrisynth.synthesis.subjects import fold_subjects

    fs = fold_subjects(results, manifest, split_path, resolution_mm)
    if out.exists():
        shutil.rmtree(out)
    for sub in ("manifest", "splits"):
        shutil.copytree(results / sub, out / sub)
    for tree in ("preprocess", "preprocess_truth"):
        for path in (results / tree).rglob("*"):
            if path.is_file():
                _link(path, out / path.relative_to(results))
    stages = np.array([DISEASE_STAGE[s.diagnosis] for s in fs.train])
    perm = (derangement(len(fs.train), np.random.default_rng(seed), stages, max_stage_corr) if shuffle
            else np.arange(len(fs.train)))
    partner = {}
    for s, k in zip(fs.train, perm):
        other = fs.train[k]
        for kind in ("pet", "pet_json"):
            _link(getattr(other.paths, kind), out / Path(getattr(s.paths, kind)).relative_to(results))
        partner[s.participant_id] = other.participant_id
    return partner
