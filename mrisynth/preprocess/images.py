"""Reading scanner volumes with validation, NIfTI <-> SimpleITK, and the fixed template output grid.

NIfTI affines map voxels to RAS millimetres, ITK images live in LPS millimetres; the conversion flips the
first two axes once, here, so every transform in this package is an ordinary ITK transform in LPS.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk

from mrisynth import anatomy
from mrisynth.errors import InputError
from mrisynth.io.nifti import load_nifti, save_nifti

_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])
_MIN_VOXELS = 8  # per axis; anything smaller is not a brain volume


def read_volume(path: str | Path, role: str) -> sitk.Image:
    """Load a 3D NIfTI as a float32 SimpleITK image, or raise ``InputError`` naming the file and problem.

    Handles any orientation (reoriented to the closest RAS axes), oblique affines, anisotropic voxels and
    integer storage with scl_slope/scl_inter (nibabel applies the scaling).
    """
    path = Path(path)
    where = f"{role} {path}"
    try:
        img = nib.as_closest_canonical(load_nifti(path))
    except InputError as exc:
        raise InputError(f"{role} {exc}") from None
    data = np.asarray(img.dataobj, dtype=np.float32)
    if min(data.shape) < _MIN_VOXELS:
        raise InputError(f"{where}: volume {data.shape} has fewer than {_MIN_VOXELS} voxels along an axis")
    return nifti_to_sitk(data, img.affine, where)


def nifti_to_sitk(data: np.ndarray, affine: np.ndarray, where: str = "image") -> sitk.Image:
    """A (i, j, k)-ordered array with a RAS affine as an ITK image (LPS physical space)."""
    linear = _RAS_TO_LPS @ np.asarray(affine, float)[:3, :3]
    spacing = np.linalg.norm(linear, axis=0)
    if not np.all(spacing > 0) or not np.all(np.isfinite(affine)):
        raise InputError(f"{where}: affine is singular or not finite")
    direction = linear / spacing
    if not np.allclose(direction.T @ direction, np.eye(3), atol=1e-3):
        raise InputError(f"{where}: affine has shear, which ITK cannot represent; resample it first")
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(data, np.float32).transpose(2, 1, 0)))
    image.SetSpacing(spacing.tolist())
    image.SetDirection(direction.flatten().tolist())
    image.SetOrigin((_RAS_TO_LPS @ np.asarray(affine, float)[:3, 3]).tolist())
    return image


def sitk_to_array(image: sitk.Image) -> np.ndarray:
    """Voxel array in (i, j, k) order, the inverse of the transpose in ``nifti_to_sitk``."""
    return sitk.GetArrayFromImage(image).transpose(2, 1, 0)


@dataclass(frozen=True)
class OutputGrid:
    """The fixed template-space grid every subject is resampled to: RAS-aligned, ``resolution_mm`` voxels.

    The box is centred on the configured crop box in MNI mm and enlarged so each dimension is a multiple
    of ``multiple`` (convenient for networks that halve the size several times).
    """

    resolution_mm: float
    shape: tuple[int, int, int]
    origin_ras: tuple[float, float, float]  # centre of voxel (0, 0, 0) in MNI mm

    @classmethod
    def from_config(cls, cfg: dict) -> OutputGrid:
        res = float(cfg["resolution_mm"])
        box = np.asarray(cfg["crop_box_mm"], float)
        multiple = int(cfg["grid_multiple"])
        extent = box[:, 1] - box[:, 0]
        shape = np.ceil(np.ceil(extent / res) / multiple).astype(int) * multiple
        centre = box.mean(1)
        origin = centre - (shape - 1) / 2.0 * res
        return cls(res, tuple(int(s) for s in shape), tuple(float(o) for o in origin))

    @property
    def affine(self) -> np.ndarray:
        aff = np.diag([self.resolution_mm] * 3 + [1.0])
        aff[:3, 3] = self.origin_ras
        return aff

    def reference(self) -> sitk.Image:
        """An empty ITK image on this grid (to resample onto)."""
        return nifti_to_sitk(np.zeros(self.shape, np.float32), self.affine)

    def save(self, array: np.ndarray, path: Path, dtype=np.float32) -> None:
        """Write an array on this grid as NIfTI (atomically, deterministic gzip)."""
        save_nifti(np.asarray(array, dtype), self.affine, path, dtype=dtype)


def antialias(image: sitk.Image, spacing_mm: float) -> sitk.Image:
    """Gaussian pre-filter before resampling to ``spacing_mm`` (FWHM of the voxel growth, per axis)."""
    native = np.asarray(image.GetSpacing())
    sigma = np.sqrt(np.maximum(spacing_mm**2 - native**2, 0.0)) / 2.355
    if not np.any(sigma > 0.1 * native):
        return image
    return sitk.SmoothingRecursiveGaussian(image, np.maximum(sigma, 1e-3).tolist())


def downsample(image: sitk.Image, spacing_mm: float, smoothed: bool = False) -> sitk.Image:
    """Resample an image on its own axes to voxels no finer than ``spacing_mm``, with anti-aliasing."""
    native = np.asarray(image.GetSpacing())
    new_spacing = np.maximum(native, spacing_mm)
    if np.allclose(new_spacing, native):
        return image
    src = image if smoothed else antialias(image, spacing_mm)
    size = np.asarray(image.GetSize())
    new_size = np.maximum(np.round(size * native / new_spacing), 1).astype(int)
    # keep the physical centre of the field of view
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    centre = np.asarray(image.TransformContinuousIndexToPhysicalPoint(((size - 1) / 2.0).tolist()))
    origin = centre - direction @ ((new_size - 1) / 2.0 * new_spacing)
    return sitk.Resample(
        src, new_size.tolist(), sitk.Transform(), sitk.sitkLinear, origin.tolist(), new_spacing.tolist(),
        image.GetDirection(), 0.0, sitk.sitkFloat32,
    )


#: templates read from a file (mrisynth.preprocess.templates.load): (kind, spacing) -> image, (kind, grid) -> array
LOADED_TEMPLATES: dict = {}


def template_image(kind: str, spacing_mm: float) -> sitk.Image:
    """A nilearn MNI152 template (``t1``, ``brain_mask``, ...) on its own field of view at ``spacing_mm``."""
    loaded = LOADED_TEMPLATES.get((kind, spacing_mm))
    return loaded if loaded is not None else _template_image(kind, spacing_mm)


@lru_cache(maxsize=8)
def _template_image(kind: str, spacing_mm: float) -> sitk.Image:
    img = anatomy.template(kind)
    image = nifti_to_sitk(np.asarray(img.dataobj), img.affine, f"template {kind}")
    return downsample(image, spacing_mm)


def overlap_fraction(a: sitk.Image, b: sitk.Image) -> float:
    """Fraction of the smaller field of view (as axis-aligned LPS boxes) that the two images share."""

    def box(img: sitk.Image) -> np.ndarray:
        size = np.asarray(img.GetSize()) - 1
        corners = [
            img.TransformContinuousIndexToPhysicalPoint([float(c) for c in (i, j, k)])
            for i in (0, size[0]) for j in (0, size[1]) for k in (0, size[2])
        ]
        return np.stack([np.min(corners, 0), np.max(corners, 0)])

    ba, bb = box(a), box(b)
    inter = np.clip(np.minimum(ba[1], bb[1]) - np.maximum(ba[0], bb[0]), 0, None).prod()
    smaller = min(np.prod(ba[1] - ba[0]), np.prod(bb[1] - bb[0]))
    return float(inter / max(smaller, 1e-9))
