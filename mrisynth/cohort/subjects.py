"""Each subject's preprocessed files and whether it has a real PET: the one list every stage builds on.

The Snakemake rules build it from the raw manifest rows when the DAG is built (:func:`manifest_subjects`);
commands build it from the validated manifest's cohort table (:func:`cohort_subjects`). File names come
from :func:`mrisynth.preprocess.outputs.subject_paths`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mrisynth.preprocess.outputs import SubjectPaths, subject_paths


@dataclass(frozen=True)
class CohortSubject:
    participant_id: str
    session_id: str
    has_pet: bool
    paths: SubjectPaths


def manifest_subjects(results: str | Path, rows: list[dict], resolution_mm: float) -> list[CohortSubject]:
    """One entry per raw manifest row (every session), in manifest order."""
    return [CohortSubject(r["participant_id"], r["session_id"], bool((r.get("pet") or "").strip()),
                          subject_paths(results, r["participant_id"], r["session_id"], resolution_mm))
            for r in rows]


def cohort_subjects(results: str | Path, cohort: pd.DataFrame, resolution_mm: float) -> dict[str, CohortSubject]:
    """participant_id -> its entry, for the cohort table of :func:`mrisynth.cohort.table.read_cohort`."""
    return {r.participant_id: CohortSubject(r.participant_id, r.session_id, bool(r.has_pet),
                                            subject_paths(results, r.participant_id, r.session_id, resolution_mm))
            for r in cohort.itertuples()}
