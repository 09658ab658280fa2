"""The scenario table against scikit-learn on the same predictions."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, recall_score, roc_auc_score

from mrisynth.cli import main
from mrisynth.classify.summarize import REFERENCE
from mrisynth.config import load_config

from ..scenario_reference import compare_tables, reference_table


def _predictions(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for clf in ("landmark", "regional"):
        for scen, noise in ((REFERENCE, 0.45), ("mri+zero_fill", 0.3), ("mri+real_pet", 0.2)):
            for fold in range(3):
                n = 20
                pid = [f"s{fold}{i:02d}" for i in range(n)]
                label = np.arange(n) % 2
                task = np.where(np.arange(n) < 12, "pMCI_vs_sMCI", "AD_vs_NC")
                prob = np.clip(label * 0.4 + 0.3 + rng.normal(0, noise, n), 0, 1)
                df = pd.DataFrame({"participant_id": pid, "session_id": "bl", "diagnosis": "x", "task": task,
                                   "label": label, "prob": prob, "has_pet": np.arange(n) % 3 > 0, "fold": fold,
                                   "scenario": scen, "classifier": clf})
                if scen == "mri+real_pet":
                    df = df[df["has_pet"]]
                path = tmp_path / clf / scen / f"fold-{fold}.csv"
                path.parent.mkdir(parents=True, exist_ok=True)
                df.to_csv(path, index=False)
                paths.append(str(path))
    return paths


def test_scenario_table_matches_sklearn(tmp_path):
    paths = _predictions(tmp_path)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("classify: {n_bootstrap: 300}\n")
    assert main(["summarize", "--predictions", *paths, "--out-dir", str(tmp_path / "out"), "--config", str(cfg)]) == 0
    table = pd.read_csv(tmp_path / "out" / "scenarios.csv")
    pred = pd.read_csv(tmp_path / "out" / "predictions.csv")
    assert len(table) == 2 * 2 * 3 and list(table["task"].unique()) == ["pMCI_vs_sMCI", "AD_vs_NC"]
    row = table[(table.task == "pMCI_vs_sMCI") & (table.classifier == "regional") & (table.scenario == "mri+zero_fill")].iloc[0]
    g = pred[(pred.task == "pMCI_vs_sMCI") & (pred.classifier == "regional") & (pred.scenario == "mri+zero_fill")]
    y, p = g["label"], g["prob"]
    hat = (p >= 0.5).astype(int)
    assert row["auc_pooled"] == pytest.approx(roc_auc_score(y, p), abs=1e-4)
    assert row["acc_pooled"] == pytest.approx(accuracy_score(y, hat), abs=1e-4)
    assert row["sen_pooled"] == pytest.approx(recall_score(y, hat), abs=1e-4)
    assert row["spe_pooled"] == pytest.approx(recall_score(y, hat, pos_label=0), abs=1e-4)
    assert row["f1_pooled"] == pytest.approx(f1_score(y, hat), abs=1e-4)
    assert row["bac_pooled"] == pytest.approx(balanced_accuracy_score(y, hat), abs=1e-4)
    fold_auc = [roc_auc_score(f["label"], f["prob"]) for _, f in g.groupby("fold")]
    assert row["auc_mean"] == pytest.approx(np.mean(fold_auc), abs=1e-4)
    assert row["auc_sd"] == pytest.approx(np.std(fold_auc, ddof=1), abs=1e-4)
    assert row["n"] == 36 and row["n_paired"] == 36
    # every number of the table (bootstrap CIs and paired p-values too) against the independent reference
    inputs = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    assert not compare_tables(table, reference_table(inputs, 300, load_config(None)["seed"]), decimals=4)
    real = table[(table.task == "pMCI_vs_sMCI") & (table.classifier == "regional") & (table.scenario == "mri+real_pet")].iloc[0]
    assert real["n"] == real["n_paired"] == 24  # complete cases only, paired with mri_only on those subjects
    ref = table[table.scenario == REFERENCE]
    assert ref["auc_p"].isna().all()
    md = (tmp_path / "out" / "scenarios.md").read_text()
    assert md.count("\n| pMCI_vs_sMCI") == 6 and "paired bootstrap" in md
    assert (tmp_path / "out" / "roc.png").stat().st_size > 5000
