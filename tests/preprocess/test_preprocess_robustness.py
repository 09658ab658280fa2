"""Scanner-like variations of the same head must land in template space as well as the plain one.

Each volume is the MNI template moved by a known pose and stored in some orientation / grid / type; the
estimated T1 transform must reproduce the pose (points in the brain within 2 mm at 4 mm working
resolution) and the NCC to the template must stay within 0.05 of the unrotated volume's.
"""

import numpy as np
import pytest
import SimpleITK as sitk
from scipy.stats import trim_mean

from mrisynth import anatomy
from mrisynth.preprocess.images import OutputGrid
from mrisynth.preprocess.pet import preprocess_pet
from mrisynth.preprocess.qc import ncc
from mrisynth.preprocess.t1 import prepare_t1, register_t1, t1_to_template, template_on_grid

SHAPE = (100, 118, 100)  # 2 mm native grid around the head
FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])  # RAS <-> LPS
# MNI points spread over the brain where the recovered transform is checked
POINTS = np.array([[x, y, z, 1.0] for x in (-40, 0, 40) for y in (-60, -10, 40) for z in (-20, 10, 40)]).T

# grid (spacing, shape, obliquity, flipped axes), pose (rotation deg, shift mm), storage
CASES = {
    "rotated15_shifted20_int16_slope": dict(pose=((15, -12, 10), (20, -15, 12)), dtype=np.int16, slope_inter=(0.05, 3.0)),
    "rotated_other_way": dict(pose=((-15, 15, -15), (-20, 20, -20))),
    "LPS": dict(flip=(True, True, False)),
    "LAS": dict(flip=(True, False, False)),
    "oblique_uint16": dict(rotation_deg=(12, 0, -10), dtype=np.uint16, slope_inter=(0.1, 0.0)),
    "anisotropic_1.5x1.5x4.5": dict(spacing=(1.5, 1.5, 4.5), shape=(134, 158, 45), pose=((0, 8, 0), (5, 0, -10))),
}


def _volume(volumes, geometry, name, spacing=(2, 2, 2), shape=SHAPE, rotation_deg=(0, 0, 0), flip=(False,) * 3, pose=None, **storage):
    pose = np.eye(4) if pose is None else geometry.rigid(*pose)
    affine = geometry.grid_affine(spacing, shape, rotation_deg, flip)
    return volumes(name, affine=affine, shape=shape, pose=pose, **storage), pose


def _transform_error_mm(transform: sitk.Transform, pose: np.ndarray) -> np.ndarray:
    """Distance between where the estimated and the true pose put brain points (transform is in LPS)."""
    est = np.array([FLIP @ np.r_[transform.TransformPoint((FLIP @ p)[:3].tolist()), 1.0] for p in POINTS.T]).T
    return np.linalg.norm(est[:3] - (pose @ POINTS)[:3], axis=0)


@pytest.fixture(scope="module")
def grid(preprocess_cfg):
    return OutputGrid.from_config(preprocess_cfg["preprocess"])


def _run(path, cfg, grid):
    t1 = prepare_t1(path, cfg["preprocess"])
    reg = register_t1(t1, cfg["preprocess"], cfg["seed"])
    out = t1_to_template(t1, reg.transform, grid, cfg["preprocess"])
    return t1, reg, out


@pytest.fixture(scope="module")
def baseline(volumes, geometry, preprocess_cfg, grid):
    path, _ = _volume(volumes, geometry, "plain")
    t1, reg, out = _run(path, preprocess_cfg, grid)
    return {"path": path, "t1": t1, "reg": reg, "ncc": ncc(out.image, template_on_grid("t1", grid), out.mask)}


def test_baseline_lands_on_template(baseline):
    assert baseline["ncc"] > 0.95
    assert _transform_error_mm(baseline["reg"].transform, np.eye(4)).max() < 1.5


@pytest.mark.parametrize("case", list(CASES))
def test_variant_recovers_pose_and_ncc(case, volumes, geometry, preprocess_cfg, grid, baseline):
    path, pose = _volume(volumes, geometry, case, **CASES[case])
    _, reg, out = _run(path, preprocess_cfg, grid)
    err = _transform_error_mm(reg.transform, pose)
    assert err.max() < 2.0, f"{case}: pose error {err.max():.2f} mm"
    value = ncc(out.image, template_on_grid("t1", grid), out.mask)
    assert value > baseline["ncc"] - 0.05, f"{case}: NCC {value:.3f} vs {baseline['ncc']:.3f}"


def test_registration_is_repeatable(baseline, preprocess_cfg):
    again = register_t1(baseline["t1"], preprocess_cfg["preprocess"], preprocess_cfg["seed"])
    assert again.transform.GetParameters() == baseline["reg"].transform.GetParameters()
    assert again.metric == baseline["reg"].metric


def test_pet_on_other_grid_composes_with_t1(volumes, geometry, preprocess_cfg, grid, baseline):
    """PET with its own pose and a coarse anisotropic grid: rigid PET->T1 recovered, SUVR reference = 1."""
    cfg = preprocess_cfg["preprocess"]
    t1_pose = np.eye(4)
    pet_pose = geometry.rigid((6, -4, 5), (10, 6, -8)) @ t1_pose
    shape = (80, 80, 64)  # 240 x 240 x 224 mm: the moved head stays inside the field of view
    affine = geometry.grid_affine((3.0, 3.0, 3.5), shape)
    pet_path = volumes("pet_moved", affine=affine, shape=shape, pose=pet_pose, kind="pet", bias=False)
    still_path = volumes("pet_still", affine=affine, shape=shape, pose=t1_pose, kind="pet", bias=False)
    moved = preprocess_pet(pet_path, baseline["t1"], baseline["reg"].transform, grid, cfg, preprocess_cfg["seed"])
    still = preprocess_pet(still_path, baseline["t1"], baseline["reg"].transform, grid, cfg, preprocess_cfg["seed"])
    # the rigid transform maps T1 points to PET points: that is the relative pose
    err = _transform_error_mm(moved.rigid, pet_pose @ np.linalg.inv(t1_pose))
    assert err.max() < 2.0, err
    mask = template_on_grid("brain_mask", grid) > 0.5
    assert ncc(moved.image, still.image, mask) > 0.99
    region = anatomy.region_mask(["pons"], grid.affine, grid.shape)
    assert trim_mean(moved.image[region], cfg["suvr_trim"]) == pytest.approx(1.0, abs=1e-5)
    assert moved.mapping["reference_value"] > 0
