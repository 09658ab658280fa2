"""Landmark network, training and the classify command on the tiny planted cohort."""

import json
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from mrisynth.classify.network import LandmarkMIL, extract_patches
from mrisynth.cohort.splits import load_split
from mrisynth.classify.train import NetConfig, predict, train
from mrisynth.cli import main


def test_extract_patches_crops_and_area_averages():
    vol = torch.arange(2 * 10 * 11 * 12, dtype=torch.float32).reshape(1, 2, 10, 11, 12)
    centres = torch.tensor([[[4.5, 5.5, 6.5], [3.0, 3.0, 3.0]]])
    p = extract_patches(vol, centres, size=4, out=4)
    assert p.shape == (1, 2, 2, 4, 4, 4)
    assert torch.allclose(p[0, 0, 1], vol[0, 1, 3:7, 4:8, 5:9])  # half-voxel centre of an even patch
    q = extract_patches(vol, centres, size=3, out=3)
    assert torch.allclose(q[0, 1, 0], vol[0, 0, 2:5, 2:5, 2:5])
    r = extract_patches(vol, centres, size=4, out=2)
    ref = torch.nn.functional.avg_pool3d(vol[:, :, 3:7, 4:8, 5:9], 2)
    assert torch.allclose(r[0, 0], ref[0])
    edge = extract_patches(vol, torch.tensor([[[0.0, 0.0, 0.0]]]), size=3, out=3)
    assert edge[0, 0, 0, 0].abs().max() < 1e-3 and edge[0, 0, 0, 1, 1, 1] == pytest.approx(vol[0, 0, 0, 0, 0].item(), abs=1e-3)  # zeros outside


def test_attention_weights_sum_to_one_and_max_pooling_runs():
    patches = torch.randn(3, 5, 4, 4, 4, 4)  # 2 modalities x 2 scales
    for pooling in ("attention", "max"):
        torch.manual_seed(0)
        logits, w = LandmarkMIL(5, 2, 2, channels=2, features=4, pooling=pooling)(patches)
        assert logits.shape == (3,) and w.shape == (3, 5)
        assert torch.allclose(w.sum(1), torch.ones(3))


def _toy(n=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 12, 12, 12, generator=g) * 0.3
    labels = np.arange(n) % 2
    x[labels == 1, :, 4:8, 4:8, 4:8] += 1.5  # planted signal around the landmark (6, 6, 6)
    return x, labels, torch.tensor([[6.0, 6.0, 6.0], [2.0, 9.0, 3.0]])


NC = NetConfig(patch_sizes=(4, 6), patch_out=4, channels=4, features=8, pooling="attention", dropout=0.0, epochs=5,
               batch_size=7, lr=0.01, weight_decay=0.0, patience=10, jitter=1)


