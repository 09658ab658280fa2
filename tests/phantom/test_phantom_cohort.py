"""Cohort latents, grids and smooth fields of the phantom: cheap, exact checks (no images)."""

from __future__ import annotations

import numpy as np
import pytest

from mrisynth.config import load_config
from mrisynth.errors import InputError
from mrisynth.phantom.cohort import GROUPS, cohort_specs, group_counts
from mrisynth.phantom.fields import random_coefficients, smooth_field
from mrisynth.phantom.geometry import orientation_matrix, rotation_matrix, scanner_grid


@pytest.fixture(scope="module")
def config():
    return load_config(None)


def test_group_counts_scale_to_n(config):
    groups = config["phantom"]["groups"]
    assert group_counts(groups, 80) == {"NC": 20, "sMCI": 25, "pMCI": 20, "AD": 15}
    # 8 * (20, 25, 20, 15) / 80 = (2, 2.5, 2, 1.5): the two halves go to the groups in order
    assert group_counts(groups, 8) == {"NC": 2, "sMCI": 3, "pMCI": 2, "AD": 1}
    assert group_counts(groups, 4) == {g: 1 for g in GROUPS}
    with pytest.raises(InputError, match="at least 4"):
        group_counts(groups, 3)


def test_cohort_is_deterministic_and_ordered(config):
    phantom = config["phantom"]
    a, b = cohort_specs(phantom, 42), cohort_specs(phantom, 42)
    assert a == b and len(a) == 80
    assert cohort_specs(phantom, 43) != a
    assert [s.participant_id for s in a[:2]] == ["sub-0001", "sub-0002"]
    mean = {g: np.mean([s.severity for s in a if s.diagnosis == g]) for g in GROUPS}
    print("mean severity per group:", {g: round(v, 3) for g, v in mean.items()})
    assert mean["NC"] < mean["sMCI"] < mean["pMCI"] < mean["AD"]
    # overlapping: some sMCI are more severe than some pMCI (the task must not be trivial)
    assert max(s.severity for s in a if s.diagnosis == "sMCI") > min(s.severity for s in a if s.diagnosis == "pMCI")
    # PET left out for half of each group (rounded half down): 10 + 12 + 10 + 7
    missing = {g: sum(not s.has_pet for s in a if s.diagnosis == g) for g in GROUPS}
    assert missing == {"NC": 10, "sMCI": 12, "pMCI": 10, "AD": 7}
    assert {s.site for s in a} == {site["name"] for site in phantom["sites"]}
    assert all(phantom["age"]["min"] <= s.age <= phantom["age"]["max"] for s in a)


def test_orientation_and_scanner_grid():
    np.testing.assert_array_equal(orientation_matrix("RAS"), np.eye(3))
    np.testing.assert_array_equal(orientation_matrix("LPS"), np.diag([-1.0, -1.0, 1.0]))
    # PIR: voxel axis 0 runs posterior (-y), axis 1 inferior (-z), axis 2 right (+x)
    np.testing.assert_array_equal(orientation_matrix("PIR"), [[0, 0, 1], [-1, 0, 0], [0, -1, 0]])
    affine, shape = scanner_grid("PIR", (2.0, 2.0, 2.0), (180, 220, 190), (0, -18, 6))
    assert shape == (110, 95, 90)
    centre = affine @ np.r_[(np.asarray(shape) - 1) / 2, 1]
    np.testing.assert_allclose(centre[:3], [0, -18, 6])
    r = rotation_matrix((10, -5, 7))
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)


def test_smooth_field_unit_rms_and_smooth():
    rng = np.random.default_rng(0)
    fields = [smooth_field(c, (40, 48, 36)) for c in random_coefficients(rng, 4, 32)]
    rms = np.sqrt(np.mean([np.mean(f**2) for f in fields]))
    print(f"smooth field rms over 32 draws: {rms:.3f}")
    assert rms == pytest.approx(1.0, abs=0.15)
    assert abs(np.mean([f.mean() for f in fields])) < 0.05  # no constant term
    # smooth: neighbouring voxels differ by a small fraction of the field's range
    step = np.abs(np.diff(fields[0], axis=0)).max()
    assert step < 0.1 * np.ptp(fields[0])


def _latents(config, n: int = 300):
    from mrisynth.phantom.simulate import draw_latents

    phantom = config["phantom"]
    specs = cohort_specs(phantom, config["seed"], n)
    return specs, [draw_latents(s, phantom, np.random.default_rng([config["seed"], s.index, 1])) for s in specs]


