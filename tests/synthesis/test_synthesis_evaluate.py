"""Evaluation: metrics against scikit-image / numpy on the same arrays, baselines, tests and tables."""

import numpy as np
import pandas as pd
import pytest
import torch
from monai.metrics.regression import compute_ssim_and_cs
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from mrisynth.io.nifti import load_nifti, save_nifti
from mrisynth.synthesis.evaluate import Baselines, evaluate, image_metrics
from mrisynth.synthesis.paths import imputed_pet_path
from mrisynth.synthesis.subjects import fold_subjects

from .conftest import AFFINE, tiny_config


def test_image_metrics_match_direct_computation():
    rng = np.random.default_rng(0)
    ref = rng.uniform(0.5, 2.0, (20, 20, 20)).astype(np.float32)
    pred = ref + rng.normal(0, 0.1, ref.shape).astype(np.float32)
    full = np.ones(ref.shape, bool)
    got = image_metrics(pred, ref, full)
    rng_ref = float(ref.max() - ref.min())
    assert got["data_range"] == pytest.approx(rng_ref)
    assert got["mae"] == pytest.approx(np.abs(pred - ref).mean(), rel=1e-6)
    assert got["psnr"] == pytest.approx(peak_signal_noise_ratio(ref, pred, data_range=rng_ref), rel=1e-5)
    sk = structural_similarity(ref.astype(np.float64), pred.astype(np.float64), data_range=rng_ref, gaussian_weights=True,
                               sigma=1.5, use_sample_covariance=False)
    assert got["ssim"] == pytest.approx(sk, abs=1e-6)
    monai_map, _ = compute_ssim_and_cs(torch.from_numpy(pred)[None, None], torch.from_numpy(ref)[None, None], spatial_dims=3,
                                       kernel_size=[11] * 3, kernel_sigma=[1.5] * 3, data_range=rng_ref)
    assert got["ssim"] == pytest.approx(float(monai_map.mean()), abs=1e-5)
    mask = np.zeros(ref.shape, bool)
    mask[4:16, 4:16, 4:16] = True
    masked = image_metrics(pred, ref, mask)
    inside = ref[mask]
    assert masked["data_range"] == pytest.approx(float(inside.max() - inside.min()))
    mse = float(((pred[mask] - ref[mask]).astype(np.float64) ** 2).mean())
    assert masked["psnr"] == pytest.approx(10 * np.log10(masked["data_range"] ** 2 / mse), rel=1e-6)


