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
