"""`mrisynth preprocess` and `mrisynth qc-summary` end to end: outputs, sidecars, truth path, bad input."""

import json
import shutil

import nibabel as nib
import numpy as np
import pytest
from scipy.stats import trim_mean

from mrisynth import anatomy
from mrisynth.cli import main
from mrisynth.preprocess.images import OutputGrid
from mrisynth.preprocess.outputs import subject_paths
from mrisynth.preprocess.qc import excluded_subjects

SHAPE = (100, 118, 100)


@pytest.fixture(scope="module")
def subject(tmp_path_factory, volumes, geometry, preprocess_cfg):
    """One subject with T1 and PET, preprocessed through the CLI."""
    root = tmp_path_factory.mktemp("cli")
    pose = geometry.rigid((8, -5, 4), (6, -10, 5))
    t1 = volumes("sub-01_ses-01_T1w", affine=geometry.grid_affine((2, 2, 2), SHAPE), shape=SHAPE, pose=pose, dtype=np.int16)
    pet_shape = (80, 80, 64)
    pet_pose = geometry.rigid((3, 0, -4), (5, 4, 0)) @ pose
    pet = volumes("pet01", affine=geometry.grid_affine((3, 3, 3.5), pet_shape), shape=pet_shape, pose=pet_pose, kind="pet", bias=False)
    config = root / "config.yaml"
    config.write_text(json.dumps({"seed": preprocess_cfg["seed"], "preprocess": {"resolution_mm": 4}}))
    paths = subject_paths(root, "01", "01", 4)
    assert main(["preprocess", "--t1", str(t1), "--pet", str(pet), "--out-dir", str(paths.dir), "--config", str(config)]) == 0
    return {"root": root, "t1": t1, "pet": pet, "config": config, "paths": paths, "grid": OutputGrid.from_config(preprocess_cfg["preprocess"])}


def test_outputs_are_complete_and_on_the_template_grid(subject):
    paths, grid = subject["paths"], subject["grid"]
    expected = {p.name for p in paths.t1_outputs + paths.pet_outputs}
    assert {p.name for p in paths.dir.iterdir()} == expected  # nothing else (no temporaries)
    for image in (paths.t1, paths.mask, paths.pet):
        img = nib.load(image)
        assert img.shape == grid.shape
        np.testing.assert_allclose(img.affine, grid.affine)
    assert nib.load(paths.mask).get_data_dtype() == np.uint8


def test_sidecars_invert_the_intensity_mapping(subject):
    paths = subject["paths"]
    t1 = np.asarray(nib.load(paths.t1).dataobj)
    mask = np.asarray(nib.load(paths.mask).dataobj) > 0
    mapping = json.loads(paths.t1_json.read_text())
    assert not t1[~mask].any()  # skull-stripped
    # the configured percentiles inside the mask are mapped to 0 and 1
    np.testing.assert_allclose(np.percentile(t1[mask], mapping["percentiles"]), [0.0, 1.0], atol=1e-5)
    assert mapping["high"] > mapping["low"] > 0
    pet = np.asarray(nib.load(paths.pet).dataobj)
    pet_map = json.loads(paths.pet_json.read_text())
    region = anatomy.region_mask(["pons"], subject["grid"].affine, subject["grid"].shape)
    assert pet_map["reference_region"] == "pons" and pet_map["units"] == "SUVR"
    assert trim_mean(pet[region], pet_map["trim_proportion"]) == pytest.approx(1.0, abs=1e-5)
    # the stored reference value brings SUVR back to source units (source PET is ~1000 x uptake)
    assert 100 < pet_map["reference_value"] < 2000


def test_qc_json_numbers(subject):
    qc = json.loads(subject["paths"].qc_json.read_text())
    assert qc["participant_id"] == "01" and qc["session_id"] == "01"  # parsed from the file name
    assert qc["ncc_template"] > 0.95 and qc["dice_brain_mask"] > 0.9
    assert qc["t1_registration_metric"] < -0.5 and qc["pet_t1_mutual_information"] > 0.2
    assert qc["passed"] and qc["failed_checks"] == []
    assert subject["paths"].qc_png.stat().st_size > 5000


def test_truth_path_reuses_the_saved_t1_transform(subject):
    """The phantom's hidden-PET path gives exactly the PET of the full run for the same input."""
    paths = subject["paths"]
    rc = main(["preprocess", "--t1", str(subject["t1"]), "--pet", str(subject["pet"]), "--out-dir", str(paths.truth_dir),
               "--t1-transform", str(paths.t1_xfm), "--config", str(subject["config"])])
    assert rc == 0
    assert {p.name for p in paths.truth_dir.iterdir()} == {p.name for p in paths.truth_outputs}
    np.testing.assert_array_equal(nib.load(paths.truth_pet).get_fdata(), nib.load(paths.pet).get_fdata())


