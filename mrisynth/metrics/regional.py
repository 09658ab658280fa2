"""Regional metrics a radiology reader cares about: region means, between-subject R², z-maps, Dice, oracle share.

Pure functions on arrays. Conventions: images are (..., X, Y, Z) or (N, X, Y, Z) float arrays, masks boolean
of the image shape; a "deviation" is an image minus the training population's mean image.
"""

from __future__ import annotations

import numpy as np


def region_mean(image: np.ndarray, mask: np.ndarray) -> float:
    """Mean of ``image`` over the voxels of ``mask``."""
    return float(np.asarray(image, np.float64)[mask].mean())


def rmse(pred, ref) -> float:
    """Root-mean-square of ``pred - ref`` (e.g. one regional mean per subject)."""
    d = np.asarray(pred, np.float64) - np.asarray(ref, np.float64)
    return float(np.sqrt(np.mean(d * d)))


def bias(pred, ref) -> float:
    """Mean of ``pred - ref``."""
    return float(np.mean(np.asarray(pred, np.float64) - np.asarray(ref, np.float64)))


def deviation_sums(pred: np.ndarray, ref: np.ndarray, population_mean: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(sum of squared errors, sum of squared true deviations) over the voxels of ``mask``.

    The error of a prediction equals the error of its deviation from the population mean, so summed over
    subjects, 1 - SSE / SS is the R² of the between-subject deviation (:func:`r2_from_sums`).
    """
    p, r, m = (np.asarray(a, np.float64)[mask] for a in (pred, ref, population_mean))
    return float(((p - r) ** 2).sum()), float(((r - m) ** 2).sum())


def r2_from_sums(sse, ss) -> float:
    """1 - sum(sse) / sum(ss): R² of the deviation from the population mean, pooled over subjects and voxels.

    0 for the population mean itself, 1 for a perfect prediction, negative when worse than the mean;
    NaN when the truth does not deviate at all.
    """
    ss_total = float(np.sum(ss))
    return 1.0 - float(np.sum(sse)) / ss_total if ss_total > 0 else float("nan")


def zmap(image: np.ndarray, nc_mean: np.ndarray, nc_sd: np.ndarray, min_sd: float) -> np.ndarray:
    """Hypometabolism z-map against normal controls: (image - mean) / max(sd, min_sd)."""
    return (np.asarray(image, np.float64) - nc_mean) / np.maximum(nc_sd, min_sd)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap 2|a and b| / (|a| + |b|) of two boolean maps; 1 when both are empty."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    total = int(a.sum()) + int(b.sum())
    return 2.0 * int((a & b).sum()) / total if total else 1.0


def oracle_share(model: float, linear: float, oracle: float) -> float:
    """Share of the achievable gain a model realises: (err_linear - err_model) / (err_linear - err_oracle).

    The same number for a score where higher is better (it is invariant to the metric's sign), so it is
    computed on the metric as reported. 0 = the linear map, 1 = the oracle, negative = worse than linear;
    NaN when the oracle is no better than the linear map.
    """
    gap = linear - oracle
    return float((linear - model) / gap) if gap != 0 and np.isfinite(gap) else float("nan")
