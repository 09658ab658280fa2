"""Training through the zoo trainer: bit-exact resume, best checkpoint, imputation outputs, no test subject
in training."""

import csv
import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch

from mrisynth.cohort.splits import load_split
from mrisynth.errors import InputError
from mrisynth.synthesis import paths
from mrisynth.synthesis.impute import impute_fold
from mrisynth.synthesis.settings import model_settings
from mrisynth.synthesis.subjects import FoldSubjects, fold_subjects
from mrisynth.synthesis.train import train_fold

from .conftest import AFFINE, results_root, tiny_config


def _train(cfg, results, manifest, steps, model="pix2pix"):
    """Train ``model`` on fold 0 under ``results``; returns (best.pt dict, the model's fold folder)."""
    best = train_fold(cfg, model_settings(cfg, model, steps=steps), results, manifest, 0, progress=False)
    return best, paths.fold_dir(results, model, 0)


def _state(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def test_resume_is_bit_exact(cohort, tmp_path):
    results, manifest = cohort
    cfg = tiny_config(results)
    _, straight = _train(cfg, results_root(results, tmp_path / "straight"), manifest, steps=4)
    resumed_root = results_root(results, tmp_path / "resumed")
    _train(cfg, resumed_root, manifest, steps=2)  # "killed" after step 2 (its last checkpoint) ...
    paths.best_checkpoint(resumed_root, "pix2pix", 0).unlink()  # (Snakemake deletes a killed job's output)
    _, resumed = _train(cfg, resumed_root, manifest, steps=4)  # ... and resumed
    a, b = _state(straight / "train" / "checkpoint.pt"), _state(resumed / "train" / "checkpoint.pt")
    assert a["step"] == b["step"] == 4
    for net in a["model"]["nets"]:
        for key, value in a["model"]["nets"][net].items():
            assert torch.equal(value, b["model"]["nets"][net][key]), (net, key)
    assert (straight / "train" / "losses.csv").read_text() == (resumed / "train" / "losses.csv").read_text()
    assert (straight / "train" / "validation.csv").read_text() == (resumed / "train" / "validation.csv").read_text()
    best_a, best_b = _state(straight / "best.pt"), _state(resumed / "best.pt")
    assert best_a["step"] == best_b["step"]
    assert all(torch.equal(v, best_b["generator"][k]) for k, v in best_a["generator"].items())


def test_best_checkpoint_follows_validation_and_imputation_is_in_suvr(cohort, tmp_path):
    results, manifest = cohort
    cfg = tiny_config(results)
    best, out = _train(cfg, results, manifest, steps=4, model="cyclegan")
    with open(out / "train" / "validation.csv") as fh:
        rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(fh)]
    assert [r["step"] for r in rows] == [0, 2, 4]  # step 0: the untrained generator, i.e. the template
    top = max(rows, key=lambda r: r["ssim"])
    assert best["step"] == top["step"] and best["val_ssim"] == pytest.approx(top["ssim"])
    assert best["mapping"]["pet_high"] > 0 and len(list((out / "train" / "samples").glob("*.png"))) == 3
    assert (out / "train" / "validation.png").exists()
    # no MONAI MetaTensor reached the image pools: the full checkpoint loads with weights_only=True (resume)
    pools = _state(out / "train" / "checkpoint.pt")["model"]["extra"]["pools"]
    assert type(pools["B"]["images"]) is torch.Tensor and pools["B"]["images"].numel() > 0

    split = results / "splits" / "fold-0.json"
    rows = impute_fold(cfg, model_settings(cfg, "cyclegan"), results, manifest, 0, progress=False)
    fs = fold_subjects(results, manifest, split, 3.0)
    assert sorted(r["participant_id"] for r in rows) == sorted(s.participant_id for s in fs.impute)
    for s in fs.impute:
        path = paths.imputed_pet_path(results, "cyclegan", 0, s.participant_id, s.session_id, 3.0)
        img = nib.load(path)
        np.testing.assert_allclose(img.affine, AFFINE)
        data = np.asarray(img.dataobj)
        # SUVR units: the training template +- residual_scale (the inverted tanh range), not the network's [-1, 1]
        template, scale = best["mapping"]["template"].numpy(), best["mapping"]["residual_scale"]
        assert data.min() >= 0 and np.all(np.abs(data - template) <= scale + 1e-5) and data.max() > 0.1
        assert json.loads(path.with_name(path.name.replace(".nii.gz", ".json")).read_text())["units"] == "SUVR"


def test_select_by_metaroi_picks_the_lowest_validation_meta_roi_error(cohort, tmp_path):
    """select_by: metaroi ranks the validated steps by the RMSE of the meta-ROI mean SUVR (lower is better)."""
    results, manifest = cohort
    cfg = tiny_config(results, {"pix2pix": {"select_by": "metaroi"}})
    best, out = _train(cfg, results_root(results, tmp_path / "metaroi"), manifest, steps=4)
    with open(out / "train" / "validation.csv") as fh:
        rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(fh)]
    assert [r["step"] for r in rows] == [0, 2, 4] and all(r["metaroi"] > 0 for r in rows)
    top = min(rows, key=lambda r: r["metaroi"])
    assert best["step"] == top["step"] and best["val_metaroi"] == pytest.approx(top["metaroi"])


