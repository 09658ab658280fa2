"""The phantom carries the disease signal it claims, measured on the generated scans.

Regions are mapped into each scan through the subject's known pose and deformation
(``SimulatedSubject.template_coordinates``); effect sizes are Cohen's d (pooled sd) and are printed.
"""

from __future__ import annotations

import numpy as np
import pytest

from mrisynth.anatomy import REGIONS
from mrisynth.config import load_config
from mrisynth.phantom.cohort import cohort_specs
from mrisynth.phantom.simulate import simulate_subject
from mrisynth.phantom.template_space import template_space

N_SUBJECTS = 16  # NC 4, sMCI 5, pMCI 4, AD 3
HIPPOCAMPAL = ["hippocampus_L", "hippocampus_R", "entorhinal_L", "entorhinal_R"]


def _roi_mean(img, template_mm: np.ndarray, names: list[str]) -> float:
    inside = np.zeros(img.shape, bool)
    for name in names:
        region = REGIONS[name]
        r2 = sum(((template_mm[i] - region.centre[i]) / region.radii[i]) ** 2 for i in range(3))
        inside |= r2 <= 1.0
    return float(np.asarray(img.dataobj, dtype=np.float32)[inside].mean())


def _cohens_d(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float((a.mean() - b.mean()) / np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2))


@pytest.fixture(scope="module")
def measures():
    config = load_config(None)
    phantom = config["phantom"]
    work = template_space(phantom["work_spacing_mm"])
    hippocampus = sum(work.region_weight(n) for n in HIPPOCAMPAL)
    out = []
    for spec in cohort_specs(phantom, config["seed"], N_SUBJECTS):
        subject = simulate_subject(spec, phantom, config["seed"], work)
        t1_mm, pet_mm = subject.template_coordinates("t1w"), subject.template_coordinates("pet")
        out.append(
            {
                "diagnosis": spec.diagnosis,
                # native volume: template-space grey matter times the head-size scale cubed
                "hippocampal_gm_ml": float((subject.gm * hippocampus).sum()) * work.spacing**3 * subject.poses["t1w"].scale ** 3 / 1000,
                "hippocampal_t1": _roi_mean(subject.t1w, t1_mm, HIPPOCAMPAL) / _roi_mean(subject.t1w, t1_mm, ["motor_L", "motor_R"]),
                "pcc_suvr": _roi_mean(subject.pet, pet_mm, ["posterior_cingulate", "precuneus"]) / _roi_mean(subject.pet, pet_mm, ["pons"]),
            }
        )
    return out


def _effect(measures, key, case, control) -> float:
    a = [m[key] for m in measures if m["diagnosis"] == case]
    b = [m[key] for m in measures if m["diagnosis"] == control]
    d = _cohens_d(a, b)
    print(f"{key}: {case} {np.mean(a):.3f} vs {control} {np.mean(b):.3f} (n={len(a)}/{len(b)}), Cohen's d = {d:.2f}")
    return d


def test_hippocampal_atrophy_ad_vs_nc(measures):
    assert _effect(measures, "hippocampal_gm_ml", "AD", "NC") < -1.0
    assert _effect(measures, "hippocampal_t1", "AD", "NC") < -0.5
    _effect(measures, "hippocampal_t1", "pMCI", "sMCI")  # printed: MRI is the weaker marker of conversion


def test_posterior_cingulate_hypometabolism(measures):
    assert _effect(measures, "pcc_suvr", "AD", "NC") < -1.5
    assert _effect(measures, "pcc_suvr", "pMCI", "sMCI") < -0.5


def test_expectation_subject_has_the_same_mri_and_geometry():
    """The oracle's subject: same T1 bytes and poses; its PET lacks only the parts no MRI shows, so it is
    close to the real one (same anatomy, hypometabolism mean) yet not equal."""
    config = load_config(None)
    phantom = config["phantom"]
    work = template_space(phantom["work_spacing_mm"])
    spec = cohort_specs(phantom, config["seed"], N_SUBJECTS)[0]
    real, oracle = (simulate_subject(spec, phantom, config["seed"], work, expectation=e) for e in (False, True))
    assert np.array_equal(np.asarray(real.t1w.dataobj), np.asarray(oracle.t1w.dataobj))
    np.testing.assert_array_equal(real.pet.affine, oracle.pet.affine)
    np.testing.assert_array_equal(real.poses["pet"].rotation, oracle.poses["pet"].rotation)
    np.testing.assert_array_equal(real.poses["pet"].translation, oracle.poses["pet"].translation)
    assert real.latents["suv_scale"] == oracle.latents["suv_scale"]
    a, b = (np.asarray(x.pet.dataobj, np.float64) for x in (real, oracle))
    inside = b > 0.3 * b.max()
    rel = np.abs(a - b)[inside].mean() / b[inside].mean()
    print(f"relative mean |real - oracle| PET inside the head: {rel:.3f}")
    assert 0.01 < rel < 0.2


def test_hypometabolism_extent():
    """The widened AD-signature regions cover several percent of the brain (the anatomical cores: 1.3%)."""
    phantom = load_config(None)["phantom"]
    work = template_space(phantom["work_spacing_mm"])
    brain = (work.gm + work.wm) > 0.5
    covered = {s: ((sum(work.region_weight(n, s) for n in phantom["pet"]["regions"]) > 0.5) & brain).mean() / brain.mean()
               for s in (1.0, phantom["pet"]["region_scale"])}
    print("fraction of brain voxels in the hypometabolism regions:", covered)
    assert covered[1.0] == pytest.approx(0.013, abs=0.002) and covered[phantom["pet"]["region_scale"]] > 0.035
