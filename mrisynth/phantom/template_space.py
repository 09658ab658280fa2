"""The MNI152 templates resampled once to the phantom's working grid (default 2 mm, cropped to the brain).

All per-subject changes of tissue (atrophy) and uptake (hypometabolism) are made here, in template
space, where the ellipsoid regions of ``mrisynth.anatomy`` are defined. The T1 template is split into a
three-class tissue model plus a residual (the texture the three classes do not explain), so that a
site's tissue contrasts and a subject's grey-matter loss change the intensities while the real
template's detail stays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import ndimage as ndi

from mrisynth.anatomy import REGIONS, Ellipsoid, template
from mrisynth.phantom.fields import soft_weight

MARGIN_MM = 6.0  # room around the brain's bounding box


@dataclass
class TemplateSpace:
    """Template images on the working grid: ``affine`` (RAS, isotropic), float32 maps of ``shape``."""

    affine: np.ndarray
    shape: tuple[int, int, int]
    gm: np.ndarray
    wm: np.ndarray
    csf: np.ndarray
    t1_residual: np.ndarray
    tissue_t1: dict[str, float]  # mean template T1 of pure grey matter, white matter, CSF
    _weights: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def spacing(self) -> float:
        return float(self.affine[0, 0])

    def region_weight(self, name: str, scale: float = 1.0) -> np.ndarray:
        """Soft (0..1) weight map of a region of ``mrisynth.anatomy.REGIONS`` (radii x ``scale``), cached."""
        key = name if scale == 1.0 else f"{name}*{scale:g}"
        if key not in self._weights:
            region = REGIONS[name]
            region = Ellipsoid(region.centre, tuple(r * scale for r in region.radii))
            self._weights[key] = soft_weight(region, self.affine, self.shape)
        return self._weights[key]

    def ventricle_pull(self, names: tuple[str, ...], smoothing_mm: float = 4.0) -> np.ndarray:
        """(3, *shape) unit-peak field pointing towards the CSF of the named (ventricle) regions, cached.

        Sampling the template at ``x + k * field`` shows each point what lies up to ``k`` mm closer to
        the ventricles: they grow by about ``k`` mm and the tissue around them is pushed aside.
        """
        key = "pull:" + ",".join(names)
        if key not in self._weights:
            inside = sum(self.region_weight(n) for n in names) * self.csf
            grad = np.stack(np.gradient(ndi.gaussian_filter(inside, smoothing_mm / self.spacing)))
            self._weights[key] = (grad / np.sqrt((grad**2).sum(0)).max()).astype(np.float32)
        return self._weights[key]

    def mm_to_voxel(self, xyz: np.ndarray) -> np.ndarray:
        """World mm (3, ...) to voxel coordinates of this grid (the affine is diagonal)."""
        origin = self.affine[:3, 3].reshape((3,) + (1,) * (xyz.ndim - 1))
        return (xyz - origin) / self.spacing


def _resample(data: np.ndarray, src_affine: np.ndarray, affine: np.ndarray, shape, spacing: float) -> np.ndarray:
    """Anti-aliased linear resampling of a 1 mm template onto a coarser axis-aligned grid."""
    src_spacing = float(src_affine[0, 0])
    sigma = np.sqrt(max(spacing**2 - src_spacing**2, 0.0)) / 2.355 / src_spacing
    smooth = ndi.gaussian_filter(data, sigma) if sigma > 0 else data
    ijk = np.indices(shape, dtype=np.float64).reshape(3, -1)
    xyz = affine[:3, :3] @ ijk + affine[:3, 3:4]
    src = np.linalg.solve(src_affine[:3, :3], xyz - src_affine[:3, 3:4])
    return ndi.map_coordinates(smooth, src, order=1, mode="constant", cval=0.0).reshape(shape).astype(np.float32)


@lru_cache(maxsize=4)
def template_space(spacing: float = 2.0) -> TemplateSpace:
    """The templates on an isotropic ``spacing`` mm grid covering the brain (computed once per process)."""
    mask_img = template("brain_mask")
    src_affine = mask_img.affine
    mask = np.asarray(mask_img.dataobj) > 0.5
    idx = np.argwhere(mask)
    lo = src_affine[:3, :3] @ idx.min(0) + src_affine[:3, 3] - MARGIN_MM
    hi = src_affine[:3, :3] @ idx.max(0) + src_affine[:3, 3] + MARGIN_MM
    shape = tuple(int(n) for n in np.ceil((hi - lo) / spacing).astype(int) + 1)
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = lo
    # crop the 1 mm templates to the grid (plus a few voxels for the smoothing) before resampling
    first = np.maximum(np.floor(np.linalg.solve(src_affine[:3, :3], lo - src_affine[:3, 3])).astype(int) - 4, 0)
    crop = tuple(slice(f, None) for f in first)
    src_affine = src_affine.copy()
    src_affine[:3, 3] += src_affine[:3, :3] @ first
    maps = {k: _resample(np.asarray(template(k).dataobj)[crop], src_affine, affine, shape, spacing) for k in ("t1", "gm", "wm", "brain_mask")}
    gm, wm = maps["gm"], maps["wm"]
    csf = np.clip(maps["brain_mask"] - gm - wm, 0.0, 1.0)
    t1 = maps["t1"]
    tissue_t1 = {name: float(t1[p > 0.9].mean()) for name, p in (("gm", gm), ("wm", wm), ("csf", csf))}
    residual = t1 - (tissue_t1["gm"] * gm + tissue_t1["wm"] * wm + tissue_t1["csf"] * csf)
    return TemplateSpace(affine=affine, shape=shape, gm=gm, wm=wm, csf=csf, t1_residual=residual.astype(np.float32), tissue_t1=tissue_t1)
