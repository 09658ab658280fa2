"""Scenario ``mri+multi_imputed_<model>``: the classifier over the K imputations of ``impute --samples K``,
pooled with Rubin's rules.

Each PET-less subject brings its K imputed PETs (the 4D draws file), subjects with a real PET bring it in
every imputation; the classifier is trained and evaluated once per imputation k on the same subjects, and
each metric is pooled over the K runs: estimate = mean, total variance T = W + (1 + 1/K) B with W the
mean within-imputation (bootstrap) variance and B the between-imputation variance, interval
estimate +- t_df sqrt(T) (:func:`mrisynth.metrics.classification.rubin_interval`).

Only the regional baseline (ROI means + logistic regression, one fit in milliseconds) runs over the K
imputations: K landmark-CNN trainings per fold would multiply the demo's classifier time by K. Its
predictions carry an ``imputation`` column (1..K), one row per test subject and imputation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mrisynth.errors import InputError

CLASSIFIERS = ("regional",)


def _roi_means(volumes: np.ndarray, rois: list[np.ndarray]) -> np.ndarray:
    """(V, R) means of each volume (V, X, Y, Z) in each ROI (already intersected with the brain mask)."""
    return np.stack([volumes[:, roi].mean(1) if roi.any() else np.zeros(len(volumes)) for roi in rois], 1)


def imputed_features(cohort: pd.DataFrame, images: dict, sources: list, regions: list[str]) -> np.ndarray:
    """(K, N, 2R) regional T1 and PET means per imputation: real PET (3D file) is the same in every
    imputation, imputed PET (4D file of K draws) gives draw k to imputation k."""
    import nibabel as nib

    from mrisynth.anatomy import region_mask
    from mrisynth.io.nifti import load_nifti

    feats, k_seen = [], set()
    for pid, source in zip(cohort["participant_id"], sources):
        t1 = load_nifti(images[pid].t1)
        mask = np.asarray(load_nifti(images[pid].mask).dataobj) > 0.5
        rois = [region_mask(name, t1.affine, mask.shape) & mask for name in regions]
        t1_feat = _roi_means(np.asarray(t1.dataobj, np.float32)[None], rois)[0]
        if not Path(source).exists():
            raise InputError(f"multiple imputation: {source} does not exist (did `mrisynth impute --samples K` run?)")
        pet = np.asarray(nib.load(source).dataobj, np.float32)
        if pet.shape[:3] != mask.shape:
            raise InputError(f"multiple imputation: {source} is not on the grid of {images[pid].t1}")
        draws = np.moveaxis(pet, -1, 0) if pet.ndim == 4 else pet[None]
        if pet.ndim == 4:
            k_seen.add(draws.shape[0])
        feats.append((t1_feat, _roi_means(draws, rois)))
    if len(k_seen) != 1 or min(k_seen) < 2:
        raise InputError(f"multiple imputation: the imputed subjects have {sorted(k_seen) or 'no'} draws; need one K >= 2")
    k = k_seen.pop()
    return np.stack([[np.concatenate([t, p[min(i, len(p) - 1)]]) for t, p in feats] for i in range(k)])


def classify_over_imputations(cfg: dict, cohort: pd.DataFrame, images: dict, sources: list, labels: np.ndarray,
                              fit_idx: np.ndarray, test_idx: np.ndarray, classifier: str, seed: int) -> pd.DataFrame:
    """Test predictions of the regional classifier fit once per imputation, with an ``imputation`` column."""
    from mrisynth.classify.regional import fit_predict

    if classifier not in CLASSIFIERS:
        raise InputError(f"multiple-imputation scenarios run the {'/'.join(CLASSIFIERS)} classifier only, not {classifier!r}")
    rc = cfg["classify"]["regional"]
    features = imputed_features(cohort, images, sources, rc["regions"])
    frames = []
    for k, feat in enumerate(features, start=1):
        _, prob = fit_predict(feat, labels, fit_idx, rc["C"], seed)
        pred = cohort.iloc[test_idx][["participant_id", "session_id", "diagnosis", "task", "label", "has_pet"]].copy()
        pred["prob"], pred["imputation"] = prob[test_idx], k
        frames.append(pred)
    return pd.concat(frames, ignore_index=True)


def is_multi(scenario: str) -> bool:
    from mrisynth.classify.scenarios import MULTI_PREFIX

    return scenario.startswith(MULTI_PREFIX)


def pooled_row(g: pd.DataFrame, n_boot: int, seed: int, level: float = 0.95) -> dict:
    """Scenario-table columns of one multi-imputation group: per metric the fold mean and sd (averaged over
    imputations), the Rubin estimate and interval (``pooled``, ``lo``, ``hi``), plus K, W, B and df."""
    from mrisynth.metrics.classification import METRICS, binary_metrics, bootstrap_variance, fold_summary, rubin_interval

    ks = sorted(g["imputation"].unique())
    if len(ks) < 2:
        raise InputError(f"scenario {g['scenario'].iloc[0]}: predictions of {len(ks)} imputation(s); Rubin's rules need >= 2")
    points, variances, folds = [], [], []
    for k in ks:
        gk = g[g["imputation"] == k]
        points.append(binary_metrics(gk["label"], gk["prob"]))
        variances.append(bootstrap_variance(gk["label"], gk["prob"], n_boot=n_boot, seed=seed))
        per_fold = [binary_metrics(f["label"], f["prob"]) for _, f in gk.groupby("fold")]
        folds.append(fold_summary(per_fold) if len(per_fold) > 1 else {m: (v, np.nan) for m, v in per_fold[0].items()})
    first = g[g["imputation"] == ks[0]]
    row = {"n": len(first), "n_pos": int(first["label"].sum()), "folds": first["fold"].nunique(), "imputations": len(ks)}
    for m in METRICS:
        row[f"{m}_mean"] = float(np.nanmean([f[m][0] for f in folds]))
        sds = [f[m][1] for f in folds]
        row[f"{m}_sd"] = np.nan if np.isnan(sds).all() else float(np.nanmean(sds))
        row[f"{m}_p"] = np.nan  # no paired test against mri_only for pooled imputations
        est = np.array([p[m] for p in points])
        var = np.array([v[m] for v in variances])
        if np.isnan(est).any() or np.isnan(var).any():
            row[f"{m}_pooled"] = row[f"{m}_lo"] = row[f"{m}_hi"] = np.nan
            continue
        pooled, lo, hi, df = rubin_interval(est, var, level)
        # every metric lives in [0, 1]: the t interval is clipped to it (with few test subjects it can overshoot)
        row[f"{m}_pooled"], row[f"{m}_lo"], row[f"{m}_hi"] = pooled.estimate, max(lo, 0.0), min(hi, 1.0)
        if m == "auc":
            row.update(auc_within=pooled.within, auc_between=pooled.between, auc_df=df)
    return row


def comparison_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per multi-imputation row: the Rubin AUC interval next to the single-imputation (mean of the draws)
    bootstrap interval of ``mri+imputed_<model>`` (same task and classifier), and their widths."""
    from mrisynth.classify.scenarios import IMPUTED_PREFIX, MULTI_PREFIX

    rows = []
    for r in table[table["scenario"].str.startswith(MULTI_PREFIX)].itertuples():
        model = r.scenario[len(MULTI_PREFIX):]
        single = table[(table["task"] == r.task) & (table["classifier"] == r.classifier) & (table["scenario"] == IMPUTED_PREFIX + model)]
        s = single.iloc[0] if len(single) else None
        within_half = 1.959964 * np.sqrt(r.auc_within)
        rows.append({"task": r.task, "classifier": r.classifier, "model": model, "K": int(r.imputations),
                     "single AUC": np.nan if s is None else s["auc_pooled"],
                     "single lo": np.nan if s is None else s["auc_lo"], "single hi": np.nan if s is None else s["auc_hi"],
                     "single width": np.nan if s is None else s["auc_hi"] - s["auc_lo"],
                     "Rubin AUC": r.auc_pooled, "Rubin lo": r.auc_lo, "Rubin hi": r.auc_hi, "Rubin width": r.auc_hi - r.auc_lo,
                     "within-only width": min(r.auc_pooled + within_half, 1) - max(r.auc_pooled - within_half, 0), "W": r.auc_within, "B": r.auc_between, "df": r.auc_df})
    out = pd.DataFrame(rows)
    if len(out):
        out["width ratio"] = out["Rubin width"] / out["single width"]
    return out


