"""Multiple imputation: the predictive interval's exact coverage on Gaussian draws, sd-error rank
correlation, CRPS and the validation-fit spread recalibration, the additive (mean + odd noise) sampler from
the zeroed start, and ``impute --samples K`` + ``calibrate-synthesis`` end to end on tiny stochastic Pix2Pixes."""

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch

from mrisynth.errors import InputError
from mrisynth.preprocess.outputs import subject_paths
from mrisynth.synthesis import error_field, paths
from mrisynth.metrics.calibration import coverage, crps, spearman, spread_scale
from mrisynth.synthesis.calibration import calibrate, subject_calibration
from mrisynth.synthesis.impute import draw, impute_fold, read_best
from mrisynth.synthesis.intensity import IntensityMapping
from mrisynth.synthesis.models import load_generator
from mrisynth.synthesis.settings import model_settings
from mrisynth.synthesis.train import inference_config, start_at_template, train_fold

from .conftest import AFFINE, make_cohort, tiny_config


@pytest.mark.parametrize("k", [3, 10])
def test_gaussian_draws_have_nominal_coverage(k):
    """Draws and reference exchangeable N(mu_v, s_v): the t predictive interval covers exactly 90%
    (200k voxels: binomial sd 0.0007); a 2x too small sd covers much less."""
    rng = np.random.default_rng(0)
    n = 200_000
    mu, s = rng.normal(size=n), rng.uniform(0.1, 2.0, size=n)
    draws = mu[:, None] + s[:, None] * rng.normal(size=(n, k))
    ref = mu + s * rng.normal(size=n)
    mean, sd = draws.mean(1), draws.std(1, ddof=1)
    assert coverage(ref, mean, sd, k, 0.9) == pytest.approx(0.90, abs=0.004)
    assert coverage(ref, mean, sd, k, 0.5) == pytest.approx(0.50, abs=0.005)
    assert coverage(ref, mean, sd / 2, k, 0.9) < 0.75


def test_spearman_and_regional_calibration():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 45]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert np.isnan(spearman([1, 1, 1], [1, 2, 3]))
    rng = np.random.default_rng(1)
    shape, k = (24, 24, 24), 8
    mask = np.ones(shape, bool)
    s = np.linspace(0.05, 1.0, np.prod(shape)).reshape(shape)  # sd grows along the volume
    truth = 1.0 + s * rng.normal(size=shape)
    samples = (1.0 + s[..., None] * rng.normal(size=(*shape, k))).astype(np.float32)
    voxel, regions = subject_calibration(samples, truth, mask, AFFINE, 0.9)
    assert voxel["k"] == k and voxel["n_voxels"] == mask.sum()
    assert voxel["coverage"] == pytest.approx(0.9, abs=0.01)
    assert voxel["spearman_sd_error"] > 0.3  # bigger sd, bigger error
    assert regions and {"region", "mean", "sd", "reference", "covered"} <= set(regions[0])
    r = regions[0]
    assert r["abs_error"] == pytest.approx(abs(r["mean"] - r["reference"]))


@pytest.fixture(scope="module")
def stochastic_run(tmp_path_factory):
    """A 4-step Pix2Pix with noise in every block and the energy objective, imputed with K = 3."""
    results, manifest = make_cohort(tmp_path_factory.mktemp("multiple"))
    noise = {"noise": "layers", "noise_channels": 1, "diversity": "energy", "use_dropout": False}
    cfg = tiny_config(results, {"pix2pix": {"net": noise}}, validate_every=4, val_subjects=1,
                      validate_start=False)  # best.pt = the trained step 4
    split = results / "splits" / "fold-0.json"
    train_fold(cfg, model_settings(cfg, "pix2pix"), results, manifest, 0, progress=False)
    run = cfg, results, manifest, split
    return run, _impute(run, 3)


def _impute(run, samples, **kw):
    cfg, results, manifest, _ = run
    return impute_fold(cfg, model_settings(cfg, "pix2pix", samples=samples), results, manifest, 0, progress=False, **kw)


