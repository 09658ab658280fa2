"""Scenario mri+multi_imputed_<model>: Rubin's interval (exact values), pooling of identical imputations,
and classify + summarize end to end over K imputed draws written like ``impute --samples K``."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t

from mrisynth.classify.multiple import comparison_table, pooled_row
from mrisynth.classify.scenarios import scenario_names
from mrisynth.cli import main
from mrisynth.io.nifti import load_nifti, save_nifti
from mrisynth.metrics.classification import binary_metrics, bootstrap_variance, rubin_interval
from mrisynth.preprocess.outputs import subject_paths
from mrisynth.synthesis.paths import imputation_done, imputed_pet_path, imputed_samples_path

from ..scenario_reference import compare_tables, reference_table


def test_rubin_interval_exact():
    pooled, lo, hi, df = rubin_interval([1.0, 2.0, 3.0], [0.1, 0.2, 0.3])
    # W = 0.2, B = 1, T = 0.2 + 4/3; df = (K-1) (1 + W / ((1 + 1/K) B))^2 = 2 * 1.15^2
    assert df == pytest.approx(2 * 1.15**2, rel=1e-12)
    half = t.ppf(0.975, 2 * 1.15**2) * np.sqrt(0.2 + 4 / 3)
    assert (lo, hi) == pytest.approx((2 - half, 2 + half), rel=1e-12)
    pooled, lo, hi, df = rubin_interval([0.7, 0.7], [0.01, 0.01])  # no between-imputation variance
    assert df == np.inf and (lo, hi) == pytest.approx((0.7 - 1.959964 * 0.1, 0.7 + 1.959964 * 0.1), abs=1e-6)


def test_identical_imputations_pool_to_the_single_analysis():
    rng = np.random.default_rng(0)
    one = pd.DataFrame({"label": np.arange(40) % 2, "fold": np.arange(40) % 2, "participant_id": [f"s{i}" for i in range(40)]})
    one["prob"] = np.clip(0.3 * one["label"] + rng.uniform(0, 0.7, 40), 0, 1)
    g = pd.concat([one.assign(imputation=k, scenario="mri+multi_imputed_x") for k in (1, 2, 3)], ignore_index=True)
    row = pooled_row(g, n_boot=300, seed=0)
    auc = binary_metrics(one["label"], one["prob"])["auc"]
    w = bootstrap_variance(one["label"], one["prob"], n_boot=300, seed=0)["auc"]
    assert row["imputations"] == 3 and row["n"] == 40 and row["auc_between"] == 0
    assert row["auc_pooled"] == pytest.approx(auc) and row["auc_within"] == pytest.approx(w)
    assert (row["auc_lo"], row["auc_hi"]) == pytest.approx((auc - 1.959964 * np.sqrt(w), auc + 1.959964 * np.sqrt(w)), abs=1e-6)


def test_multi_imputed_scenario_end_to_end(cohort, capsys):
    c, k, fold = cohort, 4, 2
    from mrisynth.config import load_config

    cfg_names = scenario_names(load_config(None, overrides={
        "cohort": "phantom", "classify": {"scenarios": ["mri_only"]},
        "synthesis": {"models": {"pix2pix": {"samples": k}, "cyclegan": {}}}}))
    assert cfg_names == ["mri_only", "mri+imputed_linear", "mri+imputed_pix2pix", "mri+imputed_cyclegan",
                         "mri+multi_imputed_pix2pix"]
    manifest = pd.read_csv(c["manifest"])
    rng = np.random.default_rng(0)
    for pid in manifest.loc[manifest["pet"].isna(), "participant_id"]:
        truth = load_nifti(subject_paths(c["results"], pid, "bl", 7.5).truth_pet)
        data = np.asarray(truth.dataobj, np.float32)
        draws = data[..., None] + rng.normal(0, 0.3, (*data.shape, k)).astype(np.float32)  # noisy imputations
        save_nifti(draws, truth.affine, imputed_samples_path(c["results"], "pix2pix", fold, pid, "bl", 7.5))
        save_nifti(draws.mean(-1), truth.affine, imputed_pet_path(c["results"], "pix2pix", fold, pid, "bl", 7.5))
    imputation_done(c["results"], "pix2pix", fold).write_text("participant_id\n")
    args = ["classify", "--fold", str(fold), "--config", str(c["config"])]
    assert main(args + ["--scenario", "mri+multi_imputed_pix2pix", "--classifier", "regional"]) == 0
    assert main(args + ["--scenario", "mri+imputed_pix2pix", "--classifier", "regional"]) == 0
    assert main(args + ["--scenario", "mri+multi_imputed_pix2pix", "--classifier", "landmark"]) == 2
    assert "regional classifier only" in capsys.readouterr().err
    out = c["results"] / "classify" / "regional"
    pred = pd.read_csv(out / "mri+multi_imputed_pix2pix" / f"fold-{fold}" / "predictions.csv")
    true = pd.read_csv(out / "mri+imputed_pix2pix" / f"fold-{fold}" / "predictions.csv")
    assert sorted(pred["imputation"].unique()) == [1, 2, 3, 4] and len(pred) == k * len(true)
    assert set(pred["participant_id"]) == set(true["participant_id"])
    assert pred.groupby("participant_id")["prob"].std().max() > 0  # the imputations change the predictions
    summary = c["results"] / "summary"
    assert main(["summarize", "--predictions", str(out / "mri+multi_imputed_pix2pix" / f"fold-{fold}" / "predictions.csv"),
                 str(out / "mri+imputed_pix2pix" / f"fold-{fold}" / "predictions.csv"), "--out-dir", str(summary),
                 "--config", str(c["config"])]) == 0
    table = pd.read_csv(summary / "scenarios.csv")
    multi = table[table["scenario"] == "mri+multi_imputed_pix2pix"]
    assert len(multi) == 2 and (multi["imputations"] == k).all()  # one row per task
    # every number of both scenarios' rows (Rubin's estimate, interval, W, B, df) against the reference
    inputs = pd.concat([pred, true], ignore_index=True)
    assert not compare_tables(table, reference_table(inputs, n_boot=200, seed=0), decimals=4)
    assert (multi["auc_between"] > 0).any()  # the draws change some AUC: the between-imputation term is in play
    comparison = comparison_table(table)
    assert len(comparison) == 2 and comparison["single width"].notna().all() and (comparison["K"] == k).all()
    assert "Rubin AUC [95% CI]" in (summary / "scenarios.md").read_text()
