"""2D images from 3D volumes for the zoo benchmark: axial slices of NIfTI volumes (e.g. the phantom T1s).

Each volume is reoriented to the closest canonical (RAS) axes, so a site's orientation code does not
matter; its foreground (voxels above ``FOREGROUND`` x the 99.5th percentile) gives the axial range and
the in-plane square crop; ``per_volume`` slices evenly spaced over the middle of that range are resized
(area averaging) to ``size`` x ``size`` and mapped [0, p99.5] -> [-1, 1]. Each slice's label is its level
(0 = lowest of the volume's ``per_volume``): the classes of the feature classifier and of the cGAN.
Volumes are split by volume (never a slice of one volume in both): every ``TEST_EVERY``-th is test.

Paired files (``targets``): each volume has a target volume on the same voxel grid (e.g. a co-registered
second image of the same object); its slices are cut at the volume's levels and square and scaled by the
target's own p99.5, so ``images[i]`` and ``targets[i]`` show the same plane: the data of the translation
models (A = images, B = targets). Nothing here is medical: any stack of 3D volumes works.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

FOREGROUND = 0.1
LEVEL_RANGE = (0.3, 0.8)  # fraction of the foreground's axial extent the slices span (bottom to top)
TEST_EVERY = 4


def axial_slices(volume: np.ndarray, per_volume: int, size: int, spacing=(1.0, 1.0), geometry_from: np.ndarray | None = None) -> torch.Tensor:
    """(per_volume, 1, size, size) slices in [-1, 1] of a RAS-ordered (x, y, z) volume with in-plane
    voxel ``spacing`` (mm), cropped to a square in mm around the foreground. With ``geometry_from`` (a
    volume on the same grid) the levels and the square come from that volume's foreground instead, the
    intensity scale still from ``volume``'s own p99.5."""
    data = _scaled(volume)
    if geometry_from is not None and np.shape(geometry_from) != data.shape:
        raise ValueError(f"target grid {data.shape} differs from the volume's {np.shape(geometry_from)}")
    fg = (data if geometry_from is None else _scaled(geometry_from)) > FOREGROUND
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
    return img.clamp(0, 1) * 2 - 1


def _scaled(volume: np.ndarray) -> np.ndarray:
    """``volume`` / its 99.5th percentile (float32, NaN -> 0)."""
    data = np.nan_to_num(np.asarray(volume, dtype=np.float32))
    top = float(np.percentile(data, 99.5))
    if top <= 0:
        raise ValueError("volume has no positive intensities")
    return data / top


def load_volume(path: str | Path) -> tuple[np.ndarray, tuple[float, float]]:
    """(RAS-ordered data, in-plane voxel spacing in mm) of a checked NIfTI volume."""
    import nibabel as nib

    from mrisynth.io.nifti import load_nifti

    img = nib.as_closest_canonical(load_nifti(path))
    zooms = img.header.get_zooms()
    return np.asarray(img.dataobj, dtype=np.float32), (float(zooms[0]), float(zooms[1]))


def build_slices(paths: list[str | Path], per_volume: int = 12, size: int = 32, targets: list[str | Path] | None = None) -> dict[str, np.ndarray]:
    """``images`` (N, 1, size, size) float32, ``labels`` (slice level), ``volume`` (index into sorted paths);
    with ``targets`` (one per path, same voxel grid) also ``targets``: the same planes of the targets."""
    if targets is not None and len(targets) != len(paths):
        raise ValueError(f"{len(targets)} targets for {len(paths)} volumes: need one target per volume")
    pairs = sorted(zip(map(str, paths), map(str, targets) if targets is not None else [None] * len(paths)))
    if len(pairs) < TEST_EVERY:
        raise ValueError(f"need at least {TEST_EVERY} volumes for a train/test split, got {len(pairs)}")
    images, target_images, labels, volume = [], [], [], []
    for i, (path, target) in enumerate(pairs):
        try:
            data, spacing = load_volume(path)
            images.append(axial_slices(data, per_volume, size, spacing))
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        if target is not None:
            try:
                target_images.append(axial_slices(_same_grid(target, path), per_volume, size, spacing, geometry_from=data))
            except ValueError as exc:
                raise ValueError(f"{target} (target of {path}): {exc}") from None
        labels.append(np.arange(per_volume))
        volume.append(np.full(per_volume, i))
    out = {
        "images": torch.cat(images).numpy().astype(np.float32),
        "labels": np.concatenate(labels).astype(np.int64),
        "volume": np.concatenate(volume).astype(np.int64),
        "paths": np.array([p for p, _ in pairs]),
    }
    if targets is not None:
        out["targets"] = torch.cat(target_images).numpy().astype(np.float32)
        out["target_paths"] = np.array([t for _, t in pairs])
    return out


def _same_grid(target: str, path: str) -> np.ndarray:
    """The target's RAS data, checked to lie on ``path``'s voxel grid (same shape and affine)."""
    import nibabel as nib

    from mrisynth.io.nifti import load_nifti

    a, b = (nib.as_closest_canonical(load_nifti(p)) for p in (path, target))
    if a.shape[:3] != b.shape[:3] or not np.allclose(a.affine, b.affine, atol=1e-3):
        raise ValueError(f"not on the volume's voxel grid (shape {b.shape[:3]} vs {a.shape[:3]}, or affines differ)")
    return np.asarray(b.dataobj, dtype=np.float32)


def save_slices(slices: dict[str, np.ndarray], path: str | Path) -> None:
    from mrisynth.io.atomic import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **slices)


def load_slices(path: str | Path, split: str = "train", size: int | None = None, part: str = "images") -> tuple[torch.Tensor, torch.Tensor]:
    """(images, labels) of the ``train``, ``test`` or ``all`` split of a slices file, optionally resized;
    ``part="targets"``: the target images of a paired file instead."""
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be train, test or all, got {split!r}")
    if part not in ("images", "targets"):
        raise ValueError(f"part must be images or targets, got {part!r}")
    with np.load(path) as data:
        if part not in data:
            raise ValueError(f"{path} has no target images: write a paired file with `mrisynth zoo slices --targets`")
        x, y, vol = (torch.from_numpy(data[k]) for k in (part, "labels", "volume"))
    if split != "all":
        test = vol % TEST_EVERY == TEST_EVERY - 1
        keep = test if split == "test" else ~test
        x, y = x[keep], y[keep]
    if size is not None and size != x.shape[-1]:
        x = F.interpolate(x, size=(size, size), mode="area" if size < x.shape[-1] else "bilinear", align_corners=None)
    return x.float(), y


def load_pairs(path: str | Path, split: str = "train", size: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(images, targets, labels) of one split of a paired slices file: the (A, B) pairs of the translations."""
    b, y = load_slices(path, split, size, "targets")
    return load_slices(path, split, size)[0], b, y
