"""Derivative file names of one subject: the single source of truth for preprocess.smk and later stages.

Names follow BIDS derivatives (entities in BIDS order: sub, ses, trc, space, res, desc); every image has
a JSON sidecar of the same name holding its intensity mapping, so a later stage can go back to the
original units. ``truth_*`` paths (phantom only) hold the hidden true PET of PET-less subjects,
preprocessed with that subject's saved T1 transform; only synthesis evaluation may read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mrisynth.anatomy import TEMPLATE_SPACE


def strip_prefix(label: str, prefix: str) -> str:
    """``sub-001`` -> ``001``; ``001`` -> ``001`` (manifests may carry the BIDS prefix or not)."""
    label = str(label).strip()
    return label[len(prefix) + 1 :] if label.startswith(prefix + "-") else label


def resolution_label(resolution_mm: float) -> str:
    """BIDS-safe ``res-`` label: 3 -> ``3mm``, 1.5 -> ``1p5mm``."""
    text = f"{float(resolution_mm):g}".replace(".", "p")
    return f"{text}mm"


@dataclass(frozen=True)
class SubjectPaths:
    """Every preprocessing output of one subject and session (paths may not exist yet)."""

    dir: Path  # results/preprocess/sub-<id>/ses-<s>
    t1: Path  # preprocessed T1w, intensity-normalised in the brain mask, template grid
    t1_json: Path  # its intensity mapping (sidecar)
    mask: Path  # brain mask on the template grid
    t1_xfm: Path  # T1w (native) -> template affine, ITK .tfm (maps template points to T1w points)
    pet: Path  # FDG SUVR on the template grid (only subjects with PET)
    pet_json: Path  # its intensity mapping: reference region and value
    pet_xfm: Path  # PET -> T1w rigid, ITK .tfm (maps T1w points to PET points)
    qc_json: Path
    qc_png: Path
    truth_dir: Path  # results/preprocess_truth/sub-<id>/ses-<s> (phantom only)
    truth_pet: Path
    truth_pet_json: Path
    truth_pet_xfm: Path

    @property
    def t1_outputs(self) -> list[Path]:
        """Files a T1-only preprocessing run writes."""
        return [self.t1, self.t1_json, self.mask, self.t1_xfm, self.qc_json, self.qc_png]

    @property
    def pet_outputs(self) -> list[Path]:
        """Files the PET part adds."""
        return [self.pet, self.pet_json, self.pet_xfm]

    @property
    def truth_outputs(self) -> list[Path]:
        return [self.truth_pet, self.truth_pet_json, self.truth_pet_xfm]


def subject_paths(results: str | Path, participant: str, session: str, resolution_mm: float) -> SubjectPaths:
    """Derivative paths of a subject under ``results`` (the config's ``results`` folder)."""
    sub, ses = strip_prefix(participant, "sub"), strip_prefix(session, "ses")
    base = f"sub-{sub}_ses-{ses}"
    grid = f"space-{TEMPLATE_SPACE}_res-{resolution_label(resolution_mm)}"
    folder = Path(results) / "preprocess" / f"sub-{sub}" / f"ses-{ses}"
    truth = Path(results) / "preprocess_truth" / f"sub-{sub}" / f"ses-{ses}"
    pet_name = f"{base}_trc-FDG_{grid}_desc-suvr_pet"
    pet_xfm = f"{base}_trc-FDG_from-pet_to-T1w_mode-image_xfm.tfm"
    return SubjectPaths(
        dir=folder,
        t1=folder / f"{base}_{grid}_desc-preproc_T1w.nii.gz",
        t1_json=folder / f"{base}_{grid}_desc-preproc_T1w.json",
        mask=folder / f"{base}_{grid}_desc-brain_mask.nii.gz",
        t1_xfm=folder / f"{base}_from-T1w_to-{TEMPLATE_SPACE}_mode-image_xfm.tfm",
        pet=folder / f"{pet_name}.nii.gz",
        pet_json=folder / f"{pet_name}.json",
        pet_xfm=folder / pet_xfm,
        qc_json=folder / f"{base}_desc-qc.json",
        qc_png=folder / f"{base}_desc-qc.png",
        truth_dir=truth,
        truth_pet=truth / f"{pet_name}.nii.gz",
        truth_pet_json=truth / f"{pet_name}.json",
        truth_pet_xfm=truth / pet_xfm,
    )


def templates_path(results: str | Path, resolution_mm: float) -> Path:
    """The MNI152 templates on the output grid (``mrisynth preprocess-templates``), read by every preprocess job."""
    return Path(results) / "preprocess" / f"templates_res-{resolution_mm}mm.npz"


def qc_summary_paths(results: str | Path) -> dict[str, Path]:
    """The cohort-level QC outputs: table (TSV), machine-readable summary (JSON), mosaic (PNG)."""
    folder = Path(results) / "preprocess"
    return {
        "tsv": folder / "qc_summary.tsv",
        "json": folder / "qc_summary.json",
        "mosaic": folder / "qc_mosaic.png",
    }
