"""Data-driven anatomical landmarks (Zhang et al. TMI 2016; Liu et al. MedIA 2018, LDMIL).

A voxel-wise statistic over the training subjects' preprocessed T1 (template grid, optionally smoothed):
by default the correlation with the disease axis (NC 0 < sMCI 1 < pMCI 2 < AD 3) over the training
subjects of all diagnoses, partial given each subject's mean brain T1 (a global shift is not a place), as a
t statistic (twice the subjects of an AD vs NC test, and the MCI groups
add the intermediate severities), or a two-sample t-test between two groups. Then the local extrema of |t|
inside the brain (optionally only in grey matter, from the template's tissue map: where atrophy is), kept
greedily from the strongest with a minimum distance between them (non-maximum suppression), and the top L
saved with their template (MNI) millimetre coordinates. Only the training subjects of a fold are ever
passed in here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage, stats

from mrisynth.anatomy import REGIONS


def t_map(group_a: np.ndarray, group_b: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Voxel-wise t (a - b) and two-sided p inside ``mask`` (0 and 1 outside): Welch's test, or Student's
    pooled-variance test when a group has a single subject (tiny cohorts), which needs 3 subjects in all."""
    if min(len(group_a), len(group_b)) < 1 or len(group_a) + len(group_b) < 3:
        raise ValueError(f"a t-test needs >= 1 subject per group and >= 3 in all, got {len(group_a)} and {len(group_b)}")
    t = np.zeros(mask.shape, np.float32)
    p = np.ones(mask.shape, np.float32)
    welch = min(len(group_a), len(group_b)) >= 2
    res = stats.ttest_ind(group_a[:, mask], group_b[:, mask], axis=0, equal_var=not welch)
    t[mask] = np.nan_to_num(res.statistic, nan=0.0)
    p[mask] = np.nan_to_num(res.pvalue, nan=1.0)
    return t, p


#: the disease axis: the ordinal score of each diagnosis
DISEASE_AXIS = {"NC": 0.0, "sMCI": 1.0, "pMCI": 2.0, "AD": 3.0}


def axis_t_map(values: np.ndarray, score: np.ndarray, mask: np.ndarray,
               covariates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Voxel-wise partial correlation of ``values`` (N, X, Y, Z) with ``score`` (N,) inside ``mask``, given
    ``covariates`` (N, k; both sides residualised on them and an intercept), as the t statistic of the
    slope (t = r sqrt(df / (1 - r^2)), df = N - 2 - k; t > 0 where the intensity grows with the score) and
    its two-sided p (0 and 1 outside)."""
    score = np.asarray(score, np.float64)
    design = np.column_stack([np.ones(len(score))] + ([] if covariates is None else [np.asarray(covariates, np.float64)]))
    df = len(score) - design.shape[1] - 1
    if df < 1 or np.ptp(score) == 0:
        raise ValueError(f"a disease-axis statistic needs more subjects than covariates + 2 and >= 2 scores, got "
                         f"{len(score)} subjects, {design.shape[1] - 1} covariates, scores {sorted(set(score.tolist()))}")
    x = values[:, mask].astype(np.float64)
    xr = x - design @ np.linalg.lstsq(design, x, rcond=None)[0]
    sr = score - design @ np.linalg.lstsq(design, score, rcond=None)[0]
    denom = np.sqrt((xr ** 2).sum(0) * (sr ** 2).sum())
    r = np.divide(sr @ xr, denom, out=np.zeros(x.shape[1]), where=denom > 0).clip(-1 + 1e-12, 1 - 1e-12)
    tv = r * np.sqrt(df / (1 - r ** 2))
    t = np.zeros(mask.shape, np.float32)
    p = np.ones(mask.shape, np.float32)
    t[mask] = tv
    p[mask] = 2 * stats.t.sf(np.abs(tv), df)
    return t, p


def grey_matter_fraction(affine: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Mean grey-matter probability of the 1 mm MNI template inside each voxel of a template-space grid
    (exact area average of the template voxels whose centres fall in it; 0 where none does)."""
    from mrisynth.anatomy import template

    gm = template("gm")
    prob = np.asarray(gm.dataobj, np.float32)
    ijk = np.indices(prob.shape, dtype=np.float32).reshape(3, -1)
    xyz = gm.affine[:3, :3].astype(np.float32) @ ijk + gm.affine[:3, 3:4].astype(np.float32)
    inv = np.linalg.inv(affine)
    vox = np.rint(inv[:3, :3] @ xyz + inv[:3, 3:4]).astype(np.int64)
    inside = np.all((vox >= 0) & (vox < np.asarray(shape)[:, None]), 0)
    flat = np.ravel_multi_index(tuple(vox[:, inside]), shape)
    total = np.bincount(flat, weights=prob.ravel()[inside], minlength=int(np.prod(shape)))
    count = np.bincount(flat, minlength=int(np.prod(shape)))
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0).reshape(shape).astype(np.float32)


def precision(table: pd.DataFrame, regions: list[str], k: int) -> float:
    """Share of the top ``k`` landmarks (by rank) whose template mm position lies inside the union of the
    named ellipsoid regions (evaluation only: e.g. the phantom's atrophy regions)."""
    top = table.sort_values("rank").head(k)
    if top.empty:
        return float("nan")
    xyz = top[["x", "y", "z"]].to_numpy(float)
    inside = np.zeros(len(xyz), bool)
    for name in regions:
        e = REGIONS[name]
        inside |= (((xyz - np.asarray(e.centre)) / np.asarray(e.radii)) ** 2).sum(1) <= 1.0
    return float(inside.mean())


