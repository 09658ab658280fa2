"""Phantom subjects and moved / reoriented copies of them with known transforms: recovery checked."""

import csv

import nibabel as nib
import numpy as np
import pytest

from mrisynth.preprocess.images import OutputGrid
from mrisynth.preprocess.pet import preprocess_pet
from mrisynth.preprocess.qc import ncc
from mrisynth.preprocess.t1 import prepare_t1, register_t1, t1_to_template, template_on_grid

FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])  # RAS <-> LPS
POINTS = np.array([[x, y, z, 1.0] for x in (-40, 0, 40) for y in (-60, -10, 40) for z in (-20, 10, 40)]).T


def _apply(transform, points_ras):
    return np.array([FLIP @ np.r_[transform.TransformPoint((FLIP @ p)[:3].tolist()), 1.0] for p in points_ras.T]).T


@pytest.fixture(scope="module")
def original(phantom_cohort, preprocess_cfg):
    with open(phantom_cohort, newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["pet"])
    root = phantom_cohort.parent
    cfg, seed = preprocess_cfg["preprocess"], preprocess_cfg["seed"]
    grid = OutputGrid.from_config(cfg)
    t1 = prepare_t1(root / row["t1w"], cfg)
    reg = register_t1(t1, cfg, seed)
    out = t1_to_template(t1, reg.transform, grid, cfg)
    pet = preprocess_pet(root / row["pet"], t1, reg.transform, grid, cfg, seed)
    return {"t1_path": root / row["t1w"], "pet_path": root / row["pet"], "reg": reg, "grid": grid, "pet": pet,
            "ncc": ncc(out.image, template_on_grid("t1", grid), out.mask)}


def test_phantom_subject_lands_on_template(original):
    assert original["ncc"] > 0.85
    mask = template_on_grid("brain_mask", original["grid"]) > 0.5
    assert np.median(original["pet"].image[mask]) > 0.8  # SUVR: cortex and white matter above ~pons level


def test_moved_and_reoriented_copies_recover_the_known_transform(original, tmp_path, geometry, preprocess_cfg):
    cfg, seed, grid = preprocess_cfg["preprocess"], preprocess_cfg["seed"], original["grid"]
    img = nib.load(original["t1_path"])
    move = geometry.rigid((15, -10, 12), (20, -20, 15))
    copies = {
        # same voxels, world moved by `move`: the head is rotated 15 deg and shifted 20 mm more
        "moved": (nib.Nifti1Image(np.asanyarray(img.dataobj), move @ img.affine, img.header), move),
        # same head stored left-posterior-superior
        "LPS": (img.as_reoriented(nib.orientations.axcodes2ornt("LPS")), np.eye(4)),
    }
    expected_base = _apply(original["reg"].transform, POINTS)
    for name, (copy, motion) in copies.items():
        path = tmp_path / f"{name}.nii.gz"
        nib.save(copy, str(path))
        t1 = prepare_t1(path, cfg)
        reg = register_t1(t1, cfg, seed)
        out = t1_to_template(t1, reg.transform, grid, cfg)
        err = np.linalg.norm(_apply(reg.transform, POINTS)[:3] - (motion @ expected_base)[:3], axis=0)
        assert err.max() < 2.0, f"{name}: {err.max():.2f} mm from the known transform"
        assert ncc(out.image, template_on_grid("t1", grid), out.mask) > original["ncc"] - 0.05, name
        if name == "moved":  # the PET moved with the head: same SUVR image
            pet_img = nib.load(original["pet_path"])
            pet_path = tmp_path / "moved_pet.nii.gz"
            nib.save(nib.Nifti1Image(np.asanyarray(pet_img.dataobj), move @ pet_img.affine, pet_img.header), str(pet_path))
            pet = preprocess_pet(pet_path, t1, reg.transform, grid, cfg, seed)
            mask = template_on_grid("brain_mask", grid) > 0.5
            assert ncc(pet.image, original["pet"].image, mask) > 0.98
