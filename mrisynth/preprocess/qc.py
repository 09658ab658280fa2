"""Quality control: per-subject numbers and figure, and the cohort table that flags failures and outliers.

Per subject (``qc.json``): normalised cross-correlation (NCC) of the T1 to the template inside the brain
mask; Dice of the subject's own foreground (Otsu, in template space) against the template brain mask; the
final registration metrics (Mattes MI, more negative is better); mutual information of PET and T1 in
template space (nats, higher is better). The cohort summary flags a subject that misses a configured
threshold (``failed``) or whose number is far from the cohort (robust z-score, ``outlier``), logs each
loudly, and lists it as excluded only when ``preprocess.qc.exclude_failed`` is true.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: QC numbers a robust z-score is computed for (lower is worse for all of them but the metrics).
_Z_KEYS = ("ncc_template", "dice_brain_mask", "t1_registration_metric", "pet_t1_mutual_information")


def ncc(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Pearson correlation of two images inside a mask."""
    x, y = a[mask > 0].astype(np.float64), b[mask > 0].astype(np.float64)
    x, y = x - x.mean(), y - y.mean()
    return float((x * y).sum() / np.sqrt((x * x).sum() * (y * y).sum() + 1e-12))


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    return float(2.0 * np.logical_and(a, b).sum() / max(a.sum() + b.sum(), 1))


def mutual_information(a: np.ndarray, b: np.ndarray, mask: np.ndarray, bins: int = 32) -> float:
    """Histogram mutual information (nats) of two images inside a mask."""
    joint, _, _ = np.histogram2d(a[mask > 0], b[mask > 0], bins=bins)
    p = joint / joint.sum()
    px, py = p.sum(1, keepdims=True), p.sum(0, keepdims=True)
    nz = p > 0
    return float((p[nz] * np.log(p[nz] / (px @ py)[nz])).sum())


def check(record: dict, qc_cfg: dict) -> list[str]:
    """Thresholds the subject misses (empty when it passes)."""
    failed = []
    if record["ncc_template"] < qc_cfg["min_ncc"]:
        failed.append(f"NCC to template {record['ncc_template']:.3f} < {qc_cfg['min_ncc']}")
    if record["dice_brain_mask"] < qc_cfg["min_dice"]:
        failed.append(f"brain-mask Dice {record['dice_brain_mask']:.3f} < {qc_cfg['min_dice']}")
    return failed


def qc_figure(path: Path, t1: np.ndarray, pet: np.ndarray | None, outline: np.ndarray, title: str) -> None:
    """Three orthogonal slices through the grid centre, T1 (and PET) with the template brain outline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [("T1w", t1, "gray")] + ([("PET SUVR", pet, "hot")] if pet is not None else [])
    fig, axes = plt.subplots(len(rows), 3, figsize=(9, 3 * len(rows)), squeeze=False)
    centre = [s // 2 for s in t1.shape]
    for r, (name, vol, cmap) in enumerate(rows):
        vmax = float(np.percentile(vol[outline > 0], 99.5)) if outline.any() else float(vol.max())
        for c, axis in enumerate((2, 1, 0)):  # axial, coronal, sagittal
            cut = [slice(None)] * 3
            cut[axis] = centre[axis]
            ax = axes[r, c]
            ax.imshow(np.rot90(vol[tuple(cut)]), cmap=cmap, vmin=0, vmax=vmax)
            ax.contour(np.rot90(outline[tuple(cut)]), levels=[0.5], colors="c", linewidths=0.6)
            ax.set_axis_off()
        axes[r, 0].set_title(name, loc="left", fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80, format="png")
    plt.close(fig)


def summarise(records: list[dict], qc_cfg: dict):
    """Cohort QC table (one row per subject) with ``failed``, ``outlier`` and ``excluded`` columns."""
    import pandas as pd

    table = pd.DataFrame(records)
    table["failed_checks"] = ["; ".join(check(r, qc_cfg)) for r in records]
    table["failed"] = table["failed_checks"] != ""
    outliers = [[] for _ in records]
    for key in _Z_KEYS:
        if key not in table or table[key].isna().all():
            continue
        values = table[key].astype(float)
        median = values.median()
        mad = 1.4826 * (values - median).abs().median()
        z = (values - median) / max(mad, 1e-6 * max(abs(median), 1.0))
        for i in np.flatnonzero(np.abs(z.to_numpy()) > qc_cfg["max_abs_z"]):
            outliers[i].append(f"{key} z={z.iloc[i]:+.1f}")
    table["outlier_checks"] = ["; ".join(o) for o in outliers]
    table["outlier"] = table["outlier_checks"] != ""
    table["excluded"] = table["failed"] & bool(qc_cfg["exclude_failed"])
    for _, row in table[table["failed"] | table["outlier"]].iterrows():
        what = "FAILED QC" if row["failed"] else "QC outlier"
        action = "EXCLUDED from later stages" if row["excluded"] else "kept (preprocess.qc.exclude_failed is false)"
        log.warning("%s: sub-%s ses-%s: %s; %s", what, row["participant_id"], row["session_id"], "; ".join(filter(None, [row["failed_checks"], row["outlier_checks"]])), action)
    return table


def excluded_subjects(summary_json: str | Path) -> set[tuple[str, str]]:
    """(participant, session) pairs that later stages must drop, read from the cohort QC summary."""
    data = json.loads(Path(summary_json).read_text())
    return {(s["participant_id"], s["session_id"]) for s in data["subjects"] if s["excluded"]}


def mosaic(path: Path, tiles: list[tuple[str, np.ndarray, np.ndarray | None]], outline: np.ndarray, per_row: int = 6) -> None:
    """A grid of subjects: axial centre slice of T1 (and PET beside it) with the template outline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(len(tiles), 1)
    cols = min(per_row, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, 2 * cols, figsize=(2.4 * cols, 1.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for i, (label, t1, pet) in enumerate(tiles):
        r, c = divmod(i, cols)
        for j, (img, cmap) in enumerate(((t1, "gray"), (pet, "hot"))):
            if img is None:
                continue
            ax = axes[r, 2 * c + j]
            ax.imshow(np.rot90(img), cmap=cmap, vmin=0, vmax=float(np.percentile(img, 99.5)) or 1.0)
            ax.contour(np.rot90(outline), levels=[0.5], colors="c", linewidths=0.4)
        axes[r, 2 * c].set_title(label, loc="left", fontsize=6)
    fig.tight_layout(pad=0.2)
    fig.savefig(path, dpi=80, format="png")
    plt.close(fig)