def local_extrema(stat: np.ndarray, mask: np.ndarray, n: int, min_distance_mm: float, voxel_mm: np.ndarray) -> np.ndarray:
    """Voxel indices (n', 3), n' <= n, of local maxima of |stat| in ``mask``, strongest first, pairwise
    at least ``min_distance_mm`` apart."""
    mag = np.where(mask, np.abs(stat), 0.0)
    radius = np.maximum(1, np.floor(min_distance_mm / np.asarray(voxel_mm)).astype(int))
    peaks = (mag == ndimage.maximum_filter(mag, size=tuple(2 * radius + 1), mode="constant")) & (mag > 0)
    cand = np.argwhere(peaks)
    cand = cand[np.argsort(-mag[tuple(cand.T)], kind="stable")]
    kept: list[np.ndarray] = []
    for c in cand:
        if all(np.linalg.norm((c - k) * voxel_mm) >= min_distance_mm for k in kept):
            kept.append(c)
            if len(kept) == n:
                break
    return np.asarray(kept, dtype=int).reshape(-1, 3)


def nearest_region(xyz: np.ndarray) -> list[str]:
    """Name of the anatomy region whose ellipsoid is nearest (normalised distance) to each point."""
    names = list(REGIONS)
    dist = np.stack([np.sqrt((((xyz - e.centre) / e.radii) ** 2).sum(1)) for e in REGIONS.values()], 1)
    return [names[i] for i in dist.argmin(1)]


#: the sign of the statistic a landmark may have: the map whose |.| extrema are searched
DIRECTIONS = {"both": lambda t: t, "decrease": lambda t: np.minimum(t, 0), "increase": lambda t: np.maximum(t, 0)}


def detect_landmarks(t1: np.ndarray, is_a: np.ndarray | None, is_b: np.ndarray | None, mask: np.ndarray,
                     affine: np.ndarray, n: int, min_distance_mm: float, smooth_fwhm_mm: float = 0.0,
                     score: np.ndarray | None = None, search: np.ndarray | None = None,
                     adjust_global: bool = False, direction: str = "both") -> tuple[pd.DataFrame, np.ndarray]:
    """Landmarks from T1 stack (N, X, Y, Z); returns (table, t map).

    With ``score`` (N,) the statistic is the disease-axis correlation over all N subjects (``axis_t_map``;
    with ``adjust_global`` a partial correlation given each subject's mean T1 in ``mask``: a global change,
    e.g. of the intensity normalisation by atrophy elsewhere, then yields no landmark), else the t-test of
    group ``is_a`` vs ``is_b``. The statistic is computed in ``mask`` (brain), the
    extrema are searched in ``search`` (default: ``mask``; e.g. its grey matter), among those of one sign with
    ``direction`` ``decrease`` (t < 0: darker with the disease score / in group a, as where atrophy replaces
    grey matter by CSF) or ``increase`` (t > 0), or of either sign (``both``).
    Table columns: rank, i, j, k (voxel), x, y, z (template mm), t, p, region (nearest named ROI).
    """
    voxel_mm = np.sqrt((affine[:3, :3] ** 2).sum(0))
    if smooth_fwhm_mm > 0:
        sigma = smooth_fwhm_mm / 2.3548 / voxel_mm
        t1 = np.stack([ndimage.gaussian_filter(v, sigma) for v in t1])
    if score is not None:
        # the covariate costs a degree of freedom: tiny cohorts (< 4 subjects) go without it
        covariates = np.array([v[mask].mean() for v in t1])[:, None] if adjust_global and len(t1) >= 4 else None
        t, p = axis_t_map(t1, score, mask, covariates)
    else:
        t, p = t_map(t1[is_a], t1[is_b], mask)
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {sorted(DIRECTIONS)}, not {direction!r}")
    ijk = local_extrema(DIRECTIONS[direction](t), mask if search is None else search & mask, n, min_distance_mm, voxel_mm)
    xyz = ijk @ affine[:3, :3].T + affine[:3, 3]
    table = pd.DataFrame({
        "rank": np.arange(1, len(ijk) + 1),
        "i": ijk[:, 0], "j": ijk[:, 1], "k": ijk[:, 2],
        "x": xyz[:, 0].round(2), "y": xyz[:, 1].round(2), "z": xyz[:, 2].round(2),
        "t": t[tuple(ijk.T)].astype(float).round(4), "p": p[tuple(ijk.T)].astype(float),
        "region": nearest_region(xyz) if len(ijk) else [],
    })
    return table, t


def plot_landmarks(background: np.ndarray, table: pd.DataFrame, path, title: str) -> None:
    """Three orthogonal views of ``background`` (mean training T1) through the strongest landmark, with
    every landmark projected on each view (red: t > 0, i.e. higher in group A; blue: t < 0)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mrisynth.io.atomic import save_figure

    ci, cj, ck = (int(table[a].iloc[0]) for a in "ijk") if len(table) else (s // 2 for s in background.shape)
    views = [("sagittal", background[ci, :, :].T, "j", "k"), ("coronal", background[:, cj, :].T, "i", "k"),
             ("axial", background[:, :, ck].T, "i", "j")]
    fig, axes = plt.subplots(1, 3, figsize=(11, 4))
    colours = np.where(table["t"] > 0, "tab:red", "tab:blue")
    for ax, (name, img, u, v) in zip(axes, views):
        ax.imshow(img, cmap="gray", origin="lower")
        ax.scatter(table[u], table[v], c=colours, s=40, edgecolors="white", linewidths=0.8)
        for _, row in table.iterrows():
            ax.annotate(str(row["rank"]), (row[u], row[v]), color="yellow", fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_title(name)
        ax.axis("off")
    fig.suptitle(title)
    save_figure(fig, path, dpi=90)
