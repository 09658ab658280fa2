"""NIfTI checks, loading and deterministic atomic saving; BIDS-style names."""

import gzip

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from mrisynth.errors import InputError
from mrisynth.io.bids import bids_label, bids_name, subject_dir
from mrisynth.io.nifti import check_nifti, load_nifti, save_nifti, voxel_sizes

AFFINE = np.array([[-1.5, 0, 0, 30.0], [0, 1.5, 0, -40.0], [0, 0, 2.0, -20.0], [0, 0, 0, 1]])


def volume(shape=(9, 10, 11)):
    return np.random.default_rng(3).normal(size=shape).astype(np.float32)


def test_save_is_deterministic_and_round_trips(tmp_path):
    data = volume()
    first, second = tmp_path / "a" / "x.nii.gz", tmp_path / "b" / "y.nii.gz"
    save_nifti(data, AFFINE, first)
    save_nifti(data, AFFINE, second)
    assert first.read_bytes() == second.read_bytes()  # no timestamp, no file name in the gzip header
    assert first.read_bytes()[4:8] == b"\0\0\0\0"  # gzip mtime field
    img = load_nifti(first)
    np.testing.assert_array_equal(img.get_fdata(dtype=np.float32), data)
    np.testing.assert_array_equal(img.affine, AFFINE)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b", "x.nii.gz", "y.nii.gz"]  # no temp files


def test_saved_geometry_agrees_with_simpleitk(tmp_path):
    path = save_nifti(volume(), AFFINE, tmp_path / "x.nii.gz")
    image = sitk.ReadImage(str(path))
    np.testing.assert_allclose(image.GetSpacing(), [1.5, 1.5, 2.0])
    # ITK is LPS: x and y of the RAS affine change sign
    np.testing.assert_allclose(image.GetOrigin(), [-30.0, 40.0, -20.0])
    np.testing.assert_allclose(np.reshape(image.GetDirection(), (3, 3)), np.diag([1.0, -1.0, 1.0]))


def test_save_image_with_dtype_keeps_scaled_values(tmp_path):
    data = np.round(volume() * 100)
    path = save_nifti(nib.Nifti1Image(data, AFFINE), None, tmp_path / "x.nii", dtype=np.int16)
    assert nib.load(path).get_data_dtype() == np.int16
    np.testing.assert_allclose(load_nifti(path).get_fdata(), data, atol=0.02)


def test_load_squeezes_single_volume_4d(tmp_path):
    path = save_nifti(volume((6, 7, 8, 1)), AFFINE, tmp_path / "x.nii.gz")
    img = load_nifti(path)
    assert img.shape == (6, 7, 8)
    assert img.get_data_dtype() == np.float32


def test_load_error_names_file_and_every_problem(tmp_path):
    data = np.zeros((6, 6, 6), np.float32)
    data[0, 0, 0] = np.nan
    path = save_nifti(data, np.diag([20.0, 1.0, 1.0, 1.0]), tmp_path / "bad.nii.gz")
    with pytest.raises(InputError) as info:
        load_nifti(path)
    message = str(info.value)
    assert message.startswith(f"{path}: voxel size 20 x 1 x 1 mm outside 0.3-10 mm")
    assert "1 non-finite voxel value(s)" in message


def test_check_passes_a_good_file_and_flags_names(tmp_path):
    good = save_nifti(volume(), AFFINE, tmp_path / "x.nii.gz")
    assert check_nifti(good) == []
    (tmp_path / "x.mgz").write_bytes(good.read_bytes())
    assert check_nifti(tmp_path / "x.mgz") == ["not a NIfTI file name (expected .nii or .nii.gz)"]
    (tmp_path / "raw.nii.gz").write_bytes(gzip.decompress(good.read_bytes()))  # uncompressed under a .gz name
    assert check_nifti(tmp_path / "raw.nii.gz")[0].startswith("not a readable NIfTI file")


def test_voxel_sizes_of_rotated_affine():
    angle = np.deg2rad(30)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([1.2, 0.8, 3.0])
    np.testing.assert_allclose(voxel_sizes(affine), [1.2, 0.8, 3.0])


def test_bids_names():
    assert bids_name("sub-01", "bl", "T1w") == "sub-01_ses-bl_T1w.nii.gz"
    assert bids_name("01", "ses-m12", "pet", space="MNI152NLin2009aSym", desc="preproc") == (
        "sub-01_ses-m12_space-MNI152NLin2009aSym_desc-preproc_pet.nii.gz")
    assert bids_name("7", "1", "mask", ext=".json") == "sub-7_ses-1_mask.json"
    assert str(subject_dir("results/preprocess", "sub-7", "1") / bids_name("sub-7", "1", "T1w")) == "results/preprocess/sub-7/ses-1/sub-7_ses-1_T1w.nii.gz"
    assert bids_label("sub-ab12", "sub") == "ab12"
    for bad in ("002_S_0295", "a-b", "", "sub-"):
        with pytest.raises(ValueError, match="letters and digits"):
            bids_label(bad, "sub")
    with pytest.raises(ValueError, match="suffix"):
        bids_name("01", "bl", "T1w_brain")
