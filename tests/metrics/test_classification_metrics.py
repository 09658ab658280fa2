"""Binary metrics against scikit-learn, bootstrap CIs, paired bootstrap p-values, Rubin's rules."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, recall_score, roc_auc_score

from mrisynth.metrics.classification import (
    METRICS, _metric_rows, _resample_indices, binary_metrics, bootstrap_ci, fold_summary, paired_bootstrap_pvalue,
    rubin_pool,
)


def _predictions(n=60, seed=0, signal=1.0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    prob = 1 / (1 + np.exp(-(signal * (2 * y - 1) + rng.standard_normal(n))))
    return y, np.round(prob, 2)  # rounding creates ties for the AUC


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.62])
def test_point_metrics_equal_sklearn(threshold):
    y, p = _predictions()
    hat = (p >= threshold).astype(int)
    m = binary_metrics(y, p, threshold)
    assert m == {
        "acc": accuracy_score(y, hat), "sen": recall_score(y, hat), "spe": recall_score(y, hat, pos_label=0),
        "f1": f1_score(y, hat), "auc": roc_auc_score(y, p), "bac": balanced_accuracy_score(y, hat),
    }


def test_vectorised_auc_matches_sklearn_on_resamples():
    y, p = _predictions(seed=1)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(y), (50, len(y)))
    auc = _metric_rows(y[idx], p[idx], 0.5)["auc"]
    assert auc == pytest.approx([roc_auc_score(y[i], p[i]) for i in idx], abs=1e-12)


def test_undefined_metrics_are_nan():
    m = binary_metrics([0, 0, 0], [0.1, 0.7, 0.2])
    assert np.isnan(m["sen"]) and np.isnan(m["auc"]) and np.isnan(m["bac"])
    assert m["spe"] == pytest.approx(2 / 3) and m["f1"] == 0.0


def test_fold_summary_mean_and_sample_sd():
    folds = [{"acc": 0.5, "auc": 0.6}, {"acc": 0.7, "auc": float("nan")}, {"acc": 0.9, "auc": 0.8}]
    s = fold_summary(folds)
    assert s["acc"] == pytest.approx((0.7, 0.2), rel=1e-12)
    assert s["auc"] == pytest.approx((0.7, np.sqrt(0.02)), rel=1e-12)


@pytest.mark.parametrize("stratified", [False, True])
def test_bootstrap_ci(stratified):
    y, p = _predictions(n=80, seed=2)
    ci = bootstrap_ci(y, p, n_boot=500, seed=3, stratified=stratified)
    assert set(ci) == set(METRICS)
    point = binary_metrics(y, p)
    for k, (est, lo, hi) in ci.items():
        assert est == point[k] and lo < est < hi, k
    assert ci == bootstrap_ci(y, p, n_boot=500, seed=3, stratified=stratified)
    # percentile CI by hand for ACC on the same resamples
    idx = _resample_indices(y, 500, 3, stratified)
    accs = ((p[idx] >= 0.5) == y[idx]).mean(1)
    assert ci["acc"][1:] == pytest.approx(tuple(np.percentile(accs, [2.5, 97.5])), abs=1e-12)
    positives_per_resample = y[idx].sum(1)
    if stratified:
        assert (positives_per_resample == y.sum()).all()
    else:
        assert positives_per_resample.std() > 1


def test_paired_bootstrap_pvalue():
    y, good = _predictions(n=80, seed=4, signal=3.0)
    noise = np.random.default_rng(5).random(len(y))
    same = paired_bootstrap_pvalue(y, good, good.copy(), n_boot=300)
    assert all(diff == 0 and p == 1.0 for diff, p in same.values())
    better = paired_bootstrap_pvalue(y, good, noise, n_boot=300, seed=1)
    assert better["auc"][0] > 0.3 and better["auc"][1] == pytest.approx(2 / 301)
    # two-sided: swapping A and B flips the sign of the difference, not the p-value
    worse = paired_bootstrap_pvalue(y, noise, good, n_boot=300, seed=1)
    assert all(worse[k] == pytest.approx((-better[k][0], better[k][1])) for k in METRICS)
    # a small difference is not significant
    close = paired_bootstrap_pvalue(y, good, np.clip(good + 0.01 * noise, 0, 1), n_boot=300, seed=1)
    assert close["auc"][1] > 0.05


def test_rubin_pool_exact():
    pooled = rubin_pool([1.0, 2.0, 3.0], [0.1, 0.2, 0.3])
    assert pooled.estimate == 2.0 and pooled.within == pytest.approx(0.2) and pooled.between == 1.0
    assert pooled.total_variance == pytest.approx(0.2 + (1 + 1 / 3) * 1.0, rel=1e-12)
    with pytest.raises(ValueError):
        rubin_pool([1.0], [0.1])
