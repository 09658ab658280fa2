"""Multiple imputation: the predictive interval's exact coverage on Gaussian draws, sd-error rank
correlation, and ``impute --samples K`` + ``calibrate-synthesis`` end to end on a tiny stochastic Pix2Pix."""

import nibabel as nib
import numpy as np
import pytest

from mrisynth.errors import InputError
from mrisynth.preprocess.outputs import subject_paths
from mrisynth.synthesis import paths
from mrisynth.synthesis.calibration import calibrate, coverage, spearman, subject_calibration
from mrisynth.synthesis.impute import draw, impute_fold, read_best
from mrisynth.synthesis.intensity import IntensityMapping
from mrisynth.synthesis.models import load_generator
from mrisynth.synthesis.train import inference_config, train_fold

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
    cfg = tiny_config(results, validate_every=4, val_subjects=1, validate_start=False)  # best.pt = the trained step 4
    cfg["synthesis"]["pix2pix"].update(noise="layers", noise_channels=1, diversity="energy", use_dropout=False)
    split = results / "splits" / "fold-0.json"
    train_fold(cfg, "pix2pix", results, manifest, split, paths.fold_dir(results, "pix2pix", 0), steps=4, progress=False)
    run = cfg, results, manifest, split
    return run, _impute(run, 3)


def _impute(run, samples, out_name="imputed", **kw):
    cfg, results, manifest, split = run
    fold = paths.fold_dir(results, "pix2pix", 0)
    return impute_fold(cfg, "pix2pix", results, manifest, split, fold / "best.pt", fold / out_name, fold / f"{out_name}.tsv",
                       progress=False, samples=samples, **kw)


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
    assert row["k"] == 3 and row["n_subjects"] >= 1 and 0 <= row["voxel_coverage"] <= 1
    assert row["n_region_pairs"] > 0 and 0 <= row["region_coverage"] <= 1
    for name in ("subjects.csv", "regions.csv", "summary.csv", "table.md", "fig-uncertainty-pix2pix.png"):
        assert (out / name).stat().st_size > 0
    assert "| pix2pix | 3 |" in (out / "table.md").read_text()
    with pytest.raises(InputError, match="0 \\(one imputation\\) or >= 2"):
        _impute(run, 1)
    with pytest.raises(InputError, match="no dropout layer"):
        _impute(run, 2, source="dropout")
    with pytest.raises(InputError, match="samples .* do not exist"):
        calibrate(cfg, results, manifest, [split], ["cyclegan"], tmp_path / "none", progress=False)
