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
