"""An independent reference of the scenario table (``mrisynth summarize``), written from its documented
conventions rather than from ``mrisynth.metrics.classification``: point metrics with scikit-learn, AUC in the
bootstrap as the pairwise probability P(p_pos > p_neg) + P(=) / 2, Rubin's rules written out.

Conventions it shares with the code (they are the table's definition): threshold 0.5 (``prob >= 0.5`` is
positive); the pooled predictions of a (task, classifier, scenario) in the order of the prediction files
(folds ascending); ``numpy.random.default_rng(seed).integers(0, n, (n_boot, n))`` resamples; 95% percentile
intervals (linear interpolation) ignoring resamples where a metric is undefined; the paired p-value
min(1, 2 (1 + min(#{d <= 0}, #{d >= 0})) / (B + 1)) on the subjects both scenarios predicted."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import t as student_t
from sklearn.metrics import accuracy_score, f1_score, recall_score, roc_auc_score

METRICS = ("acc", "sen", "spe", "f1", "auc", "bac")
REFERENCE = "mri_only"


def point_metrics(y, p) -> dict[str, float]:
    y, p = np.asarray(y, int), np.asarray(p, float)
    hat = (p >= 0.5).astype(int)
    has_pos, has_neg = (y == 1).any(), (y == 0).any()
    sen = recall_score(y, hat, pos_label=1, zero_division=np.nan) if has_pos else np.nan
    spe = recall_score(y, hat, pos_label=0, zero_division=np.nan) if has_neg else np.nan
    return {"acc": accuracy_score(y, hat), "sen": sen, "spe": spe, "f1": f1_score(y, hat, zero_division=np.nan),
            "auc": roc_auc_score(y, p) if has_pos and has_neg else np.nan, "bac": (sen + spe) / 2}


def resampled_metrics(y, p, idx) -> dict[str, np.ndarray]:
    """Metrics of each resample (rows of ``idx``), from confusion counts and pairwise comparisons."""
    y, p = np.asarray(y, int)[idx], np.asarray(p, float)[idx]
    hat = p >= 0.5
    tp, fn = ((y == 1) & hat).sum(1), ((y == 1) & ~hat).sum(1)
    tn, fp = ((y == 0) & ~hat).sum(1), ((y == 0) & hat).sum(1)
    out = {k: np.full(len(idx), np.nan) for k in METRICS}
    for b in range(len(idx)):
        pos, neg = p[b][y[b] == 1], p[b][y[b] == 0]
        out["acc"][b] = (tp[b] + tn[b]) / y.shape[1]
        if len(pos):
            out["sen"][b] = tp[b] / len(pos)
        if len(neg):
            out["spe"][b] = tn[b] / len(neg)
        if 2 * tp[b] + fp[b] + fn[b]:
            out["f1"][b] = 2 * tp[b] / (2 * tp[b] + fp[b] + fn[b])
        if len(pos) and len(neg):
            diff = pos[:, None] - neg[None, :]
            out["auc"][b] = ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size
    out["bac"] = (out["sen"] + out["spe"]) / 2
    return out


def _resamples(n: int, n_boot: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def _percentiles(values: np.ndarray) -> tuple[float, float]:
    values = values[~np.isnan(values)]
    return (np.nan, np.nan) if not len(values) else tuple(np.percentile(values, [2.5, 97.5]))


def _fold_mean_sd(g: pd.DataFrame) -> dict[str, tuple[float, float]]:
    per_fold = pd.DataFrame([point_metrics(f["label"], f["prob"]) for _, f in g.groupby("fold")])
    if len(per_fold) == 1:
        return {m: (per_fold[m].iloc[0], np.nan) for m in METRICS}
    return {m: (per_fold[m].mean(), per_fold[m].std(ddof=1)) for m in METRICS}  # pandas skips NaN folds


def single_row(g: pd.DataFrame, ref: pd.DataFrame | None, n_boot: int, seed: int) -> dict:
    y, p = g["label"].to_numpy(), g["prob"].to_numpy()
    row = {"n": len(g), "n_pos": int(y.sum()), "folds": g["fold"].nunique()}
    point, folds = point_metrics(y, p), _fold_mean_sd(g)
    boot = resampled_metrics(y, p, _resamples(len(y), n_boot, seed))
    pvals = {}
    if ref is not None:
        both = g.merge(ref[["fold", "participant_id", "prob"]], on=["fold", "participant_id"], suffixes=("", "_ref"))
        row["n_paired"] = len(both)
        idx = _resamples(len(both), n_boot, seed)
        a = resampled_metrics(both["label"], both["prob"], idx)
        b = resampled_metrics(both["label"], both["prob_ref"], idx)
        for m in METRICS:
            d = a[m] - b[m]
            d = d[~np.isnan(d)]
            pvals[m] = min(1.0, 2 * (1 + min((d <= 0).sum(), (d >= 0).sum())) / (len(d) + 1))
    for m in METRICS:
        row[f"{m}_mean"], row[f"{m}_sd"] = folds[m]
        row[f"{m}_pooled"] = point[m]
        row[f"{m}_lo"], row[f"{m}_hi"] = _percentiles(boot[m])
        row[f"{m}_p"] = pvals.get(m, np.nan)
    return row


def rubin(estimates, variances) -> tuple[float, float, float, float, float, float]:
    """(estimate, lo, hi, W, B, df) of Rubin's rules (1987), 95%."""
    q, u = np.asarray(estimates, float), np.asarray(variances, float)
    k = len(q)
    w, b = u.mean(), q.var(ddof=1)
    total = w + (1 + 1 / k) * b
    df = np.inf if b == 0 else (k - 1) * (1 + w / ((1 + 1 / k) * b)) ** 2
    half = student_t.ppf(0.975, df) * np.sqrt(total)
    return q.mean(), q.mean() - half, q.mean() + half, w, b, df


