"""Paired phantom slices (zoo_bench.slices with targets) and the phantom translation benchmark: Pix2Pix / CycleGAN
map the slice of one volume (A) to the same plane of its target volume (B), scored in B's own feature space."""

import csv

import nibabel as nib
import numpy as np
import pytest
import torch

from mrisynth.cli import main
from mrisynth.metrics.image import psnr
from mrisynth.zoo_bench.tables import dataset_for, pairs
from mrisynth.zoo_bench.datasets import digits, low_resolution
from mrisynth.zoo_bench.slices import build_slices, load_pairs

AFFINE = np.diag([3.0, 3.0, 3.0, 1.0])


def _pair(tmp_path, i, shape=(20, 20, 20), radius_mm=18.0):
    """A ball (bright top half) and its target on the same grid: the same ball with a bright BOTTOM half
    and a smaller bright core, so A -> B is a real translation, not the identity."""
    idx = np.indices(shape).astype(float)
    mm = (idx - ((np.array(shape) - 1) / 2)[:, None, None, None]) * 3.0
    r2 = (mm**2).sum(0)
    inside = r2 < radius_mm**2
    source = inside * np.where(mm[2] > 0, 200.0, 100.0)
    target = inside * np.where(mm[2] > 0, 1.0, 2.0) + (r2 < (radius_mm / 2) ** 2) * 2.0
    paths = tmp_path / f"a{i}.nii.gz", tmp_path / f"b{i}.nii.gz"
    for path, data in zip(paths, (source, target)):
        nib.save(nib.Nifti1Image(data.astype(np.float32), AFFINE), path)
    return [str(p) for p in paths]


def test_targets_are_cut_at_the_volumes_planes(tmp_path):
    vols, targets = zip(*[_pair(tmp_path, i, radius_mm=18.0 + 2 * i) for i in range(4)])
    # given in another order: each target stays with its own volume
    s = build_slices(list(vols[::-1]), per_volume=4, size=8, targets=list(targets[::-1]))
    assert s["targets"].shape == s["images"].shape == (16, 1, 8, 8)
    assert [p[-9:] for p in s["paths"]] == [f"a{i}.nii.gz" for i in range(4)]
    assert [p[-9:] for p in s["target_paths"]] == [f"b{i}.nii.gz" for i in range(4)]
    # same plane, same square: the object covers the same pixels in A and B (same ball)
    assert np.array_equal(s["images"] > -0.99, s["targets"] > -0.99)
    # A's top half is bright, B's bottom half: the lowest slice is darker than the highest in A, not in B
    a, b = s["images"][:4, 0], s["targets"][:4, 0]
    assert a[-1].max() > a[0].max() + 0.5 and b[0].max() > b[-1].max() + 0.2
    np.savez(tmp_path / "p.npz", **s)
    a_train, b_train, y = load_pairs(tmp_path / "p.npz", "train")
    assert a_train.shape == b_train.shape == (12, 1, 8, 8) and list(y[:4]) == [0, 1, 2, 3]
    # the translation models train on (A, B) = (images, targets); CycleGAN's halves are disjoint
    paired = dataset_for("pix2pix", 8, "train", "phantom", tmp_path / "p.npz")
    assert torch.equal(paired.tensors[0], a_train) and torch.equal(paired.tensors[1], b_train)
    unpaired = dataset_for("cyclegan", 8, "train", "phantom", tmp_path / "p.npz")
    assert len(unpaired) == 6 and not torch.equal(unpaired.tensors[1], b_train[:6])


def test_target_on_another_grid_or_count_is_refused(tmp_path):
    vols, targets = map(list, zip(*[_pair(tmp_path, i) for i in range(4)]))
    other = np.random.default_rng(0).random((20, 20, 20)).astype(np.float32)
    nib.save(nib.Nifti1Image(other, np.diag([2.0, 3.0, 3.0, 1.0])), targets[2])
    with pytest.raises(ValueError, match="b2.nii.gz.*voxel grid"):
        build_slices(vols, per_volume=4, size=8, targets=targets)
    with pytest.raises(ValueError, match="one target per volume"):
        build_slices(vols, per_volume=4, size=8, targets=targets[:3])


