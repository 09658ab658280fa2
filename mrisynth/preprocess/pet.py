"""FDG-PET to template space and SUVR (Clinica pet-linear with SimpleITK).

PET is clipped at 0, registered rigidly to the subject's bias-corrected T1 (Mattes MI, at the working
resolution), the rigid transform is composed with the T1 -> template affine so the PET is resampled once,
and the result is divided by the 10%-trimmed mean in a reference region. Clinica places the reference
mask with a nonlinear warp; here the region is an ellipsoid in template millimetres
(``mrisynth.anatomy.REGIONS``: ``pons``, and the two ``cerebellum`` halves) applied after the affine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from mrisynth import anatomy
from mrisynth.errors import InputError
from mrisynth.preprocess.images import OutputGrid, antialias, downsample, overlap_fraction, read_volume, sitk_to_array
from mrisynth.preprocess.registration import compose, register, resample
from mrisynth.preprocess.t1 import NativeT1, registration_mask

#: ``preprocess.reference_region`` values and the ellipsoids (``anatomy.REGIONS``) they stand for.
REFERENCE_REGIONS = {
    "pons": ["pons"],
    "pons+cerebellum": ["pons", "cerebellum_L", "cerebellum_R"],
}
_MIN_OVERLAP = 0.25  # fraction of the smaller field of view PET and T1 must share


@dataclass
class TemplatePET:
    image: np.ndarray  # SUVR on the template grid
    mapping: dict  # intensity mapping sidecar
    rigid: sitk.Transform  # T1 points -> PET points
    metric: float  # final PET->T1 registration metric


def trim_mean(values: np.ndarray, proportion: float) -> float:
    """Mean without the lowest and highest ``proportion`` of the values: scipy.stats.trim_mean's arithmetic
    (partition, slice, mean) on a flat array, here so that a preprocessing job does not import scipy.stats
    (about 1 CPU-s per job)."""
    values = np.ravel(values)
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float64)
    low = int(proportion * values.size)
    high = values.size - low
    if values.size == 0:
        return float("nan")
    return float(np.mean(np.partition(values, (low, high - 1))[low:high]))


def preprocess_pet(path, t1: NativeT1, t1_transform: sitk.Transform, grid: OutputGrid, cfg: dict, seed: int) -> TemplatePET:
    """Register a PET to its subject's T1, resample it once into template space, scale to SUVR."""
    pet = read_volume(path, "PET")
    overlap = overlap_fraction(pet, t1.smoothed)
    if overlap < _MIN_OVERLAP:
        raise InputError(
            f"PET {path}: its field of view shares only {overlap:.0%} with the T1w's "
            f"(need {_MIN_OVERLAP:.0%}); PET and T1w must be in the same scanner space"
        )
    res = float(cfg["resolution_mm"])
    smoothed = antialias(sitk.Maximum(pet, 0.0), res)
    work = downsample(smoothed, res, smoothed=True)
    # the T1 brain mask in native space: the template mask pulled back through the inverse affine
    brain = resample(registration_mask(res), t1.work, t1_transform.GetInverse(), linear=False)
    reg = register(t1.work, work, cfg["registration"], seed, affine=False, fixed_mask=sitk.Cast(brain, sitk.sitkUInt8))
    image, reference = pet_to_template(smoothed, t1_transform, reg.transform, grid, cfg, f"PET {path}")
    names = REFERENCE_REGIONS[cfg["reference_region"]]
    trim = float(cfg["suvr_trim"])
    mapping = {
        "modality": "pet",
        "tracer": "FDG",
        "space": anatomy.TEMPLATE_SPACE,
        "units": "SUVR",
        "formula": "suvr = max(pet, 0) / reference_value",
        "inverse": "pet = suvr * reference_value",
        "reference_value": reference,
        "reference_region": cfg["reference_region"],
        "reference_ellipsoids": {n: {"centre": anatomy.REGIONS[n].centre, "radii": anatomy.REGIONS[n].radii} for n in names},
        "trim_proportion": trim,
    }
    return TemplatePET(image=image, mapping=mapping, rigid=reg.transform, metric=reg.metric)


def pet_to_template(smoothed: sitk.Image, t1_transform: sitk.Transform, rigid: sitk.Transform, grid: OutputGrid,
                    cfg: dict, where: str) -> tuple[np.ndarray, float]:
    """(SUVR on the template grid, reference value) of an anti-aliased PET, resampled once through its saved
    rigid PET -> T1 and T1 -> template transforms; the phantom's oracle goes through the same path."""
    pet_mni = sitk_to_array(resample(smoothed, grid.reference(), compose(t1_transform, rigid)))
    names = REFERENCE_REGIONS[cfg["reference_region"]]
    region = anatomy.region_mask(names, grid.affine, grid.shape)
    reference = float(trim_mean(pet_mni[region], float(cfg["suvr_trim"])))
    if not reference > 0:
        raise InputError(f"{where}: mean uptake in the reference region ({'+'.join(names)}) is {reference:g}; registration failed or the PET is empty there")
    return (pet_mni / reference).astype(np.float32), reference