def test_impute_samples_writes_mean_sd_and_draws(stochastic_run):
    (cfg, results, manifest, _), rows = stochastic_run
    assert rows and all(r["samples"] == 3 for r in rows)
    r = rows[0]
    args = (results, "pix2pix", 0, r["participant_id"], r["session_id"], 3.0)
    draws = np.asarray(nib.load(paths.imputed_samples_path(*args)).dataobj)
    mean = np.asarray(nib.load(paths.imputed_pet_path(*args)).dataobj)
    sd = np.asarray(nib.load(paths.imputed_sd_path(*args)).dataobj)
    assert draws.shape == (24, 24, 24, 3) and mean.shape == sd.shape == (24, 24, 24)
    scale = np.abs(draws).max()
    np.testing.assert_allclose(draws.mean(-1), mean, atol=scale * 1e-4)  # int16 storage of the draws
    np.testing.assert_allclose(draws.std(-1, ddof=1), sd, atol=scale * 2e-4)
    assert sd.max() > 1e-3 and not np.allclose(draws[..., 0], draws[..., 1])  # the draws differ
    # reproducible draw by draw: seeded by (seed, subject, k), whatever else ran before
    net, _ = load_generator(read_best(paths.best_checkpoint(results, "pix2pix", 0)))
    mapping = IntensityMapping.from_dict(read_best(paths.best_checkpoint(results, "pix2pix", 0))["mapping"])
    t1 = mapping.t1_to_net(np.asarray(nib.load(subject_paths(results, r["participant_id"], "M00", 3.0).t1).dataobj))[None, None]
    icfg = inference_config(cfg, 8)
    first, _ = draw(net, t1, icfg, mapping, 42, r["participant_id"], 1)
    np.testing.assert_array_equal(first, draw(net, t1, icfg, mapping, 42, r["participant_id"], 1)[0])
    assert not np.array_equal(first, draw(net, t1, icfg, mapping, 42, r["participant_id"], 2)[0])


def test_calibration_end_to_end_and_input_errors(stochastic_run, tmp_path):
    run, _ = stochastic_run
    cfg, results, manifest, split = run
    out = tmp_path / "calibration"
    summary = calibrate(cfg, results, manifest, [split], ["pix2pix"], out, progress=False)
    row = summary.iloc[0]
    # the summary is the mean of the per-subject rows and the pooled regional pairs (known-answer coverage:
    # test_calibration_known_sampler.py); the first subject's coverage recomputed from its files
    subjects, regions = pd.read_csv(out / "subjects.csv", dtype={"participant_id": str}), pd.read_csv(out / "regions.csv")
    assert row["k"] == 3 and row["n_subjects"] == len(subjects) >= 1 and row["n_region_pairs"] == len(regions) > 0
    assert row["voxel_coverage"] == pytest.approx(subjects["coverage"].mean(), abs=1e-12)
    assert row["region_coverage"] == pytest.approx(regions["covered"].mean(), abs=1e-12)
    from mrisynth.synthesis.subjects import fold_subjects, reference_pet

    first = subjects.iloc[0]
    s = next(x for x in fold_subjects(results, manifest, split, 3.0).test if x.participant_id == first["participant_id"])
    mask = np.asarray(nib.load(s.paths.mask).dataobj) > 0
    ref = np.asarray(nib.load(reference_pet(s)[0]).dataobj, dtype=np.float32)[mask]
    draws = np.asarray(nib.load(paths.imputed_samples_path(results, "pix2pix", 0, s.participant_id, s.session_id, 3.0)).dataobj)[mask]
    assert first["coverage"] == pytest.approx(coverage(ref, draws.mean(1), draws.std(1, ddof=1), 3, 0.9), abs=1e-9)
    for name in ("subjects.csv", "regions.csv", "summary.csv", "table.md", "fig-uncertainty-pix2pix.png"):
        assert (out / name).stat().st_size > 0
    assert "| pix2pix | 3 |" in (out / "table.md").read_text()
    with pytest.raises(InputError, match="0 \\(one imputation\\) or >= 2"):
        _impute(run, 1)
    with pytest.raises(InputError, match="no dropout layer"):
        _impute(run, 2, source="dropout")
    with pytest.raises(InputError, match="samples .* do not exist"):
        calibrate(cfg, results, manifest, [split], ["cyclegan"], tmp_path / "none", progress=False)


def test_crps_and_spread_recalibration():
    # draws (0, 2) vs y = 1: mean |x - y| = 1, |x1 - x2| / (2 * 1) = 1 -> 0; one draw: the MAE
    assert crps(np.array([[0.0], [2.0]]), np.array([1.0])) == pytest.approx(0.0)
    assert crps(np.array([[0.0, 3.0]]), np.array([1.0, 1.0])) == pytest.approx(1.5)
    rng = np.random.default_rng(2)
    n, k = 100_000, 10
    mu, s = rng.normal(size=n), rng.uniform(0.1, 2.0, size=n)
    draws = mu[:, None] + (s / 3)[:, None] * rng.normal(size=(n, k))  # 3x too narrow
    ref = mu + s * rng.normal(size=n)
    mean, sd = draws.mean(1), draws.std(1, ddof=1)
    c = spread_scale(ref, mean, sd, k, 0.9)
    assert c == pytest.approx(3.0, rel=0.08)
    assert coverage(ref, mean, c * sd, k, 0.9) == pytest.approx(0.9, abs=1e-3)
    assert coverage(ref, mean, sd, k, 0.9) < 0.5


