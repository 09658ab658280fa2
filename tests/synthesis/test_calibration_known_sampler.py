"""calibrate-synthesis on draws whose law is known: every test subject's K draws and its reference PET are
exchangeable N(mu_v, s_v^2) per voxel, so the 90% predictive interval covers 90% of voxels in expectation and
the raw coverage of draws claimed recalibrated by c = 2 is exactly 2 F_t(t_q / 2; K - 1) - 1."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mrisynth.io.nifti import load_array, save_nifti
from mrisynth.synthesis.calibration import calibrate
from mrisynth.synthesis.paths import imputed_pet_path, imputed_samples_path
from mrisynth.synthesis.subjects import fold_subjects, reference_pet

from .conftest import make_cohort, tiny_config

K, LEVEL, C = 8, 0.9, 2.0


def _write_gaussian_draws(results, manifest, splits, rng):
    """Draws mu + s z_k with mu = reference - s z_0: reference and draws are i.i.d. given (mu, s)."""
    n_voxels = 0
    for fold, split in enumerate(splits):
        for s in fold_subjects(results, manifest, split, 3.0).test:
            ref, affine = load_array(reference_pet(s)[0])
            mask = load_array(s.paths.mask)[0] > 0
            n_voxels += int(mask.sum())
            sd = rng.uniform(0.05, 0.3, ref.shape)
            mu = ref - sd * rng.normal(size=ref.shape)
            draws = mu[..., None] + sd[..., None] * rng.normal(size=(*ref.shape, K))
            where = (results, "gauss", fold, s.participant_id, s.session_id, 3.0)
            save_nifti(draws.astype(np.float32), affine, imputed_samples_path(*where), dtype=np.float32)
            mean_path = imputed_pet_path(*where)
            save_nifti(draws.mean(-1).astype(np.float32), affine, mean_path, dtype=np.float32)
            # as impute writes it after recalibration: the draws as given ARE the recalibrated ones
            mean_path.with_name(mean_path.name.replace(".nii.gz", ".json")).write_text(json.dumps({"spread_scale": C}))
    return n_voxels


def test_calibration_of_a_known_gaussian_sampler(tmp_path):
    results, manifest = make_cohort(tmp_path)
    splits = [results / "splits" / f"fold-{k}.json" for k in (0, 1)]
    n_voxels = _write_gaussian_draws(results, manifest, splits, np.random.default_rng(0))
    cfg = tiny_config(results)
    cfg["synthesis"]["calibration"]["level"] = LEVEL
    summary = calibrate(cfg, results, manifest, splits, ["gauss"], tmp_path / "calibration", progress=False).iloc[0]
    subjects = pd.read_csv(tmp_path / "calibration" / "subjects.csv", dtype={"participant_id": str})
    n_test = sum(len(fold_subjects(results, manifest, s, 3.0).test) for s in splits)
    assert summary["k"] == K and summary["n_subjects"] == n_test == len(subjects)
    assert subjects["n_voxels"].sum() == n_voxels
    # every subject has the same brain mask, so the mean of per-subject coverages is the pooled fraction:
    # binomial sd sqrt(p (1 - p) / n) over all test voxels (about 0.0013 here); 4 sd tolerance
    tol = 4 * np.sqrt(LEVEL * (1 - LEVEL) / n_voxels)
    assert summary["voxel_coverage"] == pytest.approx(LEVEL, abs=tol)
    # the raw draws (deviations / c) cover P(|T_{K-1}| <= t_q / c): exact for exchangeable Gaussians
    raw = 2 * stats.t.cdf(stats.t.ppf(0.5 + LEVEL / 2, K - 1) / C, K - 1) - 1
    assert raw == pytest.approx(0.625, abs=1e-3)  # t_0.95(7) = 1.895, F(0.947) = 0.812
    assert summary["voxel_coverage_raw"] == pytest.approx(raw, abs=4 * np.sqrt(raw * (1 - raw) / n_voxels))
    assert summary["spread_scale"] == C
    # regional means of the draws are exchangeable Gaussians too: 90% of (subject, region) pairs, binomial tolerance
    pairs = int(summary["n_region_pairs"])
    assert pairs >= 40
    assert summary["region_coverage"] == pytest.approx(LEVEL, abs=4 * np.sqrt(LEVEL * (1 - LEVEL) / pairs))
    # a larger sd means a larger error of the mean: the rank correlation is clearly positive
    assert summary["voxel_spearman"] > 0.3