def _bad_inputs(tmp_path, subject, geometry):
    t1, pet = str(subject["t1"]), str(subject["pet"])
    plain = geometry.grid_affine((2, 2, 2), (16, 16, 16))
    flat = np.ones((16, 16, 16), np.float32)
    nan = np.random.default_rng(0).random((16, 16, 16)).astype(np.float32)
    nan[3, 4, 5] = np.nan
    pet_img = nib.load(pet)
    far = pet_img.affine.copy()
    far[:3, 3] += 1000.0
    files = {
        "twod.nii.gz": nib.Nifti1Image(np.random.default_rng(0).random((32, 32)).astype(np.float32), np.eye(4)),
        "constant.nii.gz": nib.Nifti1Image(flat, plain),
        "nan.nii.gz": nib.Nifti1Image(nan, plain),
        "far_pet.nii.gz": nib.Nifti1Image(np.asarray(pet_img.dataobj), far),
    }
    for name, img in files.items():
        nib.save(img, str(tmp_path / name))
    (tmp_path / "garbage.nii.gz").write_bytes(b"this is not a NIfTI file")
    (tmp_path / "garbage.tfm").write_text("not a transform")
    return {
        "2D": (["--t1", str(tmp_path / "twod.nii.gz")], "twod.nii.gz", "2D"),
        "constant": (["--t1", str(tmp_path / "constant.nii.gz")], "constant.nii.gz", "same value"),
        "NaN": (["--t1", str(tmp_path / "nan.nii.gz")], "nan.nii.gz", "NaN"),
        "unreadable": (["--t1", str(tmp_path / "garbage.nii.gz")], "garbage.nii.gz", "not a readable NIfTI"),
        "missing": (["--t1", str(tmp_path / "nope.nii.gz")], "nope.nii.gz", "does not exist"),
        "PET off the T1": (["--t1", t1, "--pet", str(tmp_path / "far_pet.nii.gz")], "far_pet.nii.gz", "same scanner space"),
        "transform without PET": (["--t1", t1, "--t1-transform", str(tmp_path / "garbage.tfm")], "--pet", "required"),
        "unreadable transform": (["--t1", t1, "--pet", pet, "--t1-transform", str(tmp_path / "garbage.tfm")], "garbage.tfm", "not a readable ITK transform"),
    }


def test_bad_input_exits_2_naming_file_and_problem_without_output(tmp_path, subject, geometry, capsys):
    for case, (args, where, problem) in _bad_inputs(tmp_path, subject, geometry).items():
        out = tmp_path / "out" / case.replace(" ", "_")
        rc = main(["preprocess", *args, "--out-dir", str(out), "--participant", "9", "--session", "1", "--config", str(subject["config"])])
        err = capsys.readouterr().err
        assert rc == 2, case
        assert where in err and problem in err, f"{case}: {err}"
        assert not out.exists(), f"{case}: partial output"


def test_qc_summary_flags_failures_and_excludes_only_when_configured(tmp_path, subject):
    paths = subject["paths"]
    qc_files = []
    for i, ncc in enumerate([0.95, 0.96, 0.97, 0.955, 0.965, 0.5], start=1):
        folder = tmp_path / f"s{i}"
        shutil.copytree(paths.dir, folder)
        qc_file = folder / paths.qc_json.name
        record = json.loads(qc_file.read_text())
        record.update(participant_id=f"{i:02d}", ncc_template=ncc)
        qc_file.write_text(json.dumps(record))
        qc_files.append(str(qc_file))
    for exclude in (False, True):
        config = tmp_path / f"qc_{exclude}.yaml"
        config.write_text(json.dumps({"preprocess": {"resolution_mm": 4, "qc": {"exclude_failed": exclude}}}))
        out = {k: tmp_path / f"qc_{exclude}.{k}" for k in ("tsv", "json", "png")}
        rc = main(["qc-summary", "--qc", *qc_files, "--config", str(config), "--tsv", str(out["tsv"]),
                   "--json", str(out["json"]), "--mosaic", str(out["png"])])
        assert rc == 0
        summary = json.loads(out["json"].read_text())
        assert summary["n_subjects"] == 6 and summary["n_failed"] == 1 and summary["n_outliers"] == 1
        flagged = [s for s in summary["subjects"] if s["failed"]]
        assert [s["participant_id"] for s in flagged] == ["06"] and "NCC" in flagged[0]["failed_checks"]
        assert excluded_subjects(out["json"]) == ({("06", "01")} if exclude else set())
        assert out["tsv"].read_text().count("\n") == 7 and out["png"].stat().st_size > 5000


def test_saved_templates_give_identical_outputs(tmp_path, subject):
    """`preprocess --templates` (the DAG's way: templates made once by `preprocess-templates`) writes the
    same bytes as computing the templates in the job (qc.json differs only in its timings)."""
    from mrisynth.preprocess import images

    templates = tmp_path / "templates.npz"
    assert main(["preprocess-templates", "--out", str(templates), "--config", str(subject["config"])]) == 0
    out = tmp_path / "sub-01" / "ses-01"
    try:
        assert main(["preprocess", "--t1", str(subject["t1"]), "--pet", str(subject["pet"]), "--out-dir", str(out),
                     "--config", str(subject["config"]), "--templates", str(templates)]) == 0
    finally:
        images.LOADED_TEMPLATES.clear()  # the other tests compute their own
    reference = subject["paths"].dir
    names = sorted(p.name for p in reference.iterdir())
    assert names == sorted(p.name for p in out.iterdir())
    for name in names:
        if name.endswith("qc.json"):
            a, b = (json.loads((d / name).read_text()) for d in (reference, out))
            a.pop("seconds"), b.pop("seconds")
            assert a == b
        else:
            assert (reference / name).read_bytes() == (out / name).read_bytes(), name


def test_templates_of_another_grid_exit_2(tmp_path, subject, capsys):
    other = tmp_path / "other.yaml"
    other.write_text(json.dumps({"preprocess": {"resolution_mm": 6}}))
    templates = tmp_path / "templates.npz"
    assert main(["preprocess-templates", "--out", str(templates), "--config", str(other)]) == 0
    out = tmp_path / "out"
    assert main(["preprocess", "--t1", str(subject["t1"]), "--out-dir", str(out), "--config", str(subject["config"]),
                 "--templates", str(templates)]) == 2
    assert "another grid" in capsys.readouterr().err
    assert not out.exists()
