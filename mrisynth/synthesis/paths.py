"""Every file the synthesis stage writes, in one place (the classifier reads imputed PET through
:func:`imputed_pet_path` too, so writer and reader cannot disagree).

``<results>/synthesis/<model>/fold-<k>/``
    ``train/``        trainer checkpoint, the best validated step so far (best.pt), losses.csv, validation.csv,
                      validation.png, samples/*.png
    ``cache/``        with ``synthesis.cache: disk``, the MONAI PersistentDataset of the training volumes
    ``best.pt``       generator weights of the best validation step + the intensity mapping
    ``imputed/``      ``sub-<id>_ses-<s>_trc-FDG_space-<T>_res-<r>_desc-synth<model>_pet.nii.gz`` (+ .json)
                      with K samples (``impute --samples K``): that file is the mean of the K draws, and
                      ``..._desc-synth<model>sd_pet.nii.gz`` (voxelwise sd, ddof 1) and
                      ``..._desc-synth<model>samples_pet.nii.gz`` (4D, X x Y x Z x K: draw k in volume k,
                      int16 with NIfTI scl_slope / scl_inter, SUVR after scaling) sit next to it
``<results>/synthesis/evaluation/``  metrics.csv, summary.csv, tests.csv, table.md, fig-<model>.png
``<results>/synthesis/calibration/``  subjects.csv, regions.csv, summary.csv, table.md, fig-uncertainty-<model>.png
"""

from __future__ import annotations

from pathlib import Path

from mrisynth.anatomy import TEMPLATE_SPACE
from mrisynth.preprocess.outputs import resolution_label, strip_prefix


def fold_dir(results: str | Path, model: str, fold: int) -> Path:
    return Path(results) / "synthesis" / model / f"fold-{fold}"


def train_dir(results: str | Path, model: str, fold: int) -> Path:
    return fold_dir(results, model, fold) / "train"


def cache_dir(results: str | Path, model: str, fold: int) -> Path:
    return fold_dir(results, model, fold) / "cache"


def running_best(results: str | Path, model: str, fold: int) -> Path:
    """The best validated step so far, kept next to the trainer's checkpoint (copied to best.pt at the end)."""
    return train_dir(results, model, fold) / "best.pt"


def best_checkpoint(results: str | Path, model: str, fold: int) -> Path:
    return fold_dir(results, model, fold) / "best.pt"


def imputed_dir(results: str | Path, model: str, fold: int) -> Path:
    return fold_dir(results, model, fold) / "imputed"


def imputed_pet_path(results: str | Path, model: str, fold: int, participant: str, session: str,
                     resolution_mm: float) -> Path:
    """The synthetic SUVR PET of one subject imputed by ``model`` in ``fold`` (BIDS derivative name)."""
    sub, ses = strip_prefix(participant, "sub"), strip_prefix(session, "ses")
    grid = f"space-{TEMPLATE_SPACE}_res-{resolution_label(resolution_mm)}"
    return imputed_dir(results, model, fold) / f"sub-{sub}_ses-{ses}_trc-FDG_{grid}_desc-synth{model}_pet.nii.gz"


def imputed_sd_path(results: str | Path, model: str, fold: int, participant: str, session: str,
                     resolution_mm: float) -> Path:
    """Voxelwise sd of the K imputations (written only by ``impute --samples K``)."""
    mean = imputed_pet_path(results, model, fold, participant, session, resolution_mm)
    return mean.with_name(mean.name.replace(f"_desc-synth{model}_pet", f"_desc-synth{model}sd_pet"))


def imputed_samples_path(results: str | Path, model: str, fold: int, participant: str, session: str,
                         resolution_mm: float) -> Path:
    """The K imputations as one 4D NIfTI, draw k = volume k (written only by ``impute --samples K``)."""
    mean = imputed_pet_path(results, model, fold, participant, session, resolution_mm)
    return mean.with_name(mean.name.replace(f"_desc-synth{model}_pet", f"_desc-synth{model}samples_pet"))


def error_field_amplitude_path(results: str | Path, model: str, fold: int) -> Path:
    """The shared error field's amplitude map of a fold's imputations (:mod:`mrisynth.synthesis.error_field`)."""
    return imputed_dir(results, model, fold) / "error_field_amplitude.nii.gz"


def imputation_done(results: str | Path, model: str, fold: int) -> Path:
    """A small table of what ``impute`` wrote for a fold (the rule's output; per-subject names depend on the split)."""
    return fold_dir(results, model, fold) / "imputed.tsv"


def evaluation_dir(results: str | Path) -> Path:
    return Path(results) / "synthesis" / "evaluation"


def calibration_dir(results: str | Path) -> Path:
    return Path(results) / "synthesis" / "calibration"
