"""The DSNet classifier through the classify command on the tiny planted cohort."""

import json

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from mrisynth.cohort.splits import load_split
from mrisynth.cli import main
from mrisynth.report.index import dsnet_section

from .conftest import build_cohort

DSNET = {"channels": 4, "n_stages": 2, "input_pool": 1, "epochs": 12, "batch_size": 8, "lr": 0.005, "patience": 12,
         "dropout": 0.0, "figure_subjects": 3}


def test_dsnet_classifier_learns_the_planted_signal_and_writes_its_maps(tmp_path):
    c = build_cohort(tmp_path, classify={"dsnet": DSNET, "population": "ad_nc", "n_bootstrap": 200})
    preds = {}
    for scenario in ("mri+true_pet", "mri_only"):
        assert main(["classify", "--fold", "0", "--scenario", scenario, "--classifier", "dsnet",
                     "--config", str(c["config"])]) == 0
        out = c["results"] / "classify" / "dsnet" / scenario / "fold-0"
        preds[scenario] = pd.read_csv(out / "predictions.csv")
        assert (out / "specificity.png").stat().st_size > 0 and (out / "model.pt").exists()
        history = pd.read_csv(out / "history.csv")  # epoch 0: the start, the regression on the ROI means
        assert history["epoch"].iloc[0] == 0 and 2 <= len(history) <= DSNET["epochs"] + 1
        # background and padding are masked out of the spatial cosine module: the attention stays in the brain
        spec = json.loads((out / "specificity.json").read_text())
        # the epoch count chosen on validation (then refit on train + val) is one the history reached
        assert 0 <= spec["epochs"] <= history["epoch"].max()
        assert spec["in_brain_mass"]["min"] >= 0.9 and len(spec["in_brain_mass"]["per_branch_mean"]) == (2 if "pet" in scenario else 1)
    split = load_split(c["results"] / "splits" / "fold-0.json")
    pred = preds["mri+true_pet"]
    assert sorted(pred["participant_id"]) == sorted(split.test) and pred["prob"].between(0, 1).all()
    assert list(preds["mri_only"]["participant_id"]) == list(pred["participant_id"])
    ad_nc = pred[pred["task"] == "AD_vs_NC"]
    assert roc_auc_score(ad_nc["label"], ad_nc["prob"]) > 0.75  # PET and T1 carry a strong planted AD/NC signal
    assert not np.array_equal(pred["prob"].to_numpy(), preds["mri_only"]["prob"].to_numpy())
    section = dsnet_section(c["results"])  # the report shows the maps of every scenario
    assert section.body.count("<h3>") == 2 and section.body.count("<img") == 2


def test_the_epoch_is_chosen_on_the_neighbour_averaged_validation_loss():
    from mrisynth.classify.dsnet import smoothed_argmin

    losses = [0.7, 0.7, 0.3, 0.9, 0.5, 0.5, 0.5]  # a lucky single epoch (2) among worse neighbours
    assert int(np.argmin(losses)) == 2 and smoothed_argmin(losses) == 5
    assert smoothed_argmin([0.4]) == 0


def test_inner_cross_validation_pools_every_development_subject_and_refits(tmp_path):
    """The epochs and the calibration come from held-out logits of every train + val subject (3 inner folds);
    with fewer subjects of a class than inner folds, as many folds as that class allows."""
    import torch

    from mrisynth.classify.dsnet import DSNetConfig, train_predict

    g = torch.Generator().manual_seed(0)
    n = 16
    labels = np.arange(n) % 2
    x = (torch.randn(n, 1, 16, 16, 16, generator=g) * 0.3).numpy()
    x[labels == 1, :, 5:11, 5:11, 5:11] += 1.0
    masks = np.ones((n, 16, 16, 16), bool)
    roi = x[:, 0, 5:11, 5:11, 5:11].mean((1, 2, 3))[:, None] + np.random.default_rng(0).normal(0, 0.3, (n, 1))
    dc = DSNetConfig(channels=2, n_stages=1, input_pool=1, temperature=10.0, dropout=0.0, epochs=3, batch_size=4,
                     lr=0.01, weight_decay=0.0, patience=0, mask_threshold=0.5, inner_folds=3)
    train_idx, val_idx, test_idx = np.arange(8), np.arange(8, 11), np.arange(11, 16)
    prob = train_predict(x, labels, train_idx, val_idx, dc, 0, tmp_path, np.arange(0), masks, test_idx, roi)
    history = pd.read_csv(tmp_path / "history.csv")
    assert list(history["epoch"]) == [0, 1, 2, 3]  # every epoch of every inner fold (no early stopping)
    spec = json.loads((tmp_path / "specificity.json").read_text())
    assert spec["epochs"] == history.loc[history["val_loss"].idxmin(), "epoch"]
    assert 1e-3 <= spec["start_C"] <= 10  # the start regression's L2 strength, cross-validated on the same grid
    assert prob.shape == (n,) and np.all((prob > 0) & (prob < 1))
    # 11 development subjects, 5 of class 1: 3 folds; with only 2 of class 1 in train + val: 2 folds, still runs
    few = np.array([0, 1, 2, 4, 6, 3])  # labels 0 1 0 0 0 1
    train_predict(x, labels, few[:4], few[4:], dc, 0, tmp_path, np.arange(0), masks, test_idx, roi)
    assert list(pd.read_csv(tmp_path / "history.csv")["epoch"]) == [0, 1, 2, 3]


def test_inputs_pooled_once_give_the_per_batch_poolings_bit_for_bit():
    """The job pools the volumes and the brain mask once (_net_inputs); the logits and specificity maps must be
    exactly those of a net that pools its input and its mask in every forward pass."""
    import torch

    from mrisynth.classify.dsnet import DSNetConfig, _net_inputs
    from mrisynth.zoo.nets.dsnet import DSNet

    dc = DSNetConfig(channels=4, n_stages=2, input_pool=2, temperature=10.0, dropout=0.0, epochs=1, batch_size=4,
                     lr=1e-3, weight_decay=0.0, patience=1, mask_threshold=0.5)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 2, 24, 20, 16, generator=g)
    brain = (torch.rand(5, 1, 24, 20, 16, generator=g) > 0.3).float()
    pooled, fraction = _net_inputs(x, brain, dc)
    assert pooled.shape == (5, 2, 12, 10, 8) and fraction.shape == (5, 1, 2, 2, 1)
    torch.manual_seed(1)
    per_batch = DSNet(n_branches=2, channels=4, n_stages=2, input_pool=2).eval()
    once = DSNet(n_branches=2, channels=4, n_stages=2, input_pool=1).eval()
    once.load_state_dict(per_batch.state_dict())
    for idx in ([0, 1, 2], [3, 4]):
        want, want_br = per_batch.explain(x[idx, :1], x[idx, 1:], mask=brain[idx])
        got, got_br = once.explain(pooled[idx, :1], pooled[idx, 1:], mask=fraction[idx])
        assert torch.equal(got, want)
        assert all(torch.equal(a.specificity, b.specificity) for a, b in zip(got_br, want_br))