def _energy_grads(model, x, y):
    model.nets["G"].zero_grad()
    loss, _ = model.g_loss(x, y)
    loss.backward()


def test_zeroed_start_keeps_the_noise_path_of_the_additive_sampler(cohort):
    """The zeroed output layer (start at the residual's base) silences a joint noise generator: identical
    draws and no gradient to anything before it. The additive sampler zeroes its mean network only: draws
    differ from step 0 and the energy score reaches the noise network, while the mean still starts at 0."""
    from mrisynth.synthesis import models as zoo_models

    results, _ = cohort
    x, y = torch.rand(1, 1, 16, 16, 16) * 2 - 1, torch.rand(1, 1, 16, 16, 16) * 2 - 1
    spreads = {}
    for sampler in ("joint", "additive"):
        net_kw = {"noise": "layers", "diversity": "energy", "use_dropout": False, "sampler": sampler, "n_layers": 1}
        cfg = tiny_config(results, {"pix2pix": {"net": net_kw}})
        model = zoo_models.build("pix2pix", model_settings(cfg, "pix2pix").kwargs(cfg["seed"]))
        net = zoo_models.generator(model, ema=False)
        start_at_template(net)
        torch.manual_seed(0)
        d1 = net(x)
        torch.manual_seed(1)
        spreads[sampler] = (d1 - net(x)).abs().max().item()
        _energy_grads(model, x, y)
        first = next(p for p in (net.noise_net if sampler == "additive" else net).parameters() if p.dim() >= 4)
        if sampler == "joint":
            assert first.grad.abs().max() == 0  # blocked by the zeroed output layer
        else:
            assert first.grad.abs().max() > 0
            assert torch.count_nonzero(net.mean_net(x)) == 0  # the mean starts at the base
    assert spreads["joint"] == 0 and spreads["additive"] > 1e-3


@pytest.fixture(scope="module")
def additive_run(tmp_path_factory):
    """The additive sampler, selected by validation CRPS, imputed with K = 4 and recalibrated."""
    results, manifest = make_cohort(tmp_path_factory.mktemp("additive"))
    net_kw = {"noise": "layers", "diversity": "energy", "use_dropout": False, "sampler": "additive", "noise_ngf": 2}
    cfg = tiny_config(results, {"pix2pix": {"select_by": "crps", "net": net_kw}}, validate_every=2, val_subjects=2,
                      validate_start=False, fast=False)
    cfg["synthesis"]["calibration"]["recalibrate"] = True
    split = results / "splits" / "fold-0.json"
    train_fold(cfg, model_settings(cfg, "pix2pix"), results, manifest, 0, progress=False)
    return cfg, results, manifest, split


