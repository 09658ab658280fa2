"""Binary classification metrics (positive class = 1) with fold summaries, bootstrap CIs, paired
bootstrap tests and Rubin's-rules pooling.

A subject is predicted positive when its probability is ``>= threshold``. Metrics: ACC, SEN (recall of
class 1), SPE (recall of class 0), F1 (of class 1), AUC (ROC, ties counted half), BAC = (SEN + SPE) / 2.
A metric that is undefined on a (re)sample (e.g. SEN without positives, AUC with one class) is NaN and is
left out of the bootstrap percentiles.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

METRICS = ("acc", "sen", "spe", "f1", "auc", "bac")


def _labels_probs(y_true, y_prob) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(np.int64).ravel()
    p = np.asarray(y_prob, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"{len(y)} labels but {len(p)} probabilities")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    return y, p


def _metric_rows(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, np.ndarray]:
    """All metrics for each row of ``y``/``p`` (shape ``(n_rows, n_subjects)``), vectorised."""
    pos, hat = y == 1, p >= threshold
    tp, fn = (pos & hat).sum(1), (pos & ~hat).sum(1)
    tn, fp = (~pos & ~hat).sum(1), (~pos & hat).sum(1)
    n_pos, n_neg = tp + fn, tn + fp
    with np.errstate(divide="ignore", invalid="ignore"):
        sen, spe = tp / n_pos, tn / n_neg
        # Mann-Whitney form of the ROC AUC: mid-ranks make ties count half, as the trapezoidal ROC area
        rank_sum = (rankdata(p, axis=1) * pos).sum(1)
        auc = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        return {"acc": (tp + tn) / y.shape[1], "sen": sen, "spe": spe, "f1": 2 * tp / (2 * tp + fp + fn),
                "auc": auc, "bac": (sen + spe) / 2}


def binary_metrics(y_true, y_prob, threshold: float = 0.5) -> dict[str, float]:
    """Point metrics; AUC is scikit-learn's ``roc_auc_score`` (NaN if only one class is present)."""
    y, p = _labels_probs(y_true, y_prob)
    out = {k: float(v[0]) for k, v in _metric_rows(y[None], p[None], threshold).items()}
    out["auc"] = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")
    return out


def fold_summary(per_fold: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    """Mean and sample sd (ddof=1) over folds of each metric, ignoring folds where it is NaN."""
    out = {}
    for k in per_fold[0]:
        values = np.array([fold[k] for fold in per_fold], dtype=np.float64)
        out[k] = (float(np.nanmean(values)), float(np.nanstd(values, ddof=1)))
    return out


def _resample_indices(y: np.ndarray, n_boot: int, seed: int, stratified: bool) -> np.ndarray:
    """``(n_boot, n)`` indices drawn with replacement; stratified keeps the class counts of ``y``."""
    rng = np.random.default_rng(seed)
    if not stratified:
        return rng.integers(0, len(y), size=(n_boot, len(y)))
    groups = [np.flatnonzero(y == c) for c in (0, 1)]
    return np.concatenate([g[rng.integers(0, len(g), size=(n_boot, len(g)))] for g in groups if len(g)], axis=1)


def bootstrap_ci(y_true, y_prob, threshold: float = 0.5, n_boot: int = 2000, seed: int = 0,
                 level: float = 0.95, stratified: bool = False) -> dict[str, tuple[float, float, float]]:
    """Point estimate and percentile bootstrap CI ``(point, low, high)`` per metric, resampling subjects
    (e.g. pooled out-of-fold predictions) with replacement."""
    y, p = _labels_probs(y_true, y_prob)
    idx = _resample_indices(y, n_boot, seed, stratified)
    boot = _metric_rows(y[idx], p[idx], threshold)
    tail = 100 * (1 - level) / 2
    point = binary_metrics(y, p, threshold)
    return {k: (point[k], *map(float, np.nanpercentile(boot[k], [tail, 100 - tail]))) for k in METRICS}


def paired_bootstrap_pvalue(y_true, prob_a, prob_b, threshold: float = 0.5, n_boot: int = 2000, seed: int = 0,
                            stratified: bool = False) -> dict[str, tuple[float, float]]:
    """Observed difference A - B and two-sided paired bootstrap p-value per metric.

    Both scenarios are scored on the same resampled subjects; with d_b the resampled differences (NaNs
    dropped), p = min(1, 2 * (1 + min(#{d_b <= 0}, #{d_b >= 0})) / (B + 1)): twice the smaller tail of
    the bootstrap distribution beyond 0 (percentile-CI inversion), with the +1 correction so p > 0.
    Identical predictions give p = 1."""
    y, pa = _labels_probs(y_true, prob_a)
    _, pb = _labels_probs(y_true, prob_b)
    idx = _resample_indices(y, n_boot, seed, stratified)
    boot_a, boot_b = _metric_rows(y[idx], pa[idx], threshold), _metric_rows(y[idx], pb[idx], threshold)
    point_a, point_b = binary_metrics(y, pa, threshold), binary_metrics(y, pb, threshold)
    out = {}
    for k in METRICS:
        d = boot_a[k] - boot_b[k]
        d = d[~np.isnan(d)]
        tail = min((d <= 0).sum(), (d >= 0).sum())
        out[k] = (point_a[k] - point_b[k], float(min(1.0, 2 * (1 + tail) / (len(d) + 1))))
    return out


class Pooled(NamedTuple):
    estimate: float
    total_variance: float
    within: float
    between: float


def rubin_pool(estimates, variances) -> Pooled:
    """Rubin's rules over K imputations: estimate = mean, W = mean within-imputation variance,
    B = between-imputation variance (ddof=1), total variance T = W + (1 + 1/K) B."""
    q, u = np.asarray(estimates, np.float64), np.asarray(variances, np.float64)
    if q.shape != u.shape or q.ndim != 1 or len(q) < 2:
        raise ValueError("need matching 1D estimates and variances from at least 2 imputations")
    within, between = float(u.mean()), float(q.var(ddof=1))
    return Pooled(float(q.mean()), within + (1 + 1 / len(q)) * between, within, between)


def bootstrap_variance(y_true, y_prob, threshold: float = 0.5, n_boot: int = 2000, seed: int = 0) -> dict[str, float]:
    """Bootstrap variance (ddof=1, NaN resamples left out) of each metric: the within-imputation variance
    that Rubin's rules need, on the same subject resamples as :func:`bootstrap_ci`."""
    y, p = _labels_probs(y_true, y_prob)
    idx = _resample_indices(y, n_boot, seed, False)
    boot = _metric_rows(y[idx], p[idx], threshold)
    return {k: float(np.nanvar(boot[k], ddof=1)) for k in METRICS}


def rubin_interval(estimates, variances, level: float = 0.95) -> tuple[Pooled, float, float, float]:
    """(pooled, low, high, df): the Rubin (1987) interval estimate +- t_df * sqrt(T) with
    df = (K - 1) * (1 + W / ((1 + 1/K) B))^2 (infinite when B = 0: the normal interval on W)."""
    from scipy.stats import t

    pooled = rubin_pool(estimates, variances)
    k = len(np.asarray(estimates))
    extra = (1 + 1 / k) * pooled.between
    df = float("inf") if extra == 0 else (k - 1) * (1 + pooled.within / extra) ** 2
    half = float(t.ppf(0.5 + level / 2, df)) * np.sqrt(pooled.total_variance)
    return pooled, pooled.estimate - half, pooled.estimate + half, df
