"""Manifest validation: each bad input is reported with its row, column, file and problem."""

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from mrisynth.cli import main
from mrisynth.errors import InputError
from mrisynth.io.manifest import COLUMNS, read_manifest, write_manifest
from mrisynth.io.nifti import save_nifti

COLS = COLUMNS


def set_cell(lines: list[str], row: int, column: str, value: str) -> None:
    cells = lines[row].split(",")
    cells[COLS.index(column)] = value
    lines[row] = ",".join(cells)


def put_image(root: Path, name: str, data: np.ndarray, affine=np.diag([1.5, 1.5, 2.0, 1.0])) -> str:
    save_nifti(data, affine, root / name)
    return name


def noise(shape):
    return np.random.default_rng(7).normal(size=shape).astype(np.float32)


def missing_file(root, lines):
    set_cell(lines, 2, "t1w", "raw/absent_T1w.nii.gz")


def missing_pet_file(root, lines):
    set_cell(lines, 3, "pet", "raw/absent_pet.nii.gz")


def unknown_diagnosis(root, lines):
    set_cell(lines, 2, "diagnosis", "MCI")


def unknown_sex(root, lines):
    set_cell(lines, 4, "sex", "female")


def age_not_number(root, lines):
    set_cell(lines, 1, "age", "seventy")


def age_not_finite(root, lines):
    set_cell(lines, 1, "age", "nan")


def age_out_of_range(root, lines):
    set_cell(lines, 5, "age", "-3")


def empty_required_cell(root, lines):
    set_cell(lines, 3, "site", "")


def duplicate_subject_session(root, lines):
    set_cell(lines, 4, "participant_id", "01")  # "01" and "sub-01" name the same BIDS subject


def bad_participant_label(root, lines):
    set_cell(lines, 2, "participant_id", "002_S_0295")


def wrong_extension(root, lines):
    set_cell(lines, 2, "t1w", "raw/sub-02_T1w.img")


def not_nifti_content(root, lines):
    (root / "raw/garbage.nii.gz").write_bytes(gzip.compress(b"this is not a NIfTI header" * 20))
    set_cell(lines, 2, "t1w", "raw/garbage.nii.gz")