def test_additive_sampler_crps_selection_antithetic_draws_and_recalibration(additive_run):
    cfg, results, manifest, split = additive_run
    import csv

    with open(paths.train_dir(results, "pix2pix", 0) / "validation.csv") as fh:
        val = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in val] == [2, 4]
    best = read_best(paths.best_checkpoint(results, "pix2pix", 0))
    assert best["val_crps"] == pytest.approx(min(float(r["crps"]) for r in val))
    rows = _impute(additive_run, 4)
    r = rows[0]
    args = (results, "pix2pix", 0, r["participant_id"], r["session_id"], 3.0)
    sidecar = json.loads(paths.imputed_pet_path(*args).with_suffix("").with_suffix(".json").read_text())
    c = sidecar["spread_scale"]
    assert c > 0 and c == r["spread_scale"] and sidecar["recalibration"]["fit_subjects"]
    # the raw draws (fp32): antithetic pairs (0, 1) and (2, 3) average to the same mean network output
    net, _ = load_generator(best)
    mapping = IntensityMapping.from_dict(best["mapping"])
    t1 = mapping.t1_to_net(np.asarray(nib.load(subject_paths(results, r["participant_id"], "M00", 3.0).t1).dataobj))[None, None]
    raw = np.stack([draw(net, t1, inference_config(cfg, 8), mapping, 42, r["participant_id"], k)[0] for k in range(4)], -1)
    pair_means = raw[..., 0::2] + raw[..., 1::2]
    assert np.mean(np.abs(pair_means[..., 0] - pair_means[..., 1]) < 1e-5) > 0.99  # except where SUVR clips
    assert not np.allclose(raw[..., 0], raw[..., 2], atol=1e-3)
    # impute wrote the mean unchanged and the draws mean + c (raw - mean) + tau g_k (c, tau, FWHM fit on the
    # validation subjects; g_k: the subject's centred error fields, regenerated from the seed)
    tau, fwhm = sidecar["field_scale"], sidecar["field_fwhm_mm"]
    assert sidecar["recalibration"]["fwhm_mm"] == fwhm and (tau == 0) == (fwhm is None) or tau > 0
    amplitude = (np.asarray(nib.load(paths.error_field_amplitude_path(results, "pix2pix", 0)).dataobj) if tau else None)
    fields = error_field.error_fields(42, r["participant_id"], 4, raw.shape[:3], (3.0, 3.0, 3.0), fwhm, amplitude) if tau else None
    mean = np.asarray(nib.load(paths.imputed_pet_path(*args)).dataobj)
    sd = np.asarray(nib.load(paths.imputed_sd_path(*args)).dataobj)
    np.testing.assert_allclose(mean, raw.mean(-1), atol=1e-5)
    np.testing.assert_allclose(sd, error_field.apply(raw, c, tau, fields).std(-1, ddof=1), rtol=1e-3, atol=1e-5)
    # calibrate-synthesis reports the raw draws' coverage next to the recalibrated one
    out = paths.fold_dir(results, "pix2pix", 0) / "calibration"
    summary = calibrate(cfg, results, manifest, [split], ["pix2pix"], out, progress=False).iloc[0]
    assert summary["spread_scale"] == pytest.approx(c)
    from mrisynth.synthesis.subjects import fold_subjects, reference_pet

    row = pd.read_csv(out / "subjects.csv", dtype={"participant_id": str}).iloc[0]
    s = next(s for s in fold_subjects(results, manifest, split, 3.0).test if s.participant_id == row["participant_id"])
    mask = np.asarray(nib.load(s.paths.mask).dataobj) > 0
    ref = np.asarray(nib.load(reference_pet(s)[0]).dataobj, dtype=np.float32)[mask]
    inside = np.asarray(nib.load(paths.imputed_samples_path(results, "pix2pix", 0, s.participant_id, s.session_id, 3.0)).dataobj)[mask]
    m, sdv = inside.mean(1), inside.std(1, ddof=1)
    # raw: the generator's own draws for this subject, made again
    t1 = mapping.t1_to_net(np.asarray(nib.load(s.paths.t1).dataobj))[None, None]
    own = np.stack([draw(net, t1, inference_config(cfg, 8), mapping, 42, s.participant_id, k)[0] for k in range(4)], -1)
    assert row["coverage_raw"] == pytest.approx(coverage(ref, m, own[mask].std(1, ddof=1), 4, 0.9), abs=2e-3)
    assert row["coverage"] == pytest.approx(coverage(ref, m, sdv, 4, 0.9), abs=1e-6)


def test_mean_warmup_steps_are_validated_but_never_selected(cohort, tmp_path):
    """Pix2Pix mean_steps with the additive sampler: validation rows during the warm-up are written, but best.pt
    comes from full training (the warm-up's noise term is untrained), even where the warm-up scored best."""
    import csv

    from .conftest import results_root

    results, manifest = cohort
    net_kw = {"noise": "layers", "diversity": "energy", "use_dropout": False, "sampler": "additive", "noise_ngf": 2,
              "mean_steps": 3}
    cfg = tiny_config(results, {"pix2pix": {"select_by": "crps", "net": net_kw}}, validate_every=2, val_subjects=2,
                      validate_start=False, fast=False)
    root = results_root(results, tmp_path / "warmup")
    best = train_fold(cfg, model_settings(cfg, "pix2pix", steps=4), root, manifest, 0, progress=False)
    with open(paths.train_dir(root, "pix2pix", 0) / "validation.csv") as fh:
        steps = [int(r["step"]) for r in csv.DictReader(fh)]
    assert steps == [2, 4] and best["step"] == 4
    with pytest.raises(InputError, match="must exceed the warm-up"):
        train_fold(cfg, model_settings(cfg, "pix2pix", steps=3), results_root(results, tmp_path / "short"), manifest, 0,
                   progress=False)
