"""``mrisynth cohort-report``: the cohort table and a mosaic of raw T1 and PET of a few subjects.

The page is built from ``cohort_sections`` so that later stages (e.g. preprocessing QC) can append
their own ``Section`` objects to the same page.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from mrisynth.io.atomic import atomic_path, write_text
from mrisynth.io.manifest import DIAGNOSES, read_manifest
from mrisynth.report.html import Section, image_html, render_page, table_html, text_html

VIEWS = ("axial", "coronal", "sagittal")


def _diagnosis_order(table: pd.DataFrame) -> list[str]:
    return [dx for dx in DIAGNOSES if dx in set(table["diagnosis"])]


def counts_by_site(table: pd.DataFrame) -> pd.DataFrame:
    """Sessions per diagnosis (rows, in NC, sMCI, pMCI, AD order) and site (columns), with totals."""
    counts = pd.crosstab(table["diagnosis"], table["site"], margins=True, margins_name="all")
    counts = counts.reindex([*_diagnosis_order(table), "all"])
    counts.index.name, counts.columns.name = "diagnosis", "site"
    return counts


def demographics(table: pd.DataFrame) -> pd.DataFrame:
    """Per diagnosis and overall: n, age mean ± sd, sex counts, sessions with PET."""

    def summarise(group: pd.DataFrame) -> dict:
        age, n = group["age"], len(group)
        sd = age.std(ddof=1) if n > 1 else float("nan")
        n_pet = int((group["pet"] != "").sum())
        return {
            "n": n,
            "age (years)": f"{age.mean():.1f} ± {sd:.1f}" if np.isfinite(sd) else f"{age.mean():.1f}",
            "sex F/M": f"{int((group['sex'] == 'F').sum())}/{int((group['sex'] == 'M').sum())}",
            "PET available": f"{n_pet} ({100 * n_pet / n:.0f}%)",
        }

    rows = {dx: summarise(table[table["diagnosis"] == dx]) for dx in _diagnosis_order(table)}
    rows["all"] = summarise(table)
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "diagnosis"
    return out


def pick_subjects(table: pd.DataFrame) -> pd.DataFrame:
    """One session per diagnosis: the first in manifest order, preferring one that has PET."""
    picks = []
    for dx in _diagnosis_order(table):
        group = table[table["diagnosis"] == dx]
        with_pet = group[group["pet"] != ""]
        picks.append((with_pet if len(with_pet) else group).iloc[0])
    return pd.DataFrame(picks).reset_index(drop=True)


def mid_slices(path: str) -> list[tuple[np.ndarray, float]]:
    """Axial, coronal, sagittal mid-slices (display-oriented) with their pixel aspect ratio.

    The image is only reoriented to the closest RAS axes (flips and axis swaps, no resampling), so the
    voxels shown are the raw ones, in the subject's own grid.
    """
    import nibabel as nib

    from mrisynth.io.nifti import load_nifti

    img = nib.as_closest_canonical(load_nifti(path))
    data = np.asarray(img.dataobj, dtype=np.float32)
    zx, zy, zz = img.header.get_zooms()[:3]
    i, j, k = (s // 2 for s in data.shape)
    return [
        (data[:, :, k].T, zy / zx),  # axial: x across, y up
        (data[:, j, :].T, zz / zx),  # coronal: x across, z up
        (data[i, :, :].T, zz / zy),  # sagittal: y across, z up
    ]


def mosaic_png(subjects: pd.DataFrame) -> bytes:
    """A grid: one row per subject, T1 then PET in three views; PET panels say so when absent."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n_rows = max(len(subjects), 1)
    fig = Figure(figsize=(2.0 * 2 * len(VIEWS), 2.1 * n_rows), dpi=90)
    FigureCanvasAgg(fig)
    axes = fig.subplots(n_rows, 2 * len(VIEWS), squeeze=False)
    for row, subject in enumerate(subjects.itertuples(index=False)):
        for m, (modality, path, cmap) in enumerate((("T1w", subject.t1w, "gray"), ("PET", subject.pet, "hot"))):
            panels = mid_slices(path) if path else [None] * len(VIEWS)
            for v, panel in enumerate(panels):
                ax = axes[row, m * len(VIEWS) + v]
                ax.set_xticks([])
                ax.set_yticks([])
                if panel is None:
                    ax.text(0.5, 0.5, "no PET", ha="center", va="center", transform=ax.transAxes, color="0.4")
                else:
                    image, aspect = panel
                    low, high = np.percentile(image, [1, 99.5])
                    ax.imshow(image, cmap=cmap, origin="lower", aspect=aspect, vmin=low, vmax=high if high > low else low + 1)
                if row == 0:
                    ax.set_title(f"{modality} {VIEWS[v]}", fontsize=9)
        axes[row, 0].set_ylabel(
            f"{subject.diagnosis}\nsub-{subject.participant_id.removeprefix('sub-')}\n"
            f"{subject.site}, {subject.age:.0f} y {subject.sex}",
            fontsize=8,
        )
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def cohort_sections(table: pd.DataFrame, mosaic: bytes) -> list[Section]:
    n_subjects = table["participant_id"].nunique()
    return [
        Section(
            "Cohort",
            text_html(f"{len(table)} sessions of {n_subjects} participants.")
            + "<h3>Demographics per diagnosis</h3>"
            + table_html(demographics(table))
            + "<h3>Sessions per diagnosis and site</h3>"
            + table_html(counts_by_site(table)),
        ),
        Section(
            "Raw images",
            text_html("Mid-slices of raw T1-weighted MRI and FDG-PET, one subject per diagnosis, each in its own "
                      "voxel grid (closest-RAS reorientation only, no resampling).")
            + image_html(mosaic, "raw T1 and PET mid-slices"),
        ),
    ]


def write_cohort_report(manifest: str | Path, html_path: str | Path, mosaic_path: str | Path) -> None:
    table = read_manifest(manifest, check_files=False)
    mosaic = mosaic_png(pick_subjects(table))
    with atomic_path(mosaic_path) as tmp:
        tmp.write_bytes(mosaic)
    page = render_page("mrisynth: cohort", cohort_sections(table, mosaic), subtitle=f"Manifest: {manifest}")
    write_text(html_path, page)
