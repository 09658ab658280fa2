"""Inputs and targets of the diagnosis-stage rules (workflow/rules/classify.smk holds only the rules)."""

from __future__ import annotations

from pathlib import Path

from mrisynth.classify.scenarios import IMPUTED_LINEAR, IMPUTED_PREFIX, MULTI_PREFIX
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
    if scenario.startswith(IMPUTED_PREFIX) and scenario != IMPUTED_LINEAR:  # the linear map is fit in classify
        files.append(str(imputation_done(results, scenario[len(IMPUTED_PREFIX):], fold)))
    if scenario.startswith(MULTI_PREFIX):
        files.append(str(imputation_done(results, scenario[len(MULTI_PREFIX):], fold)))
    return files


def classifier_scenarios(classifier: str, scenarios: list[str]) -> list[str]:
    """The scenarios a classifier runs: multiple imputation only for the regional model (K CNN trainings
    would cost K x)."""
    from mrisynth.classify.multiple import CLASSIFIERS as MULTI_CLASSIFIERS

    return [s for s in scenarios if not s.startswith(MULTI_PREFIX) or classifier in MULTI_CLASSIFIERS]


def fold_inputs(classifier: str, scenarios: list[str], fold: int, results: str, subjects: list[CohortSubject]) -> list[str]:
    """Images every scenario of one classifier's fold job reads besides the T1 (deduplicated, sorted)."""
    return sorted({f for s in classifier_scenarios(classifier, scenarios) for f in scenario_inputs(s, fold, results, subjects)})


def prediction_files(results: str, classifiers: list[str], scenarios: list[str], folds: list[int]) -> list[str]:
    return [str(Path(results) / "classify" / c / s / f"fold-{k}" / "predictions.csv")
            for c in classifiers for s in classifier_scenarios(c, scenarios) for k in folds]


def summary_dir(results: str | Path) -> Path:
    return Path(results) / "summary"


def targets(config: dict, results: str) -> list[str]:
    """The scenario table (which needs every classifier's predictions on every scenario and fold)."""
    return [str(summary_dir(results) / "scenarios.csv")]
