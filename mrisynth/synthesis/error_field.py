"""A shared error field for multiple imputation. A generator's draws spread almost evenly over the brain, but
its errors are largest, and move together, in the regions whose PET varies between subjects beyond what the
MRI shows (on the benchmark cohort, 90% intervals recalibrated on voxels covered 95% of the motor and
cerebellum means but 60-76% of the posterior cingulate, precuneus, temporoparietal and medial temporal
means). impute therefore adds ``tau * a(v) * g_k(v)`` to draw k: g_k a unit-variance Gaussian random field
(white noise smoothed to ``fwhm_mm``, seeded by the config seed, subject and draw, centred over the K draws so
that the imputed mean does not change) and a(v) the between-subject sd of the fold's TRAINING subjects' PET
around the residual base (the linear T1 map), scaled to mean 1 in the brain: where training PET varies
beyond the MRI, the field is larger. c (on the draws' own deviations), tau and the FWHM are fit on the fold's
VALIDATION subjects: ``level`` of their voxels and of their regional means inside the intervals, and among
the FWHMs tried the narrowest voxel intervals (sharpness subject to calibration, Gneiting et al. 2007).
calibrate-synthesis regenerates the same fields to score the raw draws.
"""
from __future__ import annotations

import zlib

import numpy as np

from mrisynth.metrics.calibration import coverage, predictive_sd, spread_and_field_scale, spread_scale

FWHM_TO_SIGMA = 1 / np.sqrt(8 * np.log(2))
MAX_FIT_VOXELS = 200_000  # voxel entries used for the fit (every n-th brain voxel): the fit's cost stays small


def voxel_spacing(affine: np.ndarray) -> np.ndarray:
    return np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(0))


def unit_field(shape: tuple, spacing_mm, fwhm_mm: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary Gaussian random field of unit variance: white noise smoothed with a Gaussian of ``fwhm_mm``
    (periodic boundary, so every voxel has the same variance: the sum of the squared kernel weights)."""
    from scipy.ndimage import gaussian_filter

    sigma = fwhm_mm * FWHM_TO_SIGMA / np.asarray(spacing_mm, dtype=float)
    delta = np.zeros(shape)
    delta[0, 0, 0] = 1.0
    norm = np.sqrt(np.sum(gaussian_filter(delta, sigma, mode="wrap") ** 2))
    return (gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap") / norm).astype(np.float32)


def error_fields(seed: int, participant: str, k: int, shape: tuple, spacing_mm, fwhm_mm: float,
                 amplitude: np.ndarray | None = None) -> np.ndarray:
    """(X, Y, Z, K) fields of one subject, centred over the K draws (their mean is 0 at every voxel; the sample
    variance over draws keeps expectation ``amplitude**2``, 1 without one)."""
    rng = np.random.default_rng(zlib.crc32(f"error-field:{seed}:{participant}:{fwhm_mm:g}".encode()))
    fields = np.stack([unit_field(shape, spacing_mm, fwhm_mm, rng) for _ in range(k)], -1)
    fields -= fields.mean(-1, keepdims=True)
    return fields if amplitude is None else fields * amplitude[..., None].astype(np.float32)


def amplitude_map(residuals_and_masks) -> np.ndarray:
    """a(v): the sd over training subjects of their PET minus the residual base (``(residual, brain mask)``
    pairs, streamed), scaled to mean 1 over the union of their brain masks (0 outside it)."""
    n, total, squares, inside = 0, 0.0, 0.0, False
    for residual, mask in residuals_and_masks:
        r = residual.astype(np.float64)
        n, total, squares, inside = n + 1, total + r, squares + r * r, inside | mask
    if n < 2:
        raise ValueError("the error field's amplitude needs at least 2 training subjects with PET")
    sd = np.where(inside, np.sqrt(np.maximum(squares - total * total / n, 0.0) / (n - 1)), 0.0)
    return (sd / max(float(sd[inside].mean()), 1e-12)).astype(np.float32)


def apply(stack: np.ndarray, c: float, tau: float, fields: np.ndarray | None) -> np.ndarray:
    """The recalibrated draws: mean + c (draw - mean) + tau field."""
    mean = stack.mean(-1, keepdims=True)
    out = mean + np.float32(c) * (stack - mean)
    return out if fields is None or tau == 0 else out + np.float32(tau) * fields


def raw_draws(stack: np.ndarray, c: float, tau: float, fields: np.ndarray | None) -> np.ndarray:
    """Inverse of :func:`apply`: the generator's own draws."""
    mean = stack.mean(-1, keepdims=True)
    dev = stack - mean if fields is None or tau == 0 else stack - mean - np.float32(tau) * fields
    return mean + dev / np.float32(c)


def _moments(draws: np.ndarray, fields: np.ndarray, reference: np.ndarray):
    """(error of the mean, var of draws, var of fields, covariance) over the last axis (ddof 1)."""
    d = draws - draws.mean(-1, keepdims=True)
    k = draws.shape[-1]
    return (reference - draws.mean(-1), (d * d).sum(-1) / (k - 1), (fields * fields).sum(-1) / (k - 1),
            (d * fields).sum(-1) / (k - 1))


def subject_moments(stack: np.ndarray, fields: np.ndarray, reference: np.ndarray, mask: np.ndarray,
                    affine: np.ndarray) -> tuple[tuple, tuple]:
    """(voxel moments, regional-mean moments) of one validation subject; regions as calibrate-synthesis
    scores them (:data:`mrisynth.anatomy.REGIONS` within the brain mask)."""
    from mrisynth.anatomy import REGIONS, region_mask

    voxel = _moments(stack[mask], fields[mask], reference[mask])
    rows = []
    for name in REGIONS:
        roi = region_mask(name, affine, mask.shape) & mask
        if roi.any():
            rows.append((stack[roi].mean(0), fields[roi].mean(0), float(reference[roi].mean())))
    region = _moments(np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows]), np.array([r[2] for r in rows]))
    return voxel, region


