"""Every fit of the synthesis stage sees the subjects it is documented to see: replace test subjects' images
with noise and the fit is byte-identical; change a subject it does fit on and it moves.

- train-synthesis: the intensity mapping (the linear T1 -> SUVR residual base: slope and template) and the
  generator, on training subjects; the best step chosen on validation subjects;
- impute's recalibration factor ``spread_scale``: on validation subjects only;
- evaluate-synthesis: its population-mean and linear-regression baselines, on training subjects."""

import json

import numpy as np
import pytest
import torch

from mrisynth.io.nifti import load_array, save_nifti
from mrisynth.synthesis import paths
from mrisynth.synthesis.evaluate import BASELINES, evaluate_fold
from mrisynth.synthesis.impute import fit_recalibration, impute_fold, read_best
from mrisynth.synthesis.intensity import IntensityMapping
from mrisynth.synthesis.settings import model_settings
from mrisynth.synthesis.models import load_generator
from mrisynth.synthesis.subjects import fold_subjects
from mrisynth.synthesis.train import inference_config, train_fold

from .conftest import AFFINE, make_cohort, results_root, tiny_config


def _noise(s, seed: int, kinds=("t1", "pet")) -> None:
    """Overwrite a subject's T1 and real PET (those it has) with noise in the brain."""
    rng = np.random.default_rng(seed)
    for kind in kinds:
        path = getattr(s.paths, kind)
        if path.exists():
            data = load_array(path)[0]
            save_nifti((data * rng.uniform(0.5, 1.5, data.shape)).astype(np.float32), AFFINE, path, dtype=np.float32)


def _same_state(a: dict, b: dict) -> bool:
    """Equal keys and bit-identical values (tensors or plain numbers)."""
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) if torch.is_tensor(a[k]) else a[k] == b[k] for k in a)


@pytest.fixture
def fold(tmp_path):
    results, manifest = make_cohort(tmp_path)
    split = results / "splits" / "fold-0.json"
    return results, manifest, split, fold_subjects(results, manifest, split, 3.0)


def test_synthesis_fits_and_recalibration_ignore_test_subjects(fold, tmp_path):
    results, manifest, split, fs = fold
    net_kw = {"noise": "layers", "diversity": "energy", "use_dropout": False, "sampler": "additive", "noise_ngf": 2}
    cfg = tiny_config(results, {"pix2pix": {"steps": 1, "samples": 2, "net": net_kw}}, validate_every=1, val_subjects=1,
                      validate_start=False, fast=False, residual_base="linear")
    cfg["synthesis"]["calibration"]["recalibrate"] = True
    settings = model_settings(cfg, "pix2pix")

    def train(name):
        return train_fold(cfg, settings, results_root(results, tmp_path / name), manifest, 0, progress=False)

    def spread_scale(name):
        root = tmp_path / name
        rows = impute_fold(cfg, settings, root, manifest, 0, progress=False)
        sidecar = paths.imputed_pet_path(root, "pix2pix", 0, rows[0]["participant_id"], "M00", 3.0)
        doc = json.loads(sidecar.with_name(sidecar.name.replace(".nii.gz", ".json")).read_text())
        return doc["spread_scale"], doc["recalibration"]["fit_subjects"]

    before = train("before")
    c_before, fit_subjects = spread_scale("before")
    assert sorted(fit_subjects) == sorted(s.participant_id for s in fs.val) and c_before > 0
    assert before["mapping"]["slope"] is not None  # the linear T1 map is part of the fit
    for i, s in enumerate(fs.test):
        _noise(s, i)
    again = train("test-changed")
    assert _same_state(again["mapping"], before["mapping"]) and again["step"] == before["step"]
    assert _same_state(again["generator"], before["generator"])
    assert spread_scale("test-changed") == (c_before, fit_subjects)
    # the factor is fit on the validation subjects: changing one moves it (same generator)
    best = read_best(paths.best_checkpoint(tmp_path / "test-changed", "pix2pix", 0))
    net, mapping = load_generator(best)[0], IntensityMapping.from_dict(best["mapping"])
    refit = lambda: fit_recalibration(fs.val, net, inference_config(cfg, int(best["multiple"])), mapping,  # noqa: E731
                                      int(cfg["seed"]), 2, "noise", cfg["synthesis"]["calibration"])["spread_scale"]
    assert refit() == c_before
    _noise(fs.val[0], 50, kinds=("pet",))
    assert refit() != c_before
    # and a training subject moves the intensity mapping and the generator
    _noise(fs.train[0], 99)
    moved = train("train-changed")
    assert not _same_state(moved["mapping"], before["mapping"]) and not _same_state(moved["generator"], before["generator"])


def test_evaluation_baselines_ignore_test_subjects(fold):
    results, manifest, split, fs = fold
    cfg = tiny_config(results)
    cfg["synthesis"]["evaluation"].update(encoder_steps=1, kid_subsets=1)  # FID/KID are not looked at here

    def baseline_rows():
        metrics, _, _ = evaluate_fold(cfg, results, manifest, split, [])
        assert set(metrics["method"]) == set(BASELINES)
        return metrics.set_index(["participant_id", "method"]).sort_index()

    before = baseline_rows()
    changed = [s for s in fs.test if s.has_pet]
    kept = [s.participant_id for s in fs.test if not s.has_pet]  # scored against their hidden true PET
    assert changed and kept
    for i, s in enumerate(changed):
        _noise(s, i)
    after = baseline_rows()
    assert after.loc[kept].equals(before.loc[kept])  # same baselines, bit for bit
    assert not after.loc[[s.participant_id for s in changed]].equals(before.loc[[s.participant_id for s in changed]])
    _noise(fs.train[0], 99, kinds=("pet",))
    moved = baseline_rows()
    for method in BASELINES:  # both baselines move
        assert not moved.xs(method, level="method").loc[kept].equals(after.xs(method, level="method").loc[kept])
