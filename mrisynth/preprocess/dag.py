"""Inputs, wildcard patterns and targets of the preprocessing rules (workflow/rules/preprocess.smk holds
only the rules). Subjects are keyed by (participant, session) without the BIDS prefixes; a subject is any
object with ``participant_id``, ``session_id``, ``has_pet`` and ``paths`` (the cohort stage's
:class:`~mrisynth.cohort.subjects.CohortSubject`, which sits above this module)."""

from __future__ import annotations

import re
from pathlib import Path

from mrisynth.preprocess.outputs import qc_summary_paths, strip_prefix


def subject_key(s) -> tuple[str, str]:
    return strip_prefix(s.participant_id, "sub"), strip_prefix(s.session_id, "ses")


def subjects_regex(subjects: list) -> str:
    """Regex for the {sub} wildcard that matches only these subjects' (participant, session) pairs.

    The first {sub} of every output path is the folder sub-<id>/ses-<s>/, so a lookahead on the
    session there tells subjects with and without PET apart even when one participant has both.
    """
    alternatives = [f"{re.escape(p)}(?=/ses-{re.escape(t)}/)" for p, t in map(subject_key, subjects)]
    return "|".join(alternatives) or "(?!)"


def manifest_input(rows: list[dict], manifest_dir: Path, column: str):
    """Input function: the raw file of ``column`` (t1w, pet) of the wildcards' subject, manifest-relative or absolute."""
    by_key = {(strip_prefix(r["participant_id"], "sub"), strip_prefix(r["session_id"], "ses")): r for r in rows}

    def get(wildcards):
        value = by_key[(wildcards.sub, wildcards.ses)][column].strip()
        return value if Path(value).is_absolute() else str(Path(manifest_dir) / value)

    return get


def truth_pet_input(truth_dir: str | Path):
    """Input function: the phantom's hidden true PET of the wildcards' subject, where
    :mod:`mrisynth.phantom.build` writes it (same layout as the raw PET)."""

    def get(wildcards):
        from types import SimpleNamespace

        from mrisynth.phantom.build import image_path

        return str(image_path(truth_dir, SimpleNamespace(participant_id=wildcards.sub, session_id=wildcards.ses), "pet"))

    return get


def targets(results: str, subjects: list, phantom: bool) -> list[str]:
    """Cohort QC outputs (which need every subject) and, for the phantom, the preprocessed true PETs."""
    out = [str(p) for p in qc_summary_paths(results).values()]
    if phantom:
        out += [str(s.paths.truth_pet) for s in subjects if not s.has_pet]
    return out
