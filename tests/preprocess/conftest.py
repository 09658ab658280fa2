"""Test volumes made from the MNI152 template with known poses, orientations, grids and storage types.

A volume's world content is the template moved by ``pose`` (a RAS 4x4 matrix): the voxel at world point
``p`` shows the template at ``inv(pose) @ p``. Preprocessing must then find ``pose`` again (its T1
transform maps template points to subject points, i.e. it estimates ``pose``).
"""

from __future__ import annotations

from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pytest
import yaml
from scipy import ndimage
from scipy.spatial.transform import Rotation

from mrisynth import anatomy

# a small working resolution keeps every registration to about a second on 2 cores
TEST_PREPROCESS = {"resolution_mm": 4}


def rigid(rot_deg=(0.0, 0.0, 0.0), shift_mm=(0.0, 0.0, 0.0)) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = Rotation.from_euler("xyz", rot_deg, degrees=True).as_matrix()
    m[:3, 3] = shift_mm
    return m


def grid_affine(spacing, shape, rotation_deg=(0.0, 0.0, 0.0), flip=(False, False, False)) -> np.ndarray:
    """Affine of a grid centred on the world origin, optionally oblique and with flipped axes."""
    spacing, shape = np.asarray(spacing, float), np.asarray(shape)
    linear = rigid(rotation_deg)[:3, :3] @ np.diag(spacing * np.where(flip, -1, 1))
    aff = np.eye(4)
    aff[:3, :3] = linear
    aff[:3, 3] = -linear @ ((shape - 1) / 2.0)
    return aff


def pet_source() -> np.ndarray:
    """An FDG-like uptake map on the 1 mm template grid: grey matter high, white matter lower, blurred."""
    gm = np.asarray(anatomy.template("gm").dataobj, np.float32)
    wm = np.asarray(anatomy.template("wm").dataobj, np.float32)
    return ndimage.gaussian_filter(gm + 0.3 * wm, 2.5)


def make_volume(path, affine, shape, pose=np.eye(4), kind="t1", bias=True, noise=0.01, seed=0,
                dtype=np.float32, slope_inter=None):
    tpl = anatomy.template("t1")
    source = np.asarray(tpl.dataobj, np.float32) if kind == "t1" else pet_source()
    ijk = np.indices(shape).reshape(3, -1).astype(np.float64)
    world = affine[:3, :3] @ ijk + affine[:3, 3:4]
    template_world = np.linalg.inv(pose) @ np.vstack([world, np.ones((1, world.shape[1]))])
    vox = np.linalg.inv(tpl.affine) @ template_world
    values = ndimage.map_coordinates(source, vox[:3], order=1, cval=0.0).reshape(shape)
    if bias:  # a smooth multiplicative field, as a receive coil gives
        values = values * np.exp(0.15 * world[0] / 100 - 0.1 * world[2] / 100).reshape(shape)
    rng = np.random.default_rng(seed)
    values = 1000.0 * (values + noise * rng.standard_normal(shape) * (values > 0))
    img = nib.Nifti1Image(values.astype(np.float32), affine)
    img.set_data_dtype(dtype)
    if slope_inter is not None:
        img.header.set_slope_inter(*slope_inter)
    nib.save(img, str(path))
    return path


@pytest.fixture(scope="session")
def preprocess_cfg():
    from mrisynth.config import load_config

    cfg = load_config(overrides={"preprocess": dict(TEST_PREPROCESS)})
    return cfg


@pytest.fixture
def config_file(tmp_path, preprocess_cfg):
    def write(**qc):
        cfg = {"seed": preprocess_cfg["seed"], "preprocess": {**TEST_PREPROCESS, **({"qc": qc} if qc else {})}}
        path = tmp_path / f"config{len(list(tmp_path.glob('config*.yaml')))}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        return path

    return write


@pytest.fixture(scope="session")
def volumes(tmp_path_factory):
    """Factory writing template-derived volumes into one session folder."""
    folder = tmp_path_factory.mktemp("volumes")

    def make(name, **kwargs):
        return make_volume(folder / f"{name}.nii.gz", **kwargs)

    make.folder = folder
    return make


@pytest.fixture(scope="session")
def geometry():
    """The pose / grid helpers for test modules (conftest is not importable under importlib mode)."""
    return SimpleNamespace(rigid=rigid, grid_affine=grid_affine)
