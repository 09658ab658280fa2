"""FGAN: feature-consistency loss, the pre-train / joint schedule, the ablation, training on a fold
(only its training subjects reach the loss) and imputation like the other synthesis models."""

import shutil

import nibabel as nib
import numpy as np
import pytest
import torch

from mrisynth.synthesis import paths
from mrisynth.synthesis import models as zoo_models
from mrisynth.synthesis.fgan import PET, FGAN
from mrisynth.synthesis.impute import impute_fold
from mrisynth.synthesis.settings import model_names, model_settings
from mrisynth.synthesis.subjects import fold_subjects
from mrisynth.synthesis.train import train_fold
from mrisynth.zoo.models.pix2pix import Pix2Pix

from .conftest import tiny_config

TINY = {"ngf": 4, "ndf": 4, "num_downs": 3, "n_layers": 2, "g_norm": "instance", "d_norm": "instance",
        "dsnet_channels": 2, "dsnet_pool": 1, "feature_layers": [0, 2], "pretrain_steps": 2}


def _model(**kw):
    return FGAN(spatial_dims=3, seed=0, **{**TINY, **kw})


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(2, 1, 16, 16, 16, generator=g) * 2 - 1, torch.rand(2, 1, 16, 16, 16, generator=g) * 2 - 1, torch.tensor([0, 1])


def test_feature_consistency_is_the_mean_layer_l1_and_zero_for_the_real_pet():
    model = _model(specificity_mix=0.0)
    _, b, _ = _batch()
    other = _batch(1)[1]
    assert model.feature_consistency(b, b).item() == 0.0
    with torch.no_grad():
        fa, fb = model.nets["C"].branch(PET, other).features, model.nets["C"].branch(PET, b).features
        expected = ((fa[0] - fb[0]).abs().mean() + (fa[2] - fb[2]).abs().mean()) / 2
        torch.testing.assert_close(model.feature_consistency(other, b), expected)
        # specificity_mix = 1: per-location weights S * |S| (mean 1) from the REAL PET's map
        model.specificity_mix = 1.0
        s = model.nets["C"].branch(PET, b).specificity
        s = s * s[0, 0].numel()  # the last layer's grid: no resizing
        weighted = ((fa[2] - fb[2]).abs().mean(1, keepdim=True) * s).mean()
        model.feature_layers = (2,)
        torch.testing.assert_close(model.feature_consistency(other, b), weighted)


def test_schedule_pretrains_the_dsnet_then_trains_all_three():
    model = _model()
    before = {k: [p.detach().clone() for p in net.parameters()] for k, net in model.nets.items()}

    def changed(name):
        return any(not torch.equal(p, q) for p, q in zip(before[name], model.nets[name].parameters()))

    for step in range(2):  # pretrain_steps = 2: only the DSNet
        logs = model.train_step(_batch(step))
        model.end_step()
        assert set(logs) == {"c_loss", "c_acc"}
    assert changed("C") and not changed("G") and not changed("D")
    logs = model.train_step(_batch(2))
    assert {"d_loss", "g_adv", "g_l1", "g_fc", "c_loss"} <= set(logs)
    assert changed("G") and changed("D")
    late = _model(pretrain_steps=0, feature_start=1)  # the feature loss joins after one joint step
    first = late.train_step(_batch(0))
    late.end_step()
    assert "g_fc" not in first and "g_fc" in late.train_step(_batch(1))