def test_training_learns_resumes_bit_exactly_and_is_seeded(tmp_path):
    x, labels, centres = _toy()
    tr, va = np.arange(14), np.arange(14, 20)
    torch.manual_seed(0)
    model, hist = train(x, labels, tr, va, centres, NC, seed=1, checkpoint=tmp_path / "a.pt", extra_state={"k": 1})
    # epoch 0: the start (the regression on the patch means, no training loss), then 5 epochs
    assert [h["epoch"] for h in hist] == list(range(6)) and hist[-1]["train_loss"] < hist[1]["train_loss"]
    prob = predict(model, x, centres, NC)
    assert prob[va][labels[va] == 1].min() > prob[va][labels[va] == 0].max()  # separable planted signal
    # interrupted after 3 epochs, resumed to 5: the same weights as the uninterrupted run
    torch.manual_seed(0)
    train(x, labels, tr, va, centres, NetConfig(**{**NC.__dict__, "epochs": 3}), 1, tmp_path / "b.pt", {"k": 1})
    resumed, hist_b = train(x, labels, tr, va, centres, NC, 1, tmp_path / "b.pt", {"k": 1})
    assert hist_b == hist
    for (k, v), w in zip(model.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(v, w), k
    # a checkpoint of other data is not resumed from
    torch.manual_seed(0)
    _, hist_c = train(x, labels, tr, va, centres, NetConfig(**{**NC.__dict__, "epochs": 2}), 1, tmp_path / "b.pt", {"k": 2})
    assert len(hist_c) == 3


def _run(c, fold, scenario, classifier):
    assert main(["classify", "--fold", str(fold), "--scenario", scenario, "--classifier", classifier,
                 "--config", str(c["config"])]) == 0
    return pd.read_csv(c["results"] / "classify" / classifier / scenario / f"fold-{fold}" / "predictions.csv")


def test_classify_scenarios_share_test_subjects(cohort):
    c = cohort
    assert main(["landmarks", "--fold", "1", "--config", str(c["config"])]) == 0
    split = load_split(c["results"] / "splits" / "fold-1.json")
    reg = {s: _run(c, 1, s, "regional") for s in ("mri_only", "mri+real_pet", "mri+zero_fill", "mri+mean_pet", "mri+true_pet")}
    for s in ("mri_only", "mri+zero_fill", "mri+mean_pet", "mri+true_pet"):
        assert sorted(reg[s]["participant_id"]) == sorted(split.test)
    real = reg["mri+real_pet"]
    assert real["has_pet"].all() and set(real["participant_id"]) < set(split.test)
    mci = reg["mri_only"][reg["mri_only"]["task"] == "pMCI_vs_sMCI"]
    assert set(mci["diagnosis"]) == {"pMCI", "sMCI"} and (mci["label"] == (mci["diagnosis"] == "pMCI")).all()
    ad = reg["mri+true_pet"][reg["mri+true_pet"]["task"] == "AD_vs_NC"]
    assert ad[ad["label"] == 1]["prob"].min() > ad[ad["label"] == 0]["prob"].max()  # planted AD/NC signal
    lm = _run(c, 1, "mri+zero_fill", "landmark")
    assert list(lm["participant_id"]) == list(reg["mri+zero_fill"]["participant_id"])
    assert lm["prob"].between(0, 1).all()
    out = c["results"] / "classify" / "landmark" / "mri+zero_fill" / "fold-1"
    assert (out / "checkpoint.pt").exists() and len(pd.read_csv(out / "history.csv")) >= 1
    # epochs chosen on the validation subjects (the argmin of history's val_loss), then refit on train + val
    cal, history = json.loads((out / "calibration.json").read_text()), pd.read_csv(out / "history.csv")
    assert cal["epochs"] == history.loc[history["val_loss"].idxmin(), "epoch"]
    assert cal["refit_subjects"] == len(split.train) + len(split.val) and (out / "checkpoint-refit.pt").exists()
    again = _run(c, 1, "mri+zero_fill", "landmark")  # resumes the finished checkpoint: same predictions
    assert np.array_equal(again["prob"].to_numpy(), lm["prob"].to_numpy())


def test_classify_bad_inputs(cohort, capsys):
    c = cohort
    args = ["classify", "--fold", "0", "--config", str(c["config"])]
    assert main(args + ["--scenario", "mri+imputed_pix2pix", "--classifier", "regional"]) == 2
    assert "did `mrisynth impute` run?" in capsys.readouterr().err
    assert main(args + ["--scenario", "mri+magic"]) == 2
    assert main(args + ["--scenario", "mri_only"]) == 2  # no landmarks computed for fold 0
    assert "run `mrisynth landmarks` first" in capsys.readouterr().err
    assert not (c["results"] / "classify" / "landmark" / "mri_only" / "fold-0" / "predictions.csv").exists()


def test_grouped_encoder_keeps_modalities_and_scales_independent():
    torch.manual_seed(0)
    model = LandmarkMIL(3, 2, 2, channels=2, features=4).eval()
    x = torch.randn(2, 3, 4, 6, 6, 6)
    feats = model.encoder(x.flatten(0, 1)).reshape(6, 4, -1)
    y = x.clone()
    y[:, :, 1] += 1.0  # change only channel 1 (modality 1 at scale 0)
    changed = model.encoder(y.flatten(0, 1)).reshape(6, 4, -1)
    assert torch.equal(changed[:, [0, 2, 3]], feats[:, [0, 2, 3]]) and not torch.equal(changed[:, 1], feats[:, 1])


def test_imputed_scenario_reads_the_synthesis_output(cohort):
    """A 'perfect' imputation (the hidden truth copied to the imputed path) predicts like mri+true_pet."""
    import shutil

    from mrisynth.preprocess.outputs import subject_paths
    from mrisynth.synthesis.paths import imputed_pet_path

    c = cohort
    manifest = pd.read_csv(c["manifest"])
    for pid in manifest.loc[manifest["pet"].isna(), "participant_id"]:
        dst = imputed_pet_path(c["results"], "pix2pix", 2, pid, "bl", 7.5)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(subject_paths(c["results"], pid, "bl", 7.5).truth_pet, dst)
    imputed = _run(c, 2, "mri+imputed_pix2pix", "regional")
    true = _run(c, 2, "mri+true_pet", "regional")
    mean = _run(c, 2, "mri+mean_pet", "regional")
    assert np.array_equal(imputed["prob"].to_numpy(), true["prob"].to_numpy())
    assert not np.array_equal(mean["prob"].to_numpy(), true["prob"].to_numpy())
    assert (imputed["scenario"] == "mri+imputed_pix2pix").all()


def test_cohort_labels_tasks_and_training_populations(cohort):
    from mrisynth.classify.data import in_population
    from mrisynth.cohort.table import read_cohort

    table = read_cohort(cohort["manifest"])
    assert len(table) == 32 and table["has_pet"].sum() == 16
    assert (table["label"] == table["diagnosis"].isin(["pMCI", "AD"])).all()
    assert (table["task"] == table["diagnosis"].map({"pMCI": "pMCI_vs_sMCI", "sMCI": "pMCI_vs_sMCI",
                                                     "AD": "AD_vs_NC", "NC": "AD_vs_NC"})).all()
    assert set(table[in_population(table, "mci")]["diagnosis"]) == {"pMCI", "sMCI"}
    assert set(table[in_population(table, "ad_nc")]["diagnosis"]) == {"AD", "NC"}
    assert in_population(table, "all").all()


def test_one_process_runs_several_scenarios_as_if_alone(cohort, capsys):
    c = cohort
    single = {s: _run(c, 0, s, "regional") for s in ("mri_only", "mri+zero_fill")}
    for s in single:
        (c["results"] / "classify" / "regional" / s / "fold-0" / "predictions.csv").unlink()
    args = ["classify", "--fold", "0", "--classifier", "regional", "--config", str(c["config"])]
    assert main(args + ["--scenario", "mri_only", "mri+zero_fill"]) == 0
    for s, pred in single.items():
        again = pd.read_csv(c["results"] / "classify" / "regional" / s / "fold-0" / "predictions.csv")
        pd.testing.assert_frame_equal(again, pred)
    assert main(args + ["--scenario", "mri_only", "mri+zero_fill", "--out-dir", str(c["results"] / "x")]) == 2
    assert "single --scenario" in capsys.readouterr().err


def test_linear_imputation_scenario_fits_the_training_subjects_only(cohort, monkeypatch):
    """mri+imputed_linear: the voxelwise T1 -> PET line of the fold's training subjects with a real PET fills
    the missing PET (no synthesis output needed), for the same test subjects as every other scenario."""
    from mrisynth.synthesis import evaluate

    c = cohort
    fitted = []
    fit = evaluate.Baselines.fit
    monkeypatch.setattr(evaluate.Baselines, "fit", classmethod(lambda cls, t1, pet: fitted.append(len(t1)) or fit(t1, pet)))
    linear = _run(c, 2, "mri+imputed_linear", "regional")
    mean = _run(c, 2, "mri+mean_pet", "regional")
    split = load_split(c["results"] / "splits" / "fold-2.json")
    manifest = pd.read_csv(c["manifest"])
    with_pet = set(manifest.loc[manifest["pet"].notna(), "participant_id"])
    assert fitted == [len(set(split.train) & with_pet)]
    assert list(linear["participant_id"]) == list(mean["participant_id"])
    assert not np.array_equal(linear["prob"].to_numpy(), mean["prob"].to_numpy())


def test_jitter_augments_the_cnn_not_the_linear_path(tmp_path):
    """The start regression was fit on the patch means at the exact landmarks; jittered patch means in its path
    made the training loss 3-5x the start's on the demo and training moved away from the fit (issue 17). With a
    negligible learning rate, the first epoch's training loss must be the start's loss on the resampled batches."""
    from mrisynth.classify.train import _patches, centred_patches, init_linear_path, make_model

    x, labels, centres = _toy()
    tr, va = np.arange(14), np.arange(14, 20)
    nc = NetConfig(**{**NC.__dict__, "epochs": 1, "lr": 1e-9, "jitter": 2})
    _, hist = train(x, labels, tr, va, centres, nc, seed=3, checkpoint=tmp_path / "j.pt", extra_state={})
    start = make_model(nc, len(centres), 1)
    init_linear_path(start, centred_patches(x, centres, nc), labels, tr, nc)
    start.eval()
    with torch.no_grad():
        logits = start(_patches(x, centres, nc, None))[0]
    # the epoch's resampling, replayed: the generator's first draw is the class-balanced order
    counts = np.bincount(labels[tr], minlength=2)
    weights = torch.as_tensor(1.0 / counts[labels[tr]], dtype=torch.float64)
    order = tr[torch.multinomial(weights, len(tr), replacement=True, generator=torch.Generator().manual_seed(3)).numpy()]
    y = torch.tensor(labels, dtype=torch.float32)
    expected = np.mean([F.binary_cross_entropy_with_logits(logits[order[i:i + nc.batch_size]], y[order[i:i + nc.batch_size]]).item()
                        for i in range(0, len(order), nc.batch_size) if len(order[i:i + nc.batch_size]) >= 2])
    assert hist[1]["train_loss"] == pytest.approx(expected, rel=1e-4)


def test_patches_cut_once_are_those_cut_per_batch():
    """train and predict cut the unjittered patches once per job (centred_patches, in batches of batch_size);
    a subject's patches must not depend on the batch it was cut with."""
    from mrisynth.classify.train import _patches, centred_patches

    x, _, centres = _toy()
    once = centred_patches(x, centres, NC)  # 20 subjects in batches of 7
    assert torch.equal(once, _patches(x, centres, NC, None))
    assert torch.equal(once[[3, 15]], _patches(x[[3, 15]], centres, NC, None))
