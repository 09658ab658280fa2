"""T1w to template space (Clinica t1-linear with SimpleITK): N4, affine MI registration, skull strip,
fixed grid, robust intensity normalisation inside the brain mask.

Everything is estimated at the working resolution: the native image is anti-aliased and downsampled once,
N4 and the registration run on that copy, and the output is one resampling of the anti-aliased native
image through the estimated transform, divided by the (resampled, smooth) bias field.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import SimpleITK as sitk

from mrisynth import anatomy
from mrisynth.preprocess.images import LOADED_TEMPLATES, OutputGrid, antialias, downsample, nifti_to_sitk, read_volume, sitk_to_array, template_image
from mrisynth.preprocess.registration import foreground_mask, n4, register, resample


@dataclass
class NativeT1:
    """The subject's T1 in its own space: anti-aliased full-resolution copy and the working copy."""

    smoothed: sitk.Image  # native grid, anti-aliased for the output resolution
    work: sitk.Image  # working resolution, N4-corrected
    log_bias: sitk.Image  # log bias field on the working grid


@dataclass
class TemplateT1:
    """The T1 outputs on the template grid."""

    image: np.ndarray  # normalised intensities, 0 outside the brain mask
    mask: np.ndarray  # template brain mask on the grid (uint8)
    mapping: dict  # intensity mapping sidecar
    raw: np.ndarray  # bias-corrected intensities before normalisation (for QC)


def prepare_t1(path, cfg: dict) -> NativeT1:
    """Read, anti-alias, downsample to the working resolution and bias-correct a T1w image."""
    native = read_volume(path, "T1w")
    res = float(cfg["resolution_mm"])
    smoothed = antialias(native, res)
    work = downsample(smoothed, res, smoothed=True)
    n4_cfg = cfg["n4"]
    shrink = max(1, round(float(n4_cfg["fit_spacing_mm"]) / res))
    corrected, log_bias = n4(work, foreground_mask(work), shrink, n4_cfg["iterations"], float(n4_cfg["spline_distance_mm"]))
    return NativeT1(smoothed=smoothed, work=corrected, log_bias=log_bias)


def registration_mask(spacing_mm: float, dilate_voxels: int = 2) -> sitk.Image:
    """Template brain mask (dilated) at the working resolution: where the registration metric is sampled."""
    mask = sitk.BinaryThreshold(template_image("brain_mask", spacing_mm), 0.5, 1e9, 1, 0)
    return sitk.BinaryDilate(mask, [dilate_voxels] * 3)


def register_t1(t1: NativeT1, cfg: dict, seed: int):
    """Affine T1 -> template registration (the transform maps template points to T1 points)."""
    res = float(cfg["resolution_mm"])
    return register(template_image("t1", res), t1.work, cfg["registration"], seed, affine=True, fixed_mask=registration_mask(res))


def template_on_grid(kind: str, grid: OutputGrid) -> np.ndarray:
    """A 1 mm template anti-aliased and resampled onto the output grid."""
    loaded = LOADED_TEMPLATES.get((kind, grid))
    return loaded if loaded is not None else _template_on_grid(kind, grid)


@lru_cache(maxsize=4)
def _template_on_grid(kind: str, grid: OutputGrid) -> np.ndarray:
    img = anatomy.template(kind)
    image = antialias(nifti_to_sitk(np.asarray(img.dataobj), img.affine), grid.resolution_mm)
    return sitk_to_array(resample(image, grid.reference(), sitk.Transform()))


def brain_mask_on_grid(grid: OutputGrid) -> np.ndarray:
    return (template_on_grid("brain_mask", grid) > 0.5).astype(np.uint8)


def t1_to_template(t1: NativeT1, transform: sitk.Transform, grid: OutputGrid, cfg: dict) -> TemplateT1:
    """Resample once onto the template grid, skull-strip with the template mask, normalise intensities."""
    ref = grid.reference()
    bias = sitk_to_array(sitk.Exp(resample(t1.log_bias, ref, transform)))  # 0 outside -> exp 1
    raw = sitk_to_array(resample(t1.smoothed, ref, transform)) / bias
    mask = brain_mask_on_grid(grid)
    lo_pct, hi_pct = (float(p) for p in cfg["intensity_percentiles"])
    low, high = (float(v) for v in np.percentile(raw[mask > 0], [lo_pct, hi_pct]))
    scale = high - low if high > low else 1.0
    image = np.where(mask > 0, (raw - low) / scale, 0.0).astype(np.float32)
    mapping = {
        "modality": "T1w",
        "space": anatomy.TEMPLATE_SPACE,
        "units": "normalised",
        "formula": "normalised = (bias_corrected - low) / (high - low), inside the brain mask; 0 outside",
        "inverse": "bias_corrected = normalised * (high - low) + low",
        "low": low,
        "high": high,
        "percentiles": [lo_pct, hi_pct],
        "bias_corrected": True,
    }
    return TemplateT1(image=image, mask=mask, mapping=mapping, raw=raw.astype(np.float32))