def test_ablation_generator_loss_is_pix2pix_and_registry_names():
    a, b, y = _batch()
    nofc = _model(feature_weight=0.0)
    p2p = Pix2Pix(spatial_dims=3, seed=0, **{k: v for k, v in TINY.items() if not k.startswith(("dsnet", "feature", "pretrain"))})
    nofc.nets["G"].load_state_dict(p2p.nets["G"].state_dict())
    nofc.nets["D"].load_state_dict(p2p.nets["D"].state_dict())
    nofc.eval(), p2p.eval()  # no dropout draws
    loss, logs = nofc.g_loss(a, b, y)
    ref, _ = p2p.g_loss(a, b)
    assert "g_fc" not in logs and torch.equal(loss, ref)
    cfg = tiny_config("/unused", {"fgan": {"steps": 7, "patch_size": 0, "net": {**TINY, "feature_weight": 3.0}},
                                  "fgan_nofc": {"net": {"ngf": 8}}})
    fgan, nofc = model_settings(cfg, "fgan"), model_settings(cfg, "fgan_nofc")
    assert fgan.kwargs(0)["feature_weight"] == 3.0 and fgan.uses_labels
    # the ablation: fgan's settings, its own net keywords on top, feature-consistency weight 0
    assert nofc.family == "fgan" and (nofc.steps, nofc.patch_size) == (7, 0) and nofc.uses_labels
    assert nofc.kwargs(0) == {**fgan.kwargs(0), "ngf": 8, "feature_weight": 0.0}
    assert zoo_models.input_multiple("fgan", fgan.kwargs(0)) == 8
    assert model_names() == ("pix2pix", "cyclegan", "fgan", "fgan_nofc")  # the schema's list, read by the CLI too
    with pytest.raises(ValueError, match="feature_layers"):
        _model(feature_layers=[3])
    # the Pix2Pix generator options apply: injected noise + energy-score diversity
    _, logs = _model(noise="layers", diversity="energy", pretrain_steps=0).g_loss(a, b, y)
    assert {"g_spread", "g_fc"} <= set(logs)


def _fgan_config(results, **fgan):
    return tiny_config(results, {"fgan": {"steps": 4, "patch_size": 0, "net": {**TINY, **fgan}}})


def test_only_training_subjects_reach_the_loss(cohort, tmp_path):
    """Every file of every test subject is deleted: FGAN (DSNet pre-training included, and the severity path
    whose labelled MRIs include training subjects without PET) still trains."""
    results = tmp_path / "results"
    shutil.copytree(cohort[0], results)
    manifest, split = results / "manifest" / "manifest.csv", results / "splits" / "fold-0.json"
    fs = fold_subjects(results, manifest, split, 3.0)
    removed = [p for s in fs.test for p in (s.paths.t1, s.paths.mask, s.paths.pet, s.paths.truth_pet) if p.exists()]
    assert len(removed) >= 3 * len(fs.test)
    for p in removed:
        p.unlink()
    assert any(s.split == "train" and not s.has_pet for s in fs.impute)
    cfg = _fgan_config(results, severity_weight=1.0)
    best = train_fold(cfg, model_settings(cfg, "fgan"), results, manifest, 0, progress=False)
    assert best["model"] == "fgan" and np.isfinite(best["val_ssim"])
    losses = (paths.train_dir(results, "fgan", 0) / "losses.csv").read_text()
    assert "g_fc" in losses and "g_stage" in losses


def test_fgan_ablation_trains_and_imputes_like_the_other_models(cohort, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(cohort[0], results)
    cfg = _fgan_config(results, cls_weight=0.5)
    manifest, split = results / "manifest" / "manifest.csv", results / "splits" / "fold-1.json"
    out = paths.fold_dir(results, "fgan_nofc", 1)
    best = train_fold(cfg, model_settings(cfg, "fgan_nofc"), results, manifest, 1, progress=False)
    assert best["model"] == "fgan_nofc" and best["kwargs"]["feature_weight"] == 0.0
    losses = (out / "train" / "losses.csv").read_text()
    assert "c_loss" in losses and "g_cls" in losses and "g_fc" not in losses
    rows = impute_fold(cfg, model_settings(cfg, "fgan_nofc"), results, manifest, 1, progress=False)
    fs = fold_subjects(results, manifest, split, 3.0)
    assert sorted(r["participant_id"] for r in rows) == sorted(s.participant_id for s in fs.impute)
    pet = paths.imputed_pet_path(results, "fgan_nofc", 1, fs.impute[0].participant_id, fs.impute[0].session_id, 3.0)
    assert np.isfinite(np.asarray(nib.load(pet).dataobj)).all()