def test_no_test_subject_is_used_for_training(cohort, tmp_path):
    results, manifest = cohort
    split_path = results / "splits" / "fold-1.json"
    split = load_split(split_path)
    fs = fold_subjects(results, manifest, split_path, 3.0)
    train_ids = {s.participant_id for s in fs.train + fs.val}
    assert train_ids and not train_ids & set(split.test)
    assert {s.participant_id for s in fs.train} <= set(split.train) and all(s.has_pet for s in fs.train)
    assert {s.participant_id for s in fs.test} == set(split.test)
    cohort_table = pd.read_csv(manifest, dtype=str).fillna("")
    pet_less = set(cohort_table.loc[cohort_table["pet"] == "", "participant_id"])
    assert {s.participant_id for s in fs.impute} == set(split.test) | pet_less
    with pytest.raises(InputError, match="would be used for training"):
        FoldSubjects(fs.fold, fs.train + fs.test[:1], fs.val, fs.impute, fs.test).check_no_leak()
    # a fold file listing a test subject in train as well is refused before anything trains
    doc = json.loads(split_path.read_text())
    doc["train"] = sorted(doc["train"] + doc["test"][:1])
    bad = tmp_path / "fold-1.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="leak"):
        fold_subjects(results, manifest, bad, 3.0)


def test_missing_preprocessing_is_an_input_error(cohort, tmp_path):
    results, manifest = cohort
    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    fs = fold_subjects(copy, copy / "manifest" / "manifest.csv", copy / "splits" / "fold-0.json", 3.0)
    fs.train[0].paths.pet.unlink()
    with pytest.raises(InputError, match="does not exist"):
        cfg = tiny_config(copy)
        train_fold(cfg, model_settings(cfg, "pix2pix", steps=1), copy, copy / "manifest" / "manifest.csv", 0, progress=False)


@pytest.mark.parametrize("model", ["pix2pix", "cyclegan"])
def test_training_starts_at_the_population_template(cohort, model, tmp_path):
    """Residual mode: the zeroed output layer makes the untrained generator output exactly 0, i.e. the
    template, so validation step 0 scores the population-mean baseline on the validation subjects."""
    from mrisynth.metrics.image import psnr, ssim
    from mrisynth.synthesis import models as zoo_models
    from mrisynth.synthesis.intensity import IntensityMapping
    from mrisynth.synthesis.train import start_at_template

    results, manifest = cohort
    cfg = tiny_config(results)
    net = zoo_models.generator(zoo_models.build(model, model_settings(cfg, model).kwargs(cfg["seed"])), ema=False)
    x = torch.rand(1, 1, 16, 16, 16) * 2 - 1
    assert net(x).abs().max() > 1e-3  # random init: template + noise
    start_at_template(net)
    assert torch.count_nonzero(net(x)) == 0
    loss = (net(x) - 0.5).abs().mean()
    loss.backward()  # the zeroed layer still learns
    last = [p for p in net.parameters() if p.dim() >= 4][-1]
    assert last.grad is not None and last.grad.abs().max() > 0

    fs = fold_subjects(results, manifest, results / "splits" / "fold-0.json", 3.0)
    load = lambda p: np.asarray(nib.load(p).dataobj, dtype=np.float32)  # noqa: E731
    mapping = IntensityMapping.fit([load(s.paths.t1) for s in fs.train], [load(s.paths.pet) for s in fs.train],
                                   [load(s.paths.mask) > 0 for s in fs.train], percentile=99.5, residual=True)
    template = mapping.template.numpy()
    expected = []
    for s in fs.val[:2]:
        pet, mask = load(s.paths.pet), load(s.paths.mask) > 0
        rng = float(pet[mask].max() - pet[mask].min())
        expected.append((psnr(template, pet, mask, data_range=rng), ssim(template, pet, mask, data_range=rng)))
    _, out = _train(cfg, results_root(results, tmp_path / "start"), manifest, steps=2, model=model)
    with open(out / "train" / "validation.csv") as fh:
        first = next(csv.DictReader(fh))
    assert int(first["step"]) == 0
    assert float(first["psnr"]) == pytest.approx(np.mean([e[0] for e in expected]), abs=1e-4)
    assert float(first["ssim"]) == pytest.approx(np.mean([e[1] for e in expected]), abs=1e-5)


def test_linear_residual_base_trains_and_imputes_around_the_linear_map(cohort, tmp_path):
    """residual_base linear, no step-0 validation (the demo's settings): best.pt is a trained step, and every
    imputed PET lies within residual_scale of its subject's linear T1 map."""
    results, manifest = cohort
    cfg = tiny_config(results, residual_base="linear", validate_start=False)
    best, out = _train(cfg, results_root(results, tmp_path / "linear"), manifest, steps=2)
    with open(out / "train" / "validation.csv") as fh:
        assert [int(r["step"]) for r in csv.DictReader(fh)] == [2]
    assert best["step"] == 2 and best["mapping"]["slope"].abs().max() > 0
    split = results / "splits" / "fold-0.json"
    rows = impute_fold(cfg, model_settings(cfg, "pix2pix"), out.parents[2], manifest, 0, progress=False)
    from mrisynth.synthesis.intensity import IntensityMapping

    mapping = IntensityMapping.from_dict(best["mapping"])
    fs = fold_subjects(results, manifest, split, 3.0)
    s = next(x for x in fs.impute if x.participant_id == rows[0]["participant_id"])
    t1 = mapping.t1_to_net(np.asarray(nib.load(s.paths.t1).dataobj, dtype=np.float32))
    base = mapping.net_to_pet(torch.zeros_like(t1), t1).numpy()
    data = np.asarray(nib.load(out / "imputed" / Path(rows[0]["path"]).name).dataobj)
    assert np.all(np.abs(data - base) <= mapping.residual_scale + 1e-4) and not np.allclose(data, base)
