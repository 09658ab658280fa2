"""2D images from 3D volumes for the zoo benchmark: axial slices of NIfTI volumes (e.g. the phantom T1s).

Each volume is reoriented to the closest canonical (RAS) axes, so a site's orientation code does not
matter; its foreground (voxels above ``FOREGROUND`` x the 99.5th percentile) gives the axial range and
the in-plane square crop; ``per_volume`` slices evenly spaced over the middle of that range are resized
(area averaging) to ``size`` x ``size`` and mapped [0, p99.5] -> [-1, 1]. Each slice's label is its level
(0 = lowest of the volume's ``per_volume``): the classes of the feature classifier and of the cGAN.
Volumes are split by volume (never a slice of one volume in both): every ``TEST_EVERY``-th is test.
Nothing here is medical: any stack of 3D volumes works.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

FOREGROUND = 0.1
LEVEL_RANGE = (0.3, 0.8)  # fraction of the foreground's axial extent the slices span (bottom to top)
TEST_EVERY = 4


def axial_slices(volume: np.ndarray, per_volume: int, size: int, spacing=(1.0, 1.0)) -> torch.Tensor:
    """(per_volume, 1, size, size) slices in [-1, 1] of a RAS-ordered (x, y, z) volume with in-plane
    voxel ``spacing`` (mm), cropped to a square in mm around the foreground."""
    data = np.nan_to_num(np.asarray(volume, dtype=np.float32))
    top = float(np.percentile(data, 99.5))
    if top <= 0:
        raise ValueError("volume has no positive intensities")
    fg = data > FOREGROUND * top
    xs, ys, zs = (np.flatnonzero(fg.any(axis=tuple(a for a in range(3) if a != k))) for k in range(3))
    lo, hi = zs[0] + LEVEL_RANGE[0] * (zs[-1] - zs[0]), zs[0] + LEVEL_RANGE[1] * (zs[-1] - zs[0])
    levels = np.round(np.linspace(lo, hi, per_volume)).astype(int)
    half_mm = max((xs[-1] - xs[0] + 2) * spacing[0], (ys[-1] - ys[0] + 2) * spacing[1]) / 2
    crop = []
    for axis, idx, step in ((0, xs, spacing[0]), (1, ys, spacing[1])):
        centre, half = (idx[0] + idx[-1]) / 2, half_mm / step
        crop.append((int(round(centre - half)), int(round(centre + half))))
    pad = max(0, -min(c[0] for c in crop), max(c[1] - data.shape[a] for a, c in enumerate(crop)))
    padded = np.pad(data[:, :, levels], ((pad, pad), (pad, pad), (0, 0)))
    square = padded[crop[0][0] + pad : crop[0][1] + pad, crop[1][0] + pad : crop[1][1] + pad]  # (X, Y, n)
    # (n, 1, H, W): rows = y reversed (anterior at the top), columns = x
    img = torch.from_numpy(np.ascontiguousarray(square.transpose(2, 1, 0)[:, ::-1])).unsqueeze(1)
    img = F.interpolate(img, size=(size, size), mode="area")
    return (img / top).clamp(0, 1) * 2 - 1


def load_volume(path: str | Path) -> tuple[np.ndarray, tuple[float, float]]:
    """(RAS-ordered data, in-plane voxel spacing in mm) of a checked NIfTI volume."""
    import nibabel as nib

    from mrisynth.io.nifti import load_nifti

    img = nib.as_closest_canonical(load_nifti(path))
    zooms = img.header.get_zooms()
    return np.asarray(img.dataobj, dtype=np.float32), (float(zooms[0]), float(zooms[1]))


def build_slices(paths: list[str | Path], per_volume: int = 12, size: int = 32) -> dict[str, np.ndarray]:
    """``images`` (N, 1, size, size) float32, ``labels`` (slice level), ``volume`` (index into sorted paths)."""
    paths = sorted(str(p) for p in paths)
    if len(paths) < TEST_EVERY:
        raise ValueError(f"need at least {TEST_EVERY} volumes for a train/test split, got {len(paths)}")
    images, labels, volume = [], [], []
    for i, path in enumerate(paths):
        try:
            data, spacing = load_volume(path)
            images.append(axial_slices(data, per_volume, size, spacing))
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        labels.append(np.arange(per_volume))
        volume.append(np.full(per_volume, i))
    return {
        "images": torch.cat(images).numpy().astype(np.float32),
        "labels": np.concatenate(labels).astype(np.int64),
        "volume": np.concatenate(volume).astype(np.int64),
        "paths": np.array(paths),
    }


def save_slices(slices: dict[str, np.ndarray], path: str | Path) -> None:
    from mrisynth.io.atomic import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **slices)


def load_slices(path: str | Path, split: str = "train", size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, labels) of the ``train``, ``test`` or ``all`` split of a slices file, optionally resized."""
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be train, test or all, got {split!r}")
    with np.load(path) as data:
        x, y, vol = (torch.from_numpy(data[k]) for k in ("images", "labels", "volume"))
    if split != "all":
        test = vol % TEST_EVERY == TEST_EVERY - 1
        keep = test if split == "test" else ~test
        x, y = x[keep], y[keep]
    if size is not None and size != x.shape[-1]:
        x = F.interpolate(x, size=(size, size), mode="area" if size < x.shape[-1] else "bilinear", align_corners=None)
    return x.float(), y
