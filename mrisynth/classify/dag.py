"""Inputs and targets of the diagnosis-stage rules (workflow/rules/classify.smk holds only the rules)."""

from __future__ import annotations

from pathlib import Path

from mrisynth.classify.scenarios import IMPUTED_PREFIX, MULTI_PREFIX
from mrisynth.cohort.subjects import CohortSubject


def image_inputs(subjects: list[CohortSubject], kind: str) -> list[str]:
    """Preprocessed ``t1`` or ``mask`` of every subject."""
    return [str(getattr(s.paths, kind)) for s in subjects]


def scenario_inputs(scenario: str, fold: int, results: str, subjects: list[CohortSubject]) -> list[str]:
    """Images a scenario reads besides the T1: real PET, hidden true PET, or a model's imputation table."""
    from mrisynth.synthesis.paths import imputation_done

    if scenario == "mri_only":
        return []
    files = [str(s.paths.pet) for s in subjects if s.has_pet]
    if scenario == "mri+true_pet":
        files += [str(s.paths.truth_pet) for s in subjects if not s.has_pet]
    if scenario.startswith(IMPUTED_PREFIX):
        files.append(str(imputation_done(results, scenario[len(IMPUTED_PREFIX):], fold)))
    if scenario.startswith(MULTI_PREFIX):
        files.append(str(imputation_done(results, scenario[len(MULTI_PREFIX):], fold)))
    return files


def prediction_files(results: str, classifiers: list[str], scenarios: list[str], folds: list[int]) -> list[str]:
    from mrisynth.classify.multiple import CLASSIFIERS as MULTI_CLASSIFIERS

    return [str(Path(results) / "classify" / c / s / f"fold-{k}" / "predictions.csv")
            for c in classifiers for s in scenarios for k in folds
            if not s.startswith(MULTI_PREFIX) or c in MULTI_CLASSIFIERS]  # K CNN trainings would cost K x


def summary_dir(results: str | Path) -> Path:
    return Path(results) / "summary"


def targets(config: dict, results: str) -> list[str]:
    """The scenario table (which needs every classifier's predictions on every scenario and fold)."""
    return [str(summary_dir(results) / "scenarios.csv")]
