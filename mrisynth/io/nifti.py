"""NIfTI read/write with the checks every stage relies on.

``check_nifti`` lists what is wrong with a file (the manifest validator collects these for all files at
once); ``load_nifti`` raises ``InputError`` naming the file and the problem; ``save_nifti`` writes
atomically and, for ``.nii.gz``, with a deterministic gzip stream (no timestamp, no file name), so that
identical images give identical bytes.
"""

from __future__ import annotations

import gzip
import os
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np

from mrisynth.errors import InputError
from mrisynth.io.atomic import atomic_path

NIFTI_SUFFIXES = (".nii", ".nii.gz")
VOXEL_SIZE_RANGE_MM = (0.3, 10.0)


def is_nifti_name(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def voxel_sizes(affine: np.ndarray) -> np.ndarray:
    """Voxel edge lengths in mm from the affine (column norms; the header's pixdim can disagree)."""
    return np.sqrt((np.asarray(affine, dtype=float)[:3, :3] ** 2).sum(axis=0))


def _affine_problems(affine: np.ndarray) -> list[str]:
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        return ["degenerate affine: not a finite 4x4 matrix"]
    if not np.allclose(affine[3], [0, 0, 0, 1]):
        return [f"degenerate affine: last row is {affine[3].tolist()}, expected [0, 0, 0, 1]"]
    sizes = voxel_sizes(affine)
    # scale-free singularity test: |det| relative to the product of the column lengths
    if np.any(sizes == 0) or abs(np.linalg.det(affine[:3, :3])) < 1e-6 * np.prod(sizes):
        return ["degenerate affine: the 3x3 part is singular (collapsed or zero axes)"]
    low, high = VOXEL_SIZE_RANGE_MM
    if np.any(sizes < low) or np.any(sizes > high):
        pretty = " x ".join(f"{s:.3g}" for s in sizes)
        return [f"voxel size {pretty} mm outside {low:g}-{high:g} mm (wrong units or a broken header?)"]
    return []


def _read(path: Path) -> tuple[nib.Nifti1Image | None, np.ndarray | None, list[str]]:
    """Load and check; returns (image, 3D float32 data, problems). Image/data are None when unreadable."""
    if not path.exists():
        return None, None, ["file does not exist"]
    if path.is_dir():
        return None, None, ["is a directory, expected a NIfTI file"]
    if not is_nifti_name(path):
        return None, None, [f"not a NIfTI file name (expected {' or '.join(NIFTI_SUFFIXES)})"]
    try:
        img = nib.load(path)
        if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
            return None, None, [f"not a NIfTI image ({type(img).__name__})"]
        shape = img.shape
        if len(shape) == 4 and shape[3] != 1:
            return None, None, [f"4D with {shape[3]} volumes, expected a single 3D volume"]
        if len(shape) not in (3, 4):
            return None, None, [f"{len(shape)}D image of shape {shape}, expected 3D"]
        data = np.asarray(img.dataobj, dtype=np.float32).reshape(shape[:3])
    except Exception as exc:  # nibabel, gzip and zlib raise many types for corrupt files
        return None, None, [f"not a readable NIfTI file ({type(exc).__name__}: {exc})"]
    problems = _affine_problems(np.asarray(img.affine, dtype=float))
    bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
    if bad:
        problems.append(f"{bad} non-finite voxel value(s) (NaN or inf)")
    elif data.size == 0:
        problems.append(f"no voxels (shape {shape})")
    elif float(data.min()) == float(data.max()):
        problems.append(f"all voxels have the same value ({float(data.flat[0]):g}): blank image")
    return img, data, problems


def _read_quietly(path: Path) -> tuple[nib.Nifti1Image | None, np.ndarray | None, list[str]]:
    # broken headers make nibabel and numpy warn on the way to the problem that is reported anyway
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return _read(path)


def check_nifti(path: str | os.PathLike) -> list[str]:
    """Problems with the NIfTI file at ``path`` (empty list when it passes every check)."""
    return _read_quietly(Path(path))[2]


def load_nifti(path: str | os.PathLike) -> nib.Nifti1Image:
    """Load a checked 3D NIfTI as a float32 image (a single-volume 4D file is squeezed to 3D).

    Raises ``InputError`` naming the file and every problem found.
    """
    path = Path(path)
    img, data, problems = _read_quietly(path)
    if problems:
        raise InputError(f"{path}: {'; '.join(problems)}")
    header = img.header.copy() if isinstance(img, nib.Nifti1Image) else None
    out = nib.Nifti1Image(data, img.affine, header)
    out.set_data_dtype(np.float32)
    return out


def load_array(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(float32 data, affine) of a checked NIfTI (:func:`load_nifti`)."""
    img = load_nifti(path)
    return np.asarray(img.dataobj, dtype=np.float32), np.asarray(img.affine)


def save_nifti(
    img_or_array: nib.Nifti1Image | np.ndarray,
    affine: np.ndarray | None,
    path: str | os.PathLike,
    *,
    dtype: np.dtype | type | None = None,
) -> Path:
    """Write an image (or an array with ``affine``) to ``path`` atomically; ``.nii.gz`` deterministically.

    For an image, ``affine=None`` keeps its own affine and header. Arrays get qform and sform code
    'scanner' so that nibabel and SimpleITK agree on the geometry. ``dtype`` sets the on-disk type.
    """
    path = Path(path)
    if not is_nifti_name(path):
        raise ValueError(f"{path}: output name must end in .nii or .nii.gz")
    if isinstance(img_or_array, nib.spatialimages.SpatialImage):
        src = img_or_array
        img = nib.Nifti1Image(np.asanyarray(src.dataobj), src.affine if affine is None else affine, src.header)
    else:
        if affine is None:
            raise ValueError("save_nifti: an array needs an affine")
        img = nib.Nifti1Image(np.asarray(img_or_array), np.asarray(affine, dtype=float))
        img.set_qform(img.affine, code="scanner")
        img.set_sform(img.affine, code="scanner")
    if dtype is not None:
        img.set_data_dtype(dtype)
    payload = img.to_bytes()
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            if path.name.lower().endswith(".gz"):
                # mtime=0 and an empty name: identical images give identical bytes (GzipFile's defaults don't)
                with gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0, compresslevel=6) as gz:
                    gz.write(payload)
            else:
                fh.write(payload)
    return path
