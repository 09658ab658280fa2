"""Inputs, the training command and targets of the synthesis rules (workflow/rules/synthesis.smk holds only
the rules); file names from :mod:`mrisynth.synthesis.paths`."""

from __future__ import annotations

from mrisynth.synthesis.paths import calibration_dir, evaluation_dir
from mrisynth.synthesis.settings import configured_models, sampled_models


def train_command(gpus_per_job: int) -> str:
    """``mrisynth``, or with more than one GPU per job torchrun starting one data-parallel process per GPU."""
    return f"torchrun --standalone --nproc_per_node {gpus_per_job} --no-python mrisynth" if gpus_per_job > 1 else "mrisynth"


def evaluation_targets(config: dict, results: str) -> list[str]:
    """The synthesis table, if models are configured (it needs every model's imputation on every fold)."""
    return [str(evaluation_dir(results) / "summary.csv")] if configured_models(config) else []


def calibration_targets(config: dict, results: str) -> list[str]:
    """The calibration table of the models imputed with K >= 2 draws, if any."""
    return [str(calibration_dir(results) / "summary.csv")] if sampled_models(config) else []


def targets(config: dict, results: str) -> list[str]:
    return evaluation_targets(config, results) + calibration_targets(config, results)
