"""Calibration of predictive draws: interval coverage, the sample CRPS, the recalibration factor, and the
rank correlation of spread and error (pure functions on arrays; exact-value tests in tests/metrics)."""

from __future__ import annotations

import numpy as np
from scipy import stats


def interval_half_width(sd: np.ndarray, k: int, level: float) -> np.ndarray:
    """Half width of the central ``level`` predictive interval for a new draw, from K draws' sd."""
    return stats.t.ppf(0.5 + level / 2, k - 1) * np.asarray(sd) * np.sqrt(1 + 1 / k)


def coverage(reference: np.ndarray, mean: np.ndarray, sd: np.ndarray, k: int, level: float) -> float:
    """Fraction of ``reference`` values inside their predictive intervals (all arrays the same shape)."""
    return float(np.mean(np.abs(reference - mean) <= interval_half_width(sd, k, level)))


def crps(draws: np.ndarray, reference: np.ndarray) -> float:
    """Sample CRPS (energy score in 1D, lower is better), averaged over values: mean_i |x_i - y| minus
    sum_{i != j} |x_i - x_j| / (2 n (n - 1)) (the unbiased "fair" form); ``draws`` is (n, *reference.shape). One
    draw: the MAE."""
    draws = np.asarray(draws, dtype=np.float64)
    n = len(draws)
    score = np.abs(draws - reference).mean(0)
    if n > 1:
        score = score - sum(np.abs(draws[i] - draws[j]) for i in range(n) for j in range(i + 1, n)) / (n * (n - 1))
    return float(score.mean())


def spread_scale(reference: np.ndarray, mean: np.ndarray, sd: np.ndarray, k: int, level: float) -> float:
    """The factor c on the draws' deviations from their mean (sd -> c sd) for which a fraction ``level`` of
    ``reference`` lies inside the predictive intervals: the ``level`` quantile of |reference - mean| / half width
    (post-hoc recalibration as Kuleshov et al. 2018; fit on validation subjects, never test)."""
    z = np.abs(np.ravel(reference) - np.ravel(mean)) / np.maximum(interval_half_width(np.ravel(sd), k, level), 1e-12)
    return float(np.quantile(z, level))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation; NaN when either side is constant."""
    a, b = np.ravel(a), np.ravel(b)
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)