def test_baselines_recover_exact_linear_relation():
    rng = np.random.default_rng(1)
    t1 = rng.uniform(0, 1, (6, 4, 4, 4)).astype(np.float32)
    slope, intercept = rng.uniform(0.5, 2, (4, 4, 4)), rng.uniform(0, 1, (4, 4, 4))
    pet = (intercept + slope * t1).astype(np.float32)
    b = Baselines.fit(t1, pet)
    np.testing.assert_allclose(b.slope, slope, rtol=1e-3)
    np.testing.assert_allclose(b.intercept, intercept, atol=1e-4)
    np.testing.assert_allclose(b.predict("population_mean", t1[0]), pet.mean(0), rtol=1e-6)
    new = rng.uniform(0, 1, (4, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(b.predict("linear_regression", new), intercept + slope * new, atol=1e-3)


def test_evaluate_tables_and_wilcoxon(cohort, tmp_path):
    """A model that imputes (almost) the reference must beat both baselines on every metric and the table
    must hold the numbers computed directly from the files."""
    results, manifest = cohort
    cfg = tiny_config(results)
    cfg["cohort"] = "manifest"  # a made-up cohort, not the phantom: no oracle row
    rng = np.random.default_rng(2)
    splits = [results / "splits" / f"fold-{k}.json" for k in (0, 1)]
    for k, split in enumerate(splits):
        for s in fold_subjects(results, manifest, split, 3.0).test:
            ref = load_nifti(s.paths.pet if s.has_pet else s.paths.truth_pet)
            near = np.asarray(ref.dataobj) + rng.normal(0, 0.01, ref.shape)
            save_nifti(near.astype(np.float32), AFFINE, imputed_pet_path(results, "near_truth", k, s.participant_id, "M00", 3.0), dtype=np.float32)
    out = tmp_path / "evaluation"
    summary = evaluate(cfg, results, manifest, splits, ["near_truth"], out)
    metrics = pd.read_csv(out / "metrics.csv", dtype={"participant_id": str})
    n_subjects = sum(len(fold_subjects(results, manifest, s, 3.0).test) for s in splits)
    assert len(metrics) == 3 * n_subjects  # near_truth + 2 baselines, every test subject has a real or true PET
    assert set(metrics["reference"]) == {"real", "truth"}

    row = metrics[(metrics["method"] == "near_truth")].iloc[0]
    fs = fold_subjects(results, manifest, splits[int(row["fold"])], 3.0)
    s = next(x for x in fs.test if x.participant_id == row["participant_id"])
    ref = np.asarray(load_nifti(s.paths.pet if s.has_pet else s.paths.truth_pet).dataobj)
    pred = np.asarray(load_nifti(imputed_pet_path(results, "near_truth", int(row["fold"]), s.participant_id, "M00", 3.0)).dataobj)
    mask = np.asarray(load_nifti(s.paths.mask).dataobj) > 0
    assert row["mae"] == pytest.approx(np.abs(pred - ref)[mask].mean(), rel=1e-5)

    by = summary.set_index("method")
    assert by.loc["near_truth", "ssim_mean"] > by.loc["population_mean", "ssim_mean"]
    assert by.loc["near_truth", "mae_mean"] < by.loc["linear_regression", "mae_mean"]
    assert by.loc["near_truth", "fid_mean"] < by.loc["population_mean", "fid_mean"]
    tests = pd.read_csv(out / "tests.csv")
    assert len(tests) == 2 * 4 and tests["model_better"].all()  # MAE, PSNR, SSIM and |meta-ROI error|
    assert (tests["p_value"] < 0.01).all() and (tests["n"] == n_subjects).all()
    table = (out / "table.md").read_text()
    assert "data range" in table and "| near_truth |" in table
    assert "No oracle row: the cohort is a real manifest" in table and "oracle" not in set(summary["method"])
    # between-subject R² of the deviation from the training mean: 0 for that mean, near 1 for near_truth
    assert by.loc["population_mean", "r2_brain"] == pytest.approx(0.0, abs=1e-9)
    assert by.loc["near_truth", "r2_brain"] > 0.9 > by.loc["linear_regression", "r2_brain"]
    assert (out / "fig-near_truth.png").stat().st_size > 1000


def test_subject_regional_exact_values():
    from mrisynth.synthesis.regional import NormalReference, Regions, regional_summary, subject_regional

    shape = (4, 4, 4)
    cortex = np.zeros(shape, bool)
    cortex[:2] = True
    meta = np.zeros(shape, bool)
    meta[0] = True
    control = np.zeros(shape, bool)
    control[1] = True
    regions = Regions(cortex=cortex, meta_roi=meta, control=control)
    brain = np.ones(shape, bool)
    mean = np.ones(shape)
    ref = np.ones(shape)
    ref[0] = 0.8  # meta-ROI hypometabolism of 0.2
    pred = np.ones(shape)
    pred[0] = 0.9  # half of it
    pred[1] = 1.1  # control region off by +0.1
    nc = NormalReference(mean=np.ones(shape), sd=np.full(shape, 0.05), roi_mean=1.0, roi_sd=0.05)
    out = subject_regional(pred, ref, mean, brain, regions, nc)
    assert out["metaroi_ref"] == pytest.approx(0.8) and out["metaroi_err"] == pytest.approx(0.1)
    assert out["control_err"] == pytest.approx(0.1)
    # metaroi: SSE 16 * 0.01, SS 16 * 0.04; brain adds the control errors to the SSE only
    assert out["sse_metaroi"] == pytest.approx(0.16) and out["ss_metaroi"] == pytest.approx(0.64)
    assert out["sse_brain"] == pytest.approx(0.32) and out["ss_brain"] == pytest.approx(0.64)
    assert out["metaroi_z_err"] == pytest.approx(2.0)
    # z < -2: truth z = -4 in the meta-ROI (16 voxels), prediction z = -2 (not below): Dice 0
    assert out["dice_z2"] == 0.0
    assert subject_regional(ref, ref, mean, brain, regions, nc)["dice_z2"] == 1.0
    metrics = pd.DataFrame([{"method": "m", "diagnosis": "AD", **out}, {"method": "m", "diagnosis": "NC", **out}])
    row = regional_summary(metrics).iloc[0]
    assert row["r2_metaroi"] == pytest.approx(0.75) and row["r2_brain"] == pytest.approx(0.5)
    assert row["metaroi_rmse"] == pytest.approx(0.1) and row["metaroi_bias_AD"] == pytest.approx(0.1)
    assert np.isnan(row["metaroi_rmse_sMCI"])