def test_digits_translation_pairs_are_low_res_to_digit():
    """The digits task is unchanged by the paired-file path: A = the 4x low-resolution digit, B = the digit."""
    a, b, y = pairs("digits", 16, "test")
    x, labels = digits(16, "test")
    assert a.shape == (450, 1, 16, 16) and torch.equal(b, x) and torch.equal(y, labels)
    assert torch.equal(a, low_resolution(x)) and not torch.equal(a, x)


def test_phantom_translation_benchmark_cli(tmp_path, capsys):
    """paired slices -> target classifier -> Pix2Pix + CycleGAN on the phantom -> rows in the target space."""
    vols, targets = zip(*[_pair(tmp_path, i, radius_mm=18.0 + 2 * i) for i in range(4)])
    cfg = tmp_path / "c.yaml"
    cfg.write_text("zoo:\n  classifier_epochs: 1\n  batch_size: 4\n  phantom_image_size: 16\n  phantom_slices_per_volume: 4\n")
    paired, plain, out = tmp_path / "pairs.npz", tmp_path / "slices.npz", tmp_path / "out"
    c = ["--config", str(cfg)]
    assert main(["zoo", "slices", "--volumes", *vols, "--targets", *targets, "--out", str(paired), *c]) == 0
    assert main(["zoo", "slices", "--volumes", *vols, "--out", str(plain), *c]) == 0
    clf = ["zoo", "classifier", "--data", "phantom", "--targets", "--out", str(out / "t.pt"), *c]
    assert main([*clf, "--slices", str(plain)]) == 2  # no targets in that file
    assert "no target images" in capsys.readouterr().err
    assert main([*clf, "--slices", str(paired)]) == 0
    small = ["--set", "ngf=4", "--set", "ndf=4", "--steps", "2", "--no-progress", *c]
    train = ["zoo", "train", "--data", "phantom"]
    assert main([*train, "--model", "pix2pix", "--slices", str(plain), "--out", str(out / "x"), *small]) == 2
    assert not (out / "x").exists()
    for model in ("pix2pix", "cyclegan"):
        assert main([*train, "--model", model, "--slices", str(paired), "--out", str(out / model), *small]) == 0
    table = out / "t.csv"
    args = ["zoo", "evaluate", "--runs", str(out / "pix2pix"), str(out / "cyclegan"), "--table", str(table), *c]
    assert main([*args, "--classifier", f"phantom={out / 't.pt'}"]) == 2  # the translations need phantom-target
    assert "phantom-target" in capsys.readouterr().err
    assert main([*args, "--classifier", f"phantom-target={out / 't.pt'}"]) == 0
    rows = list(csv.DictReader(open(table)))
    assert [(r["data"], r["model"]) for r in rows] == [
        ("phantom-target", "real (train split)"),
        ("phantom-target", "input (A)"),
        ("phantom-target", "pix2pix"),
        ("phantom-target", "cyclegan"),
    ]
    # the input row compares each test A with its own B: its PSNR is that of the raw pairs
    a, b, _ = load_pairs(paired, "test")
    assert float(rows[1]["psnr"]) == pytest.approx(psnr(a[:, 0], b[:, 0], data_range=2.0), rel=1e-4)
    for r in rows[1:]:
        assert -1 <= float(r["ssim"]) <= 1 and float(r["mae"]) > 0 and float(r["fid"]) >= 0
    assert rows[0]["ssim"] == ""  # unpaired reference: no paired metrics


def test_kid_spread_on_a_small_test_set():
    """With fewer test images than the KID subset size every subset was the whole set (kid_std 0)."""
    from mrisynth.zoo_bench.tables import score
    from mrisynth.zoo_bench.features import DigitsClassifier

    torch.manual_seed(0)
    clf = DigitsClassifier(size=8, width=4, n_features=8, n_classes=4).eval()
    real, fake = torch.rand(40, 1, 8, 8) * 2 - 1, torch.rand(40, 1, 8, 8) * 2 - 1
    assert score(clf, fake, real, kid_subset=200)["kid_std"] > 0
