"""The 2D phantom-slice dataset of the zoo benchmark (zoo_bench.slices) and the two-dataset benchmark commands."""

import csv

import nibabel as nib
import numpy as np
import pytest

from mrisynth.cli import main
from mrisynth.zoo_bench.slices import TEST_EVERY, axial_slices, build_slices, load_slices


def _ball(shape, spacing, radius_mm=30.0, value=100.0):
    """A ball of ``radius_mm`` with a bright top half (z > centre), in a RAS grid of ``spacing`` mm."""
    idx = np.indices(shape).astype(float)
    centre = (np.array(shape) - 1) / 2
    mm = (idx - centre[:, None, None, None]) * np.array(spacing)[:, None, None, None]
    inside = (mm**2).sum(0) < radius_mm**2
    return (inside * value * np.where(mm[2] > 0, 2.0, 1.0)).astype(np.float32)


def test_axial_slices_are_square_in_mm_and_ordered_bottom_to_top():
    iso = axial_slices(_ball((40, 40, 40), (2, 2, 2)), 5, 16, spacing=(2, 2))
    aniso = axial_slices(_ball((60, 30, 40), (1, 2, 2)), 5, 16, spacing=(1, 2))  # same ball, 1 mm x 2 mm voxels
    assert iso.shape == (5, 1, 16, 16) and iso.min() >= -1 and iso.max() <= 1
    # the cropped square is in mm, so both give (nearly) the same round disc, not an ellipse
    assert (aniso - iso).abs().mean() < 0.05
    for disc in (iso[2, 0] > -0.5, aniso[2, 0] > -0.5):
        assert abs(int(disc.any(0).sum()) - int(disc.any(1).sum())) <= 1 and disc.any(0).sum() >= 14
    # levels go bottom -> top: the top half is twice as bright, so the last slice is the brightest
    assert iso[-1].max() > iso[0].max() + 0.5


def test_build_slices_split_by_volume(tmp_path):
    paths = []
    for i in range(8):
        data = _ball((24, 24, 24), (3, 3, 3), radius_mm=20 + i)
        paths.append(tmp_path / f"v{i}.nii.gz")
        nib.save(nib.Nifti1Image(data, np.diag([3.0, 3.0, 3.0, 1.0])), paths[-1])
    s = build_slices(paths, per_volume=4, size=8)
    assert s["images"].shape == (32, 1, 8, 8) and s["images"].dtype == np.float32
    assert list(s["labels"][:4]) == [0, 1, 2, 3] and set(s["volume"]) == set(range(8))
    np.savez(tmp_path / "s.npz", **s)
    train, ytr = load_slices(tmp_path / "s.npz", "train")
    test, _ = load_slices(tmp_path / "s.npz", "test", size=16)
    assert len(train) == 24 and len(test) == 8 and test.shape[-1] == 16 and int(ytr.max()) == 3
    assert 8 // TEST_EVERY == 2  # volumes 3 and 7 are the test split: no volume in both
    with pytest.raises(ValueError, match="at least"):
        build_slices(paths[:2], per_volume=4, size=8)


def test_two_dataset_benchmark_cli(tmp_path, capsys):
    """slices -> classifier -> train (phantom: cGAN with slice-level classes; digits: GAN) -> one table."""
    vols = []
    for i in range(4):
        data = _ball((20, 20, 20), (3, 3, 3), radius_mm=18 + 2 * i)
        vols.append(str(tmp_path / f"sub{i}.nii.gz"))
        nib.save(nib.Nifti1Image(data, np.diag([3.0, 3.0, 3.0, 1.0])), vols[-1])
    cfg = tmp_path / "c.yaml"
    cfg.write_text("zoo:\n  classifier_epochs: 1\n  batch_size: 8\n  phantom_image_size: 16\n  phantom_slices_per_volume: 8\n  n_samples: 20\n")
    slices, out = tmp_path / "slices.npz", tmp_path / "out"
    assert main(["zoo", "slices", "--volumes", *vols, "--out", str(slices), "--config", str(cfg)]) == 0
    assert main(["zoo", "classifier", "--data", "phantom", "--slices", str(slices), "--out", str(out / "p.pt"), "--config", str(cfg)]) == 0
    assert main(["zoo", "classifier", "--out", str(out / "d.pt"), "--config", str(cfg)]) == 0
    small = ["--set", "ngf=4", "--set", "ndf=4", "--set", "latent_dim=4", "--no-progress", "--config", str(cfg)]
    assert main(["zoo", "train", "--model", "cgan", "--data", "phantom", "--slices", str(slices), "--out", str(out / "pc"), "--steps", "2", *small]) == 0
    assert main(["zoo", "train", "--model", "gan", "--out", str(out / "dg"), "--steps", "2", *small]) == 0
    table = out / "t.csv"
    args = ["zoo", "evaluate", "--runs", str(out / "pc"), str(out / "dg"), "--table", str(table), "--config", str(cfg)]
    assert main([*args, "--classifier", str(out / "d.pt")]) == 2  # no classifier for the phantom run
    assert "no classifier" in capsys.readouterr().err and not table.exists()
    assert main([*args, "--classifier", f"phantom={out / 'p.pt'}", f"digits={out / 'd.pt'}"]) == 0
    rows = list(csv.DictReader(open(table)))
    assert [(r["data"], r["model"]) for r in rows] == [  # no translation runs: no input (A) rows
        ("phantom", "real (train split)"),
        ("phantom", "cgan"),
        ("digits", "real (train split)"),
        ("digits", "gan"),
    ]
    assert all(float(r["fid"]) >= 0 for r in rows) and float(rows[1]["cpu_s"]) > 0
    # the phantom cGAN is conditioned on the 8 slice levels
    assert '"n_classes": 8' in (out / "pc" / "run.json").read_text()
    assert main(["zoo", "train", "--model", "gan", "--data", "phantom", "--out", str(out / "x"), "--steps", "1", *small]) == 2