def truncated_gzip(root, lines):
    data = (root / "raw/sub-02_T1w.nii.gz").read_bytes()
    (root / "raw/cut.nii.gz").write_bytes(data[: len(data) // 2])
    set_cell(lines, 2, "t1w", "raw/cut.nii.gz")


def four_volumes(root, lines):
    set_cell(lines, 2, "t1w", put_image(root, "raw/4d.nii.gz", noise((8, 8, 8, 3))))


def two_dimensional(root, lines):
    set_cell(lines, 2, "t1w", put_image(root, "raw/2d.nii.gz", noise((8, 8))))


def non_finite_voxels(root, lines):
    data = noise((8, 8, 8))
    data[1, 2, 3], data[4, 4, 4] = np.nan, np.inf
    set_cell(lines, 2, "t1w", put_image(root, "raw/nan.nii.gz", data))


def degenerate_affine(root, lines):
    # nibabel cannot build a qform from a singular affine: write the sform rows into the header directly
    header = nib.Nifti1Header()
    header["sform_code"] = 2
    header["srow_x"], header["srow_y"], header["srow_z"] = [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]
    nib.save(nib.Nifti1Image(noise((8, 8, 8)), None, header), root / "raw/flat.nii.gz")
    set_cell(lines, 2, "t1w", "raw/flat.nii.gz")


def tiny_voxels(root, lines):
    set_cell(lines, 2, "t1w", put_image(root, "raw/tiny.nii.gz", noise((8, 8, 8)), np.diag([0.1, 0.1, 0.1, 1.0])))


def huge_voxels(root, lines):
    set_cell(lines, 3, "pet", put_image(root, "raw/huge.nii.gz", noise((8, 8, 8)), np.diag([2.0, 2.0, 20.0, 1.0])))


def constant_image(root, lines):
    set_cell(lines, 2, "t1w", put_image(root, "raw/blank.nii.gz", np.zeros((8, 8, 8), np.float32)))


def directory_as_file(root, lines):
    (root / "raw/folder.nii").mkdir()
    set_cell(lines, 2, "t1w", "raw/folder.nii")


def same_file_twice(root, lines):
    set_cell(lines, 4, "t1w", "raw/sub-01_T1w.nii.gz")


def pet_same_as_t1(root, lines):
    set_cell(lines, 3, "pet", "raw/sub-03_T1w.nii.gz")


def wrong_field_count(root, lines):
    lines[2] += ",extra"


CASES = [
    (missing_file, ["row 2 (line 3), column t1w, file ", "absent_T1w.nii.gz: file does not exist"]),
    (missing_pet_file, ["row 3 (line 4), column pet, file ", "absent_pet.nii.gz: file does not exist"]),
    (unknown_diagnosis, ["row 2 (line 3), column diagnosis: 'MCI' is not one of"]),
    (unknown_sex, ["row 4 (line 5), column sex: 'female' is not one of ['F', 'M']"]),
    (age_not_number, ["row 1 (line 2), column age: 'seventy' is not of type 'number'"]),
    (age_not_finite, ["row 1 (line 2), column age: 'nan' is not of type 'number'"]),
    (age_out_of_range, ["row 5 (line 6), column age: -3.0 is less than the minimum of 0"]),
    (empty_required_cell, ["row 3 (line 4), column site: empty, a value is required"]),
    (duplicate_subject_session, ["row 4 (line 5), column participant_id+session_id: duplicate of row 1"]),
    (bad_participant_label, ["row 2 (line 3), column participant_id: '002_S_0295' does not match", "letters and digits"]),
    (wrong_extension, ["row 2 (line 3), column t1w: 'raw/sub-02_T1w.img' does not match"]),
    (not_nifti_content, ["row 2 (line 3), column t1w, file ", "garbage.nii.gz: not a readable NIfTI file"]),
    (truncated_gzip, ["row 2 (line 3), column t1w, file ", "cut.nii.gz: not a readable NIfTI file"]),
    (four_volumes, ["row 2 (line 3), column t1w, file ", "4d.nii.gz: 4D with 3 volumes"]),
    (two_dimensional, ["row 2 (line 3), column t1w, file ", "2d.nii.gz: 2D image of shape (8, 8), expected 3D"]),
    (non_finite_voxels, ["row 2 (line 3), column t1w, file ", "nan.nii.gz: 2 non-finite voxel value(s)"]),
    (degenerate_affine, ["row 2 (line 3), column t1w, file ", "flat.nii.gz: degenerate affine"]),
    (tiny_voxels, ["row 2 (line 3), column t1w, file ", "tiny.nii.gz: voxel size 0.1 x 0.1 x 0.1 mm outside 0.3-10"]),
    (huge_voxels, ["row 3 (line 4), column pet, file ", "huge.nii.gz: voxel size 2 x 2 x 20 mm outside"]),
    (constant_image, ["row 2 (line 3), column t1w, file ", "blank.nii.gz: all voxels have the same value (0)"]),
    (directory_as_file, ["row 2 (line 3), column t1w, file ", "folder.nii: is a directory"]),
    (same_file_twice, ["row 4 (line 5), column t1w, file ", "sub-01_T1w.nii.gz: same file as row 1 column t1w"]),
    (pet_same_as_t1, ["row 3 (line 4), column pet, file ", "sub-03_T1w.nii.gz: same file as row 3 column t1w"]),
    (wrong_field_count, ["row 2 (line 3): has 9 fields, the header has 8"]),
]


@pytest.mark.parametrize("mutate, expected", CASES, ids=[case[0].__name__ for case in CASES])
def test_bad_row_is_named_with_its_problem(tiny_cohort, mutate, expected):
    lines = tiny_cohort.read_text().splitlines()
    mutate(tiny_cohort.parent, lines)
    tiny_cohort.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as info:
        read_manifest(tiny_cohort)
    problems = info.value.problems
    assert len(problems) == 1, problems  # exactly the one planted problem, nothing spurious
    for text in expected:
        assert text in problems[0], problems[0]
    assert str(tiny_cohort) in str(info.value)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("participant_id,session_id,diagnosis,age,sex,t1w\nsub-01,bl,NC,70,F,a.nii\n",
         "header: missing required column(s): site"),
        ("participant_id,session_id,diagnosis,age,sex,site,t1w,pet\n\n", "header: empty manifest: a header but no data rows"),
        ("participant_id,session_id,diagnosis,age,age,sex,site,t1w,pet\n", "header, column age: column appears twice"),
    ],
    ids=["missing_column", "header_only", "duplicate_column"],
)
def test_bad_header(tmp_path, text, expected):
    path = tmp_path / "manifest.csv"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        read_manifest(path)
    assert any(problem.startswith(expected) for problem in info.value.problems), info.value.problems