NOTE = ("Multiple imputation: mri+multi_imputed_<model> trains and evaluates the regional classifier once per "
        "imputation (K draws of the stochastic generator) and pools with Rubin's rules: estimate = mean over "
        "imputations, total variance T = W + (1 + 1/K) B (W: mean bootstrap variance within an imputation, B: "
        "variance between imputations), 95% interval estimate ± t_df √T clipped to [0, 1]. 'single': the mri+imputed_<model> row "
        "(one imputation = the mean of the draws) with its percentile bootstrap CI; 'within-only': ± 1.96 √W, "
        "the interval that ignores the imputation uncertainty.")


def markdown(comparison: pd.DataFrame) -> str:
    if comparison.empty:
        return ""
    lines = ["| task | classifier | model | K | single AUC [95% CI] | width | Rubin AUC [95% CI] | width | within-only width | ratio | W | B |",
             "|---|---|---|---:|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in comparison.to_dict("records"):
        lines.append(f"| {r['task']} | {r['classifier']} | {r['model']} | {r['K']} | {r['single AUC']:.3f} [{r['single lo']:.3f}, "
                     f"{r['single hi']:.3f}] | {r['single width']:.3f} | {r['Rubin AUC']:.3f} [{r['Rubin lo']:.3f}, "
                     f"{r['Rubin hi']:.3f}] | {r['Rubin width']:.3f} | {r['within-only width']:.3f} | {r['width ratio']:.2f} | "
                     f"{r['W']:.2e} | {r['B']:.2e} |")
    return "\n".join(lines) + "\n\n" + NOTE + "\n"
