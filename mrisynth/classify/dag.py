"""File lists for the Snakemake rules of the diagnosis stage (kept here so the rule files hold rules only)."""

from __future__ import annotations

from pathlib import Path

from mrisynth.classify.scenarios import IMPUTED_LINEAR, IMPUTED_PREFIX, MULTI_PREFIX


def preprocessed(results: str, rows: list[dict], resolution_mm: float) -> list[tuple]:
    """(SubjectPaths, has PET) for every manifest row."""
    from mrisynth.preprocess.outputs import subject_paths

    return [(subject_paths(results, r["participant_id"], r["session_id"], resolution_mm),
             bool((r.get("pet") or "").strip())) for r in rows]


def image_inputs(subjects: list[tuple], kind: str) -> list[str]:
    """Preprocessed ``t1`` or ``mask`` of every subject."""
    return [str(getattr(p, kind)) for p, _ in subjects]


def scenario_inputs(scenario: str, fold: int, results: str, subjects: list[tuple]) -> list[str]:
    """Images a scenario reads besides the T1: real PET, hidden true PET, or a model's imputation table."""
    from mrisynth.synthesis.paths import imputation_done

    if scenario == "mri_only":
        return []
    files = [str(p.pet) for p, has in subjects if has]
    if scenario == "mri+true_pet":
        files += [str(p.truth_pet) for p, has in subjects if not has]
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


def fold_inputs(classifier: str, scenarios: list[str], fold: int, results: str, subjects: list[tuple]) -> list[str]:
    """Images every scenario of one classifier's fold job reads besides the T1 (deduplicated, sorted)."""
    return sorted({f for s in classifier_scenarios(classifier, scenarios) for f in scenario_inputs(s, fold, results, subjects)})


def prediction_files(results: str, classifiers: list[str], scenarios: list[str], folds: list[int]) -> list[str]:
    return [str(Path(results) / "classify" / c / s / f"fold-{k}" / "predictions.csv")
            for c in classifiers for s in classifier_scenarios(c, scenarios) for k in folds]
