"""Which subjects of a fold the synthesis stage uses, and for what.

- training: train split, real PET present (both modalities);
- validation: val split, real PET present (validation curve, best checkpoint);
- imputation: every subject of the fold without a real PET, and every test subject;
- evaluation: test subjects, against their real PET or (phantom) their hidden true PET.

The networks and the intensity mapping only ever see training subjects; :func:`fold_subjects` checks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mrisynth.errors import InputError


@dataclass(frozen=True)
class Subject:
    participant_id: str
    session_id: str
    diagnosis: str
    has_pet: bool
    split: str  # train | val | test
    paths: object  # mrisynth.preprocess.outputs.SubjectPaths


@dataclass(frozen=True)
class FoldSubjects:
    fold: int
    train: list[Subject]  # with real PET
    val: list[Subject]  # with real PET
    impute: list[Subject]  # without real PET (any split) + every test subject
    test: list[Subject]  # every test subject

    @property
    def labelled(self) -> list[Subject]:
        """Every training-split subject, PET or not: the MRIs whose diagnosis may teach a model (never a
        validation or test subject)."""
        return self.train + [s for s in self.impute if s.split == "train"]

    def check_no_leak(self) -> None:
        test_ids = {s.participant_id for s in self.test}
        leaked = sorted(test_ids & {s.participant_id for s in self.train + self.val})
        if leaked:
            raise InputError(f"fold {self.fold}: test subject(s) {leaked} would be used for training")


def fold_subjects(results: str | Path, manifest: str | Path, split_path: str | Path, resolution_mm: float) -> FoldSubjects:
    """Subjects of one fold, from the validated manifest and the fold file (``load_split`` checks leaks)."""
    from mrisynth.cohort.table import read_cohort
    from mrisynth.cohort.splits import load_split
    from mrisynth.preprocess.outputs import subject_paths

    split = load_split(split_path)
    cohort: pd.DataFrame = read_cohort(manifest)
    unknown = sorted(set(split.train + split.val + split.test) - set(cohort["participant_id"]))
    if unknown:
        raise InputError(f"split file {split_path}: participant(s) {unknown[:5]} are not in the manifest {manifest}")
    subjects = {}
    for r in cohort.itertuples():
        name = split.split_of(r.participant_id)
        if name is None:
            continue
        subjects[r.participant_id] = Subject(
            r.participant_id, r.session_id, r.diagnosis, bool(r.has_pet), name,
            subject_paths(results, r.participant_id, r.session_id, resolution_mm),
        )
    ordered = [subjects[p] for p in sorted(subjects)]
    out = FoldSubjects(
        fold=split.fold,
        train=[s for s in ordered if s.split == "train" and s.has_pet],
        val=[s for s in ordered if s.split == "val" and s.has_pet],
        impute=[s for s in ordered if not s.has_pet or s.split == "test"],
        test=[s for s in ordered if s.split == "test"],
    )
    out.check_no_leak()
    if len(out.train) < 2:
        raise InputError(f"fold {split.fold}: only {len(out.train)} training subject(s) have both T1 and PET; need >= 2")
    return out


def require_files(subjects: list[Subject], *kinds: str) -> None:
    """InputError naming the first missing preprocessing output (``t1``, ``mask``, ``pet``, ``truth_pet``)."""
    missing = [(s, k) for s in subjects for k in kinds if not Path(getattr(s.paths, k)).exists()]
    if missing:
        s, k = missing[0]
        raise InputError(f"sub-{s.participant_id}: preprocessed {k} {getattr(s.paths, k)} does not exist "
                         f"({len(missing)} file(s) missing; did preprocessing run?)")


def reference_pet(s: Subject) -> tuple[str | Path, str] | None:
    """(path, "real" | "truth") of the PET a test subject's synthetic PET is scored against: its real PET,
    else the phantom's hidden true PET; None for a real cohort's PET-less subject (nothing to compare)."""
    if s.has_pet:
        return s.paths.pet, "real"
    if Path(s.paths.truth_pet).exists():
        return s.paths.truth_pet, "truth"
    return None
