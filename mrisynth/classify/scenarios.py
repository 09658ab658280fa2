"""Scenarios: which PET (if any) each subject brings to the classifier.

- ``mri_only``: T1 only, every subject.
- ``mri+real_pet``: complete cases only. Train, validation AND test are restricted to the subjects that
  have a real PET, so this scenario is evaluated on the test subjects with PET (a subset of the others').
- ``mri+zero_fill``: real PET where present, an all-zero PET channel (after normalisation) where missing.
- ``mri+mean_pet``: real PET where present, the mean real PET of the fold's training subjects elsewhere.
- ``mri+true_pet`` (phantom only): real PET where present, the hidden true PET (preprocessed, under
  ``results/preprocess_truth/``) elsewhere: the upper bound of what imputation could give.
- ``mri+imputed_<model>``: real PET where present, the PET that synthesis model imputed (in this fold,
  never trained on test subjects) elsewhere.
- ``mri+imputed_linear`` (whenever a synthesis model is configured): real PET where present, elsewhere the
  voxelwise linear map of the subject's T1 (PET = a + b * T1 per voxel, least squares over the fold's
  training subjects with a real PET: the synthesis evaluation's ``linear_regression`` baseline). The
  simplest imputation from MRI: the row each ``mri+imputed_<model>`` is tested against.
- ``mri+multi_imputed_<model>`` (models with ``synthesis.models.<model>.samples`` >= 2): as above with each of the K
  imputed draws in turn, pooled with Rubin's rules (:mod:`mrisynth.classify.multiple`; regional classifier).

Every scenario except ``mri+real_pet`` uses the same training, validation and test subjects.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mrisynth.errors import InputError

BASE_SCENARIOS = ("mri_only", "mri+real_pet", "mri+zero_fill", "mri+mean_pet", "mri+true_pet")
IMPUTED_PREFIX = "mri+imputed_"
MULTI_PREFIX = "mri+multi_imputed_"

#: markers in a PET plan for subjects without a PET file
ZERO, MEAN, LINEAR = "zero", "mean", "linear"
#: the scenario of the voxelwise linear T1 -> PET imputation
IMPUTED_LINEAR = IMPUTED_PREFIX + "linear"


def scenario_names(cfg: dict) -> list[str]:
    """The scenarios the pipeline runs: the configured base ones (``mri+true_pet`` only for the phantom)
    and one imputed scenario per synthesis model (+ a multiply imputed one per model with K >= 2 draws)."""
    from mrisynth.synthesis.settings import configured_models, sampled_models

    names = [s for s in cfg["classify"]["scenarios"] if s != "mri+true_pet" or cfg["cohort"] == "phantom"]
    multi = [MULTI_PREFIX + m for m in sampled_models(cfg)]
    linear = [IMPUTED_LINEAR] if configured_models(cfg) else []
    return names + linear + [IMPUTED_PREFIX + m for m in configured_models(cfg)] + multi


def imputed_pet(results: str | Path, model: str, fold: int, participant: str, session: str, resolution_mm: float) -> Path:
    """The PET imputed by ``model`` in ``fold`` for one subject (``...desc-synth<model>_pet.nii.gz``)."""
    from mrisynth.synthesis.paths import imputed_pet_path

    path = imputed_pet_path(results, model, fold, participant, session, resolution_mm)
    if not path.exists():
        raise InputError(f"scenario {IMPUTED_PREFIX}{model}, fold {fold}: imputed PET {path} does not exist "
                         "(did `mrisynth impute` run?)")
    return path


def pet_plan(scenario: str, cohort: pd.DataFrame, images: dict, results: str | Path, fold: int,
             resolution_mm: float) -> tuple[pd.DataFrame, list | None]:
    """(subjects the scenario uses, PET source per subject or None for MRI only).

    A source is a file path, ``ZERO``, ``MEAN`` or ``LINEAR``. ``images`` maps participant_id -> SubjectPaths.
    """
    if scenario == "mri_only":
        return cohort, None
    if scenario == "mri+real_pet":
        used = cohort[cohort["has_pet"]]
        return used, [images[p].pet for p in used["participant_id"]]
    if scenario.startswith(MULTI_PREFIX):  # the 4D file of K draws where PET is missing
        from mrisynth.synthesis.paths import imputed_samples_path

        model = scenario[len(MULTI_PREFIX):]
        return cohort, [images[r.participant_id].pet if r.has_pet else
                        imputed_samples_path(results, model, fold, r.participant_id, r.session_id, resolution_mm)
                        for r in cohort.itertuples()]
    if scenario in ("mri+zero_fill", "mri+mean_pet", "mri+true_pet") or scenario.startswith(IMPUTED_PREFIX):
        sources = []
        for r in cohort.itertuples():
            if r.has_pet:
                sources.append(images[r.participant_id].pet)
            elif scenario == "mri+zero_fill":
                sources.append(ZERO)
            elif scenario == "mri+mean_pet":
                sources.append(MEAN)
            elif scenario == IMPUTED_LINEAR:
                sources.append(LINEAR)
            elif scenario == "mri+true_pet":
                sources.append(images[r.participant_id].truth_pet)
            else:
                model = scenario[len(IMPUTED_PREFIX):]
                sources.append(imputed_pet(results, model, fold, r.participant_id, r.session_id, resolution_mm))
        return cohort, sources
    raise InputError(f"unknown scenario {scenario!r}; known: {', '.join(BASE_SCENARIOS)}, {IMPUTED_PREFIX}<model>, "
                     f"{MULTI_PREFIX}<model>")