@pytest.mark.parametrize("content, expected", [(None, "file does not exist"), ("", "empty manifest"),
                                               (b"\xff\xfe\x00bad", "not a readable UTF-8 text file")])
def test_unreadable_manifest(tmp_path, content, expected):
    path = tmp_path / "manifest.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=expected):
        read_manifest(path)


def test_every_problem_is_reported_at_once(tiny_cohort):
    lines = tiny_cohort.read_text().splitlines()
    unknown_diagnosis(tiny_cohort.parent, lines)
    missing_pet_file(tiny_cohort.parent, lines)
    unknown_sex(tiny_cohort.parent, lines)
    age_out_of_range(tiny_cohort.parent, lines)
    tiny_cohort.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as info:
        read_manifest(tiny_cohort)
    assert [p.split(":")[0].split(",")[0] for p in info.value.problems] == [
        "row 2 (line 3)", "row 3 (line 4)", "row 4 (line 5)", "row 5 (line 6)"]


def test_valid_manifest_is_normalised(tiny_cohort):
    root = tiny_cohort.parent
    lines = tiny_cohort.read_text().splitlines()
    lines[0] += ",mmse"  # extra columns are kept
    for i in range(1, len(lines)):
        lines[i] += f",{27 + i}"
    # absolute paths work too, and a 4D file with a single volume is accepted
    set_cell(lines, 2, "t1w", str(root / put_image(root, "raw/single.nii", noise((8, 8, 8, 1)))))
    tiny_cohort.write_text("\r\n".join(lines) + "\r\n")
    table = read_manifest(tiny_cohort)
    assert list(table.columns) == [*COLUMNS, "mmse"]
    assert table["participant_id"].tolist() == ["sub-01", "sub-02", "sub-03", "sub-04", "sub-05"]
    assert table["age"].tolist() == [70.0, 72.5, 75.0, 78.0, 80.0]
    assert table["age"].dtype == float
    assert table.loc[0, "t1w"] == str(root / "raw/sub-01_T1w.nii.gz")
    assert table.loc[1, "t1w"] == str(root / "raw/single.nii")
    assert table["pet"].tolist() == [str(root / "raw/sub-01_pet.nii.gz"), "", str(root / "raw/sub-03_pet.nii.gz"),
                                     "", str(root / "raw/sub-05_pet.nii.gz")]
    assert table["mmse"].tolist() == ["28", "29", "30", "31", "32"]


def test_written_table_reads_back_identically(tiny_cohort, tmp_path):
    table = read_manifest(tiny_cohort)
    out = write_manifest(table, tmp_path / "out" / "manifest.csv")
    assert out.read_text().splitlines()[2].startswith("sub-02,bl,sMCI,72.5,M,A,/")
    pd.testing.assert_frame_equal(read_manifest(out, check_files=False), table)


def test_pet_column_may_be_absent(tiny_cohort):
    table = pd.read_csv(tiny_cohort, dtype=str).drop(columns="pet")
    table.to_csv(tiny_cohort, index=False)
    assert read_manifest(tiny_cohort)["pet"].tolist() == [""] * 5


def test_cli_valid_writes_table(tiny_cohort, tmp_path, capsys):
    out = tmp_path / "results" / "manifest.csv"
    assert main(["validate", "--manifest", str(tiny_cohort), "--out", str(out)]) == 0
    assert "OK, 5 rows (NC 1, sMCI 1, pMCI 1, AD 2; 3 with PET)" in capsys.readouterr().out
    assert len(read_manifest(out)) == 5


def test_cli_invalid_exits_2_and_writes_nothing(tiny_cohort, tmp_path, capsys):
    lines = tiny_cohort.read_text().splitlines()
    unknown_diagnosis(tiny_cohort.parent, lines)
    constant_image(tiny_cohort.parent, lines)
    tiny_cohort.write_text("\n".join(lines) + "\n")
    out = tmp_path / "results" / "manifest.csv"
    assert main(["validate", "--manifest", str(tiny_cohort), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "row 2 (line 3), column diagnosis: 'MCI' is not one of" in err
    assert "all voxels have the same value" in err
    assert not out.parent.exists() or not any(out.parent.iterdir())
