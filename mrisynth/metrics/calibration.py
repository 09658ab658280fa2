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


def predictive_sd(c: float, tau: float, dd: np.ndarray, gg: np.ndarray, dg: np.ndarray) -> np.ndarray:
    """sd over the K draws of ``c * d_k + tau * g_k`` from the sample variances ``dd`` (draws' deviations),
    ``gg`` (field) and covariance ``dg`` (all ddof 1)."""
    return np.sqrt(np.maximum(c * c * dd + tau * tau * gg + 2 * c * tau * dg, 0.0))


def _bisect(covered, lo: float, hi: float, level: float, iters: int = 30) -> float:
    """Smallest x in [lo, hi] with covered(x) >= level (``covered`` non-decreasing; hi if never)."""
    if covered(lo) >= level:
        return lo
    for _ in range(iters):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if covered(mid) >= level else (mid, hi)
    return hi


def spread_and_field_scale(voxel: tuple, region: tuple, k: int, level: float) -> tuple[float, float]:
    """(c, tau) such that draws ``mean + c (d_k - mean) + tau g_k`` (g: a centred shared error field) cover
    ``level`` of the voxels AND of the regional means: tau = 0 when c alone covers the regions, else the
    smallest tau for which the voxel-calibrated c(tau) covers them, with c(tau) >= c(0) / 2. ``voxel`` and ``region`` are each
    (error of the mean, dd, gg, dg) arrays (:func:`predictive_sd`); fit on validation subjects, never test."""
    h = stats.t.ppf(0.5 + level / 2, k - 1) * np.sqrt(1 + 1 / k)
    v_err, r_err = np.abs(voxel[0]), np.abs(region[0])

    def covered(err, moments, c, tau):
        return float(np.mean(err <= h * predictive_sd(c, tau, *moments)))

    c0 = float(np.quantile(v_err / np.maximum(h * np.sqrt(voxel[1]), 1e-12), level))

    def c_of(tau):
        return _bisect(lambda c: covered(v_err, voxel[1:], c, tau), 0.0, 2 * c0 + 1e-9, level)

    if covered(r_err, region[1:], c0, 0.0) >= level:
        return c0, 0.0
    tau_max = float(np.quantile(v_err / np.maximum(h * np.sqrt(voxel[2]), 1e-12), level))  # covers voxels with c = 0
    # the generator's own spread (where it knows it is unsure) keeps at least half its voxel-only scale: tau
    # stops where c(tau) would fall below c0 / 2, and the regional coverage reached there is what it is
    tau_cap = _bisect(lambda t: float(c_of(t) < c0 / 2), 0.0, tau_max, 0.5, iters=25)
    tau = _bisect(lambda t: covered(r_err, region[1:], c_of(t), t), 0.0, tau_cap, level, iters=25)
    return c_of(tau), tau


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation; NaN when either side is constant."""
    a, b = np.ravel(a), np.ravel(b)
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)