def fit(subjects: list[dict], seed: int, k: int, level: float, fwhms: list[float],
        amplitude: np.ndarray | None = None) -> dict:
    """(c, tau, FWHM) from validation subjects, each ``{"id", "stack" (X, Y, Z, K), "reference", "mask",
    "affine"}``, for fields of ``amplitude`` (:func:`amplitude_map`): for every FWHM the (c, tau) of
    :func:`spread_and_field_scale`, then, among the FWHMs whose regional coverage reaches ``level`` (else the
    best one), the smallest mean voxel predictive sd. Without FWHMs: tau = 0 (the voxelwise factor c alone)."""
    def cover(moments, c, tau):  # moments[0] is the error of the mean, so the "mean" passed is 0
        return coverage(moments[0], 0.0, predictive_sd(c, tau, *moments[1:]), k, level)

    candidates = []
    for fwhm in fwhms or [None]:
        vox, reg = [], []
        for s in subjects:
            shape = s["stack"].shape[:3]
            fields = (np.zeros(s["stack"].shape, np.float32) if fwhm is None else
                      error_fields(seed, s["id"], k, shape, voxel_spacing(s["affine"]), fwhm, amplitude))
            v, r = subject_moments(s["stack"], fields, s["reference"], s["mask"], s["affine"])
            vox.append(v)
            reg.append(r)
        voxel = tuple(np.concatenate([v[i] for v in vox]) for i in range(4))
        step = max(1, len(voxel[0]) // MAX_FIT_VOXELS)
        voxel = tuple(a[::step] for a in voxel)
        region = tuple(np.concatenate([r[i] for r in reg]) for i in range(4))
        if fwhm is None:
            c, tau = spread_scale(voxel[0], 0.0, np.sqrt(voxel[1]), k, level), 0.0
        else:
            c, tau = spread_and_field_scale(voxel, region, k, level)
        candidates.append({"fwhm_mm": fwhm, "spread_scale": c, "field_scale": tau,
                           "mean_voxel_sd": float(predictive_sd(c, tau, *voxel[1:]).mean()),
                           "validation_coverage": cover(voxel, c, tau),
                           "validation_region_coverage": cover(region, c, tau),
                           "raw_validation_coverage": cover(voxel, 1.0, 0.0),
                           "raw_validation_region_coverage": cover(region, 1.0, 0.0)})
    calibrated = [r for r in candidates if r["validation_region_coverage"] >= level] or \
        [max(candidates, key=lambda r: r["validation_region_coverage"])]
    return min(calibrated, key=lambda r: r["mean_voxel_sd"]) | {"candidates": candidates}