def multi_row(g: pd.DataFrame, n_boot: int, seed: int) -> dict:
    """A multiply imputed scenario: one analysis per imputation, pooled; intervals clipped to [0, 1]."""
    ks = sorted(g["imputation"].unique())
    first = g[g["imputation"] == ks[0]]
    row = {"n": len(first), "n_pos": int(first["label"].sum()), "folds": first["fold"].nunique(), "imputations": len(ks)}
    per_k = []
    for k in ks:
        gk = g[g["imputation"] == k]
        boot = resampled_metrics(gk["label"], gk["prob"], _resamples(len(gk), n_boot, seed))
        per_k.append((point_metrics(gk["label"], gk["prob"]), {m: np.nanvar(v, ddof=1) for m, v in boot.items()},
                      _fold_mean_sd(gk)))
    for m in METRICS:
        row[f"{m}_mean"] = np.nanmean([f[m][0] for _, _, f in per_k])
        sds = [f[m][1] for _, _, f in per_k]
        row[f"{m}_sd"] = np.nan if np.isnan(sds).all() else np.nanmean(sds)
        row[f"{m}_p"] = np.nan
        est, var = [p[m] for p, _, _ in per_k], [v[m] for _, v, _ in per_k]
        if np.isnan(est).any() or np.isnan(var).any():
            row[f"{m}_pooled"] = row[f"{m}_lo"] = row[f"{m}_hi"] = np.nan
            continue
        q, lo, hi, w, b, df = rubin(est, var)
        row[f"{m}_pooled"], row[f"{m}_lo"], row[f"{m}_hi"] = q, max(lo, 0.0), min(hi, 1.0)
        if m == "auc":
            row.update(auc_within=w, auc_between=b, auc_df=df)
    return row


def reference_table(pred: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    """One row per (task, classifier, scenario) of the pooled predictions ``pred`` (rows in file order)."""
    rows = []
    for (task, clf, scen), g in pred.groupby(["task", "classifier", "scenario"], sort=False):
        key = {"task": task, "classifier": clf, "scenario": scen}
        if "imputation" in g and g["imputation"].notna().any():
            rows.append(key | multi_row(g, n_boot, seed))
            continue
        ref = pred[(pred["task"] == task) & (pred["classifier"] == clf) & (pred["scenario"] == REFERENCE)]
        rows.append(key | single_row(g, ref if scen != REFERENCE and len(ref) else None, n_boot, seed))
    return pd.DataFrame(rows)


def compare_tables(written: pd.DataFrame, reference: pd.DataFrame, decimals: int = 4) -> list[str]:
    """Differences between a written table (floats rounded to ``decimals``) and the reference, as messages:
    the same rows, the same columns, every number equal to the reference rounded the same way."""
    key = ["task", "classifier", "scenario"]
    problems = []
    w, r = written.set_index(key), reference.set_index(key)
    if sorted(w.index) != sorted(r.index):
        return [f"rows differ: written {sorted(w.index)} vs reference {sorted(r.index)}"]
    missing = sorted(set(r.columns) - set(w.columns))
    if missing:
        problems.append(f"columns missing from the written table: {missing}")
    tol = 0.5 * 10.0**-decimals + 1e-9
    for idx in r.index:
        for col in sorted(set(r.columns) & set(w.columns)):
            a, b = float(w.at[idx, col]), float(r.at[idx, col])
            same = (np.isnan(a) and np.isnan(b)) or (np.isinf(a) and a == b) or abs(a - b) <= tol
            if not same:
                problems.append(f"{idx} {col}: written {a!r}, reference {b!r}")
    return problems