def _ols(y, *columns):
    """Least-squares coefficients and residuals of y on [1, columns...]."""
    x = np.column_stack([np.ones(len(y)), *columns])
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    return coef, y - x @ coef


def test_ventricle_size_is_not_a_function_of_severity_and_age(config):
    """The old phantom's shortcut: ventricle growth = a * severity + b * age exactly, so T1 plus the manifest's
    age revealed the severity. Now a disease-independent part remains after regressing on both."""
    specs, lat = _latents(config)
    atro = config["phantom"]["atrophy"]
    vent = np.array([x["ventricle_mm"] for x in lat])
    severity, years = np.array([s.severity for s in specs]), np.array([x["years"] for x in lat])
    stage = np.array([x["atrophy_stage"] for x in lat])
    for cols in ((severity, years), (stage, years), (severity, stage, years)):
        _, resid = _ols(vent, *cols)
        print(f"ventricle residual sd after {len(cols)} predictors: {resid.std():.3f} mm")
        assert resid.std() > 0.8 * atro["ventricle_sd_mm"]
    # and the disease part is still there: AD ventricles larger than NC
    dx = np.array([s.diagnosis for s in specs])
    assert vent[dx == "AD"].mean() - vent[dx == "NC"].mean() > 0.5 * atro["ventricle_severity_mm"]


def test_hypometabolism_leads_atrophy(config):
    """Jack et al. 2010/2013: in MCI hypometabolism is well advanced while atrophy has hardly begun, so the
    two relate non-linearly (the AD group has both)."""
    specs, lat = _latents(config)
    dx = np.array([s.diagnosis for s in specs])
    hypo, atrophy = (np.array([x[k] for x in lat]) for k in ("hypometabolism_stage", "atrophy_stage"))
    assert hypo[dx == "sMCI"].mean() > 2 * atrophy[dx == "sMCI"].mean()
    assert atrophy[dx == "AD"].mean() > 0.7 and hypo[dx == "NC"].mean() < 0.2
    # a linear fit of atrophy on hypometabolism leaves a systematic curvature: positive residuals at both ends
    coef, resid = _ols(atrophy, hypo)
    low, high = hypo < 0.2, hypo > 0.95
    assert resid[low].mean() > 0 and resid[high].mean() > 0 and resid[(hypo > 0.4) & (hypo < 0.8)].mean() < 0


def test_disconnection_couples_connected_hypometabolism_to_medial_temporal_loss(config):
    """Villain et al. 2008: at equal disease stage, the posterior cingulate and precuneus hypometabolism follows
    the subject's own medial temporal loss (slope weight * max_hypometabolism / max_gm_loss); the
    temporoparietal regions, not connected in the config, do not."""
    phantom = config["phantom"]
    _, lat = _latents(config)
    stage, mtl = np.array([x["hypometabolism_stage"] for x in lat]), np.array([x["mtl_loss"] for x in lat])
    expected = phantom["pet"]["disconnection"]["weight"] * phantom["pet"]["max_hypometabolism"] / phantom["atrophy"]["max_gm_loss"]
    for region, slope in (("posterior_cingulate", expected), ("precuneus", expected), ("temporoparietal_L", 0.0)):
        coef, _ = _ols(np.array([x["hypometabolism"][region] for x in lat]), stage, mtl)
        print(f"{region}: slope on medial temporal loss {coef[2]:+.3f} (model {slope:+.3f})")
        assert coef[2] == pytest.approx(slope, abs=0.1)
    # the subject-level medial temporal loss that is not disease (what only this subject's MRI shows) varies
    assert np.std([x["mtl_individual"] for x in lat]) == pytest.approx(phantom["anatomy"]["mtl_individual_sd"], rel=0.2)


def test_expectation_removes_only_the_hypometabolism_noise(config):
    from mrisynth.phantom.simulate import draw_latents

    phantom = config["phantom"]
    spec = cohort_specs(phantom, config["seed"], 8)[3]
    full, mean = (draw_latents(spec, phantom, np.random.default_rng([1, 2, 3]), expectation=e) for e in (False, True))
    assert full["gm_loss"] == mean["gm_loss"] and full["ventricle_mm"] == mean["ventricle_mm"]
    noise = [full["hypometabolism"][r] - mean["hypometabolism"][r] for r in phantom["pet"]["regions"]]
    assert all(abs(n) > 1e-6 for n in noise) and max(abs(n) for n in noise) < 5 * phantom["pet"]["hypometabolism_sd"]
