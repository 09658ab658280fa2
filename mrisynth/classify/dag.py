"""Inputs and targets of the diagnosis-stage rules (workflow/rules/classify.smk holds only the rules)."""

from __future__ import annotations

from pathlib import Path

from mrisynth.classify.scenarios import IMPUTED_LINEAR, IMPUTED_PREFIX, MULTI_PREFIX


def scenario_inputs(scenario: str, fold: int, results: str) -> list[str]:
    """What a scenario reads besides the preprocessed images (real and hidden true PET come with them): a
    model's imputation table."""
    from mrisynth.synthesis.paths import imputation_done

    files = []
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


def fold_inputs(classifier: str, scenarios: list[str], fold: int, results: str) -> list[str]:
    """Imputation tables every scenario of one classifier's fold job reads (deduplicated, sorted)."""
    return sorted({f for s in classifier_scenarios(classifier, scenarios) for f in scenario_inputs(s, fold, results)})


def prediction_files(results: str, classifiers: list[str], scenarios: list[str], folds: list[int]) -> list[str]:
    return [str(Path(results) / "classify" / c / s / f"fold-{k}" / "predictions.csv")
            for c in classifiers for s in classifier_scenarios(c, scenarios) for k in folds]


def summary_dir(results: str | Path) -> Path:
    return Path(results) / "summary"


def targets(config: dict, results: str) -> list[str]:
    """The scenario table (which needs every classifier's predictions on every scenario and fold)."""
    return [str(summary_dir(results) / "scenarios.csv")]
