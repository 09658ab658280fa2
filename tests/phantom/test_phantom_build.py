"""The written phantom cohort: manifest and files agree, headers, byte-identical rebuilds, mismatch errors."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np

from mrisynth.cli import main
from mrisynth.config import load_config

PHANTOM = load_config(None)["phantom"]
SITES = {s["name"]: s for s in PHANTOM["sites"]}


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted((root / "data").rglob("*")) if p.is_file()}


def test_manifest_and_files_agree(phantom_cohort):
    root = phantom_cohort.parent
    rows = _rows(phantom_cohort)
    assert [r["diagnosis"] for r in rows].count("sMCI") == 3 and {r["diagnosis"] for r in rows} == {"NC", "sMCI", "pMCI", "AD"}
    listed = {r["t1w"] for r in rows} | {r["pet"] for r in rows if r["pet"]}
    raw = {p.relative_to(root).as_posix() for p in (root / PHANTOM["raw_dir"]).rglob("*.nii.gz")}
    assert raw == listed  # exactly the files the manifest names, nothing else
    assert rows[0]["t1w"] == "data/phantom/sub-0001/ses-M00/anat/sub-0001_ses-M00_T1w.nii.gz"

    truth = root / PHANTOM["truth_dir"]
    latents = {r["participant_id"]: r for r in _rows(truth / "latents.csv")}
    assert list(latents) == [r["participant_id"] for r in rows]
    without_pet = [r["participant_id"] for r in rows if not r["pet"]]
    assert len(without_pet) == 3
    hidden = {p.relative_to(truth).as_posix() for p in truth.rglob("*.nii.gz")}
    assert hidden == {latents[pid]["true_pet"] for pid in without_pet}
    for r in rows:
        assert latents[r["participant_id"]]["has_pet"] == ("1" if r["pet"] else "0")
        assert 0.0 <= float(latents[r["participant_id"]]["severity"]) <= 1.0


def test_headers_int16_spacing_orientation(phantom_cohort):
    root = phantom_cohort.parent
    rows = _rows(phantom_cohort)
    truth = root / PHANTOM["truth_dir"]
    true_pet = {r["participant_id"]: r["true_pet"] for r in _rows(truth / "latents.csv")}
    codes = set()
    for r in rows:
        site = SITES[r["site"]]
        t1 = nib.load(root / r["t1w"])
        assert t1.get_data_dtype() == np.int16
        assert t1.dataobj.slope != 1.0 and t1.dataobj.inter == 0.0
        assert int(t1.header["qform_code"]) == int(t1.header["sform_code"]) == 1
        np.testing.assert_allclose(t1.header.get_zooms(), site["t1_spacing_mm"], rtol=1e-6)
        assert "".join(nib.aff2axcodes(t1.affine)) == site["t1_orientation"]
        codes.add("".join(nib.aff2axcodes(t1.affine)))
        stored = t1.dataobj.get_unscaled()
        assert stored.min() >= 0 and stored.max() > 20000  # the int16 range is used
        pet = nib.load(root / r["pet"] if r["pet"] else truth / true_pet[r["participant_id"]])
        assert pet.get_data_dtype() == np.int16 and pet.dataobj.slope != 1.0
        np.testing.assert_allclose(pet.header.get_zooms(), PHANTOM["pet"]["spacing_mm"])
        assert "".join(nib.aff2axcodes(pet.affine)) == site["pet_orientation"]
        assert np.prod(t1.header.get_zooms()) < np.prod(pet.header.get_zooms())  # PET grid is coarser
    print("T1 orientation codes in the cohort:", sorted(codes))
    assert len(codes) >= 2


def test_check_mode_rebuilds_identical_bytes(phantom_cohort, tmp_path):
    """Without --n-subjects an existing manifest is checked and its files re-made: same bytes, also when two
    worker processes write them (the fixture used one)."""
    copy = tmp_path / "data_manifest.csv"
    shutil.copy(phantom_cohort, copy)
    assert main(["phantom", "--manifest", str(copy), "--threads", "2"]) == 0
    assert copy.read_bytes() == phantom_cohort.read_bytes()
    ours, theirs = _files(tmp_path), _files(phantom_cohort.parent)
    assert sorted(ours) == sorted(theirs)
    assert all(ours[k] == theirs[k] for k in ours)


def test_mismatching_manifest_exits_2_and_writes_nothing(phantom_cohort, tmp_path, capsys):
    rows = _rows(phantom_cohort)
    rows[2]["age"] = "50.0"
    edited = tmp_path / "edited" / "data_manifest.csv"
    edited.parent.mkdir()
    with open(edited, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    assert main(["phantom", "--manifest", str(edited)]) == 2
    err = capsys.readouterr().err
    assert "row 3 (sub-0003), column age: manifest has '50.0'" in err and "--n-subjects" in err
    assert sorted(p.name for p in edited.parent.iterdir()) == ["data_manifest.csv"]

    # the same manifest under another seed is another cohort
    other = tmp_path / "other" / "data_manifest.csv"
    other.parent.mkdir()
    shutil.copy(phantom_cohort, other)
    config = tmp_path / "seed7.yaml"
    config.write_text("seed: 7\n")
    assert main(["phantom", "--config", str(config), "--manifest", str(other)]) == 2
    assert "is not the phantom cohort" in capsys.readouterr().err
    assert sorted(p.name for p in other.parent.iterdir()) == ["data_manifest.csv"]


def test_too_few_subjects_is_an_input_error(tmp_path, capsys):
    assert main(["phantom", "--manifest", str(tmp_path / "m.csv"), "--n-subjects", "3"]) == 2
    assert "at least 4" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
