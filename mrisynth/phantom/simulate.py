"""One phantom subject: T1-weighted MRI and FDG-PET from the templates, a latent severity and the config.

Order of operations (all parameters in the config section ``phantom``):

1. Template space (working grid): grey-matter loss turned into CSF in the atrophy regions, growing
   with severity along a late stage curve (atrophy follows hypometabolism), plus a little everywhere with
   age; per-subject variation of that loss that has nothing to do with disease (per region, and a
   medial temporal loss shared by hippocampus and entorhinal cortex). MRI intensities = the site's
   tissue contrasts on the changed tissue maps + the template's residual texture. FDG uptake =
   tissue-weighted (GM >> WM >> CSF), reduced in the (widened) hypometabolism regions along an early
   stage curve and, in the disconnection regions, partly by the subject's own medial temporal loss;
   times a smooth subject-specific field (not visible in MRI).
2. Subject space: a smooth random deformation and an enlargement of the ventricles (atrophy stage,
   age and a disease-independent part; tissue pushed away from them) pull both images through the
   same map.
3. Scanner space, per modality: head-size scale and a random rigid pose, the site's grid (spacing,
   orientation code, field of view). MRI: multiplicative bias field, Rician noise. PET: Gaussian PSF,
   signal-dependent noise, global SUV scale. Both stored as int16 with a scale factor.
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np
from scipy import ndimage as ndi

from mrisynth.phantom.cohort import SubjectSpec
from mrisynth.phantom.fields import random_coefficients, smooth_field
from mrisynth.phantom.geometry import Pose, grid_coordinates, random_pose, scanner_grid
from mrisynth.phantom.template_space import TemplateSpace

#: centre of the scanner field of view in MNI mm (the middle of the brain's bounding box)
FOV_CENTRE_MM = (0.0, -18.0, 6.0)
FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
INT16_PEAK = 32000


@dataclass
class SimulatedSubject:
    """A subject's two scans and what produced them (latents and geometry, for evaluation and tests)."""

    spec: SubjectSpec
    t1w: nib.Nifti1Image
    pet: nib.Nifti1Image
    latents: dict
    gm: np.ndarray  # grey matter after atrophy, template space (work grid)
    template_mm: np.ndarray  # (3, *work shape): template position (mm) of each subject-space work voxel
    work: TemplateSpace
    poses: dict[str, Pose]

    def template_coordinates(self, modality: str) -> np.ndarray:
        """(3, *image shape) template mm of every voxel of the ``'t1w'`` or ``'pet'`` image."""
        img = self.t1w if modality == "t1w" else self.pet
        to_work = _scanner_to_work(self.work, self.poses[modality], img.affine)
        return np.stack([_resample(c, to_work, img.shape, mode="nearest") for c in self.template_mm])


def site_config(phantom: dict, name: str) -> dict:
    return next(s for s in phantom["sites"] if s["name"] == name)


def _region_sum(work: TemplateSpace, amounts: dict[str, float]) -> np.ndarray:
    out = np.zeros(work.shape, np.float32)
    for name, amount in amounts.items():
        out += np.float32(amount) * work.region_weight(name)
    return out


def _region_mean(work: TemplateSpace, amounts: dict[str, float], scale: float) -> np.ndarray:
    """Soft regions (radii x ``scale``) filled with their amounts; where regions overlap, their weighted mean."""
    total, weight = np.zeros(work.shape, np.float32), np.zeros(work.shape, np.float32)
    for name, amount in amounts.items():
        w = work.region_weight(name, scale)
        total += np.float32(amount) * w
        weight += w
    return total / np.maximum(weight, 1.0)


def stage_curve(severity: float, midpoint: float, width: float) -> float:
    """A biomarker's abnormality along the disease course (Jack et al., Lancet Neurol 2010 and 2013): a
    logistic in severity, rescaled to 0 at severity 0 and 1 at severity 1. An earlier ``midpoint`` makes a
    marker that leads (FDG hypometabolism), a later one a marker that follows (atrophy)."""
    def f(x: float) -> float:
        return 1.0 / (1.0 + np.exp(-(x - midpoint) / width))

    return float((f(severity) - f(0.0)) / (f(1.0) - f(0.0)))


def draw_latents(spec: SubjectSpec, phantom: dict, rng: np.random.Generator, expectation: bool = False) -> dict:
    """The subject's scalar latents: regional grey-matter loss, ventricle growth, regional hypometabolism.

    Atrophy and hypometabolism follow their own stage curves of the same severity (hypometabolism first).
    The medial temporal source regions share a subject-level loss unrelated to AD; in the disconnection
    regions part of the hypometabolism follows the subject's own medial temporal loss (Villain et al.,
    J Neurosci 2008), the rest the severity. ``expectation``: the regional hypometabolism noise, which no
    MRI shows, at its mean 0 (the random numbers are drawn all the same, so everything else is unchanged).
    """
    anat, atro, pet_cfg = phantom["anatomy"], phantom["atrophy"], phantom["pet"]
    disc = pet_cfg["disconnection"]
    years = max(spec.age - atro["reference_age"], 0.0)
    atrophy_stage = stage_curve(spec.severity, atro["stage_midpoint"], atro["stage_width"])
    hypo_stage = stage_curve(spec.severity, pet_cfg["stage_midpoint"], pet_cfg["stage_width"])
    mtl_individual = anat["mtl_individual_sd"] * rng.standard_normal()
    # clipped so that an unlucky draw can neither create much tissue nor remove all of it
    gm_loss = {
        name: float(np.clip(atro["max_gm_loss"] * atrophy_stage + (mtl_individual if name in disc["source"] else 0.0)
                            + anat["regional_gm_sd"] * rng.standard_normal(), -0.3, 0.9))
        for name in atro["regions"]
    }
    mtl_loss = float(np.mean([gm_loss[n] for n in disc["source"]]))
    hypo = {}
    for name in pet_cfg["regions"]:
        w = disc["weight"] if name in disc["regions"] else 0.0
        # the disconnection part is scaled so that it equals the severity part when the loss is the disease's at severity 1
        mean = pet_cfg["max_hypometabolism"] * ((1.0 - w) * hypo_stage + w * mtl_loss / atro["max_gm_loss"])
        noise = pet_cfg["hypometabolism_sd"] * rng.standard_normal()
        hypo[name] = float(np.clip(mean + (0.0 if expectation else noise), -0.1, 0.8))
    ventricle_mm = (atro["ventricle_severity_mm"] * atrophy_stage + atro["ventricle_age_mm_per_year"] * years
                    + atro["ventricle_sd_mm"] * rng.standard_normal())
    return {"years": years, "atrophy_stage": atrophy_stage, "hypometabolism_stage": hypo_stage,
            "mtl_individual": float(mtl_individual), "mtl_loss": mtl_loss, "gm_loss": gm_loss, "hypometabolism": hypo,
            "ventricle_mm": float(ventricle_mm)}


def _tissue(work: TemplateSpace, gm_loss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grey matter after the loss and CSF that took its place (tissue is conserved)."""
    lost = work.gm * gm_loss
    return work.gm - lost, np.clip(work.csf + lost, 0.0, None)


def _subject_positions(work: TemplateSpace, rng, phantom: dict, ventricle_mm: float) -> np.ndarray:
    """Template mm (3, *work shape) seen at each subject-space work voxel: deformation + ventricles."""
    anat = phantom["anatomy"]
    coef = random_coefficients(rng, anat["deformation_modes"], 3) * np.float32(anat["deformation_mm"] / np.sqrt(3))
    pos = grid_coordinates(work.affine, work.shape)
    pull = work.ventricle_pull(tuple(phantom["atrophy"]["ventricles"]))
    for c in range(3):
        pos[c] += smooth_field(coef[c], work.shape) + np.float32(ventricle_mm) * pull[c]
    return pos


def _scanner_to_work(work: TemplateSpace, pose: Pose, affine: np.ndarray) -> np.ndarray:
    """4x4 map from a scanner grid's voxel indices to work-grid voxel coordinates."""
    return np.linalg.inv(work.affine) @ np.linalg.inv(pose.subject_to_world()) @ affine


def _resample(image: np.ndarray, vox_to_src: np.ndarray, shape, mode: str = "constant") -> np.ndarray:
    """Linear interpolation of ``image`` at ``vox_to_src @ [i, j, k, 1]`` for every voxel of ``shape``."""
    return ndi.affine_transform(image, vox_to_src[:3, :3], vox_to_src[:3, 3], output_shape=tuple(shape), order=1, mode=mode, cval=0.0, output=np.float32)


def to_int16_image(data: np.ndarray, affine: np.ndarray, description: str) -> nib.Nifti1Image:
    """int16 NIfTI with ``scl_slope`` so that the stored integers times the slope give ``data``."""
    slope = np.float32(max(float(np.abs(data).max()), 1e-6) / INT16_PEAK)
    q = np.clip(np.rint(data / slope), -32768, 32767).astype(np.int16)
    img = nib.Nifti1Image(q, affine)
    img.header.set_slope_inter(float(slope), 0.0)
    img.set_qform(affine, code="scanner")
    img.set_sform(affine, code="scanner")
    img.header.set_xyzt_units("mm", "sec")
    img.header["descrip"] = description.encode()[:79]
    return img


def _template_images(spec: SubjectSpec, phantom: dict, site: dict, work: TemplateSpace, rng,
                     expectation: bool = False) -> tuple:
    """Step 1: the subject's MRI intensities and FDG uptake in template space, with their latents."""
    atro, pet_cfg = phantom["atrophy"], phantom["pet"]
    lat = draw_latents(spec, phantom, rng, expectation)
    gm_loss = _region_sum(work, lat["gm_loss"]) + np.float32(atro["age_gm_loss_per_year"] * lat["years"])
    gm, csf = _tissue(work, np.clip(gm_loss, -0.5, 0.95))
    contrast = site["contrast"]
    mri = work.t1_residual + contrast["gm"] * gm + contrast["wm"] * work.wm + contrast["csf"] * csf

    uptake = pet_cfg["uptake"]
    variability = smooth_field(random_coefficients(rng, pet_cfg["variability_modes"])[0], work.shape)
    hypometabolism = _region_mean(work, lat["hypometabolism"], pet_cfg["region_scale"])
    pet = (uptake["gm"] * gm + uptake["wm"] * work.wm + uptake["csf"] * csf) * np.clip(1.0 - hypometabolism, 0.05, None)
    if not expectation:  # the subject's uptake field no MRI shows (mean 1)
        pet *= np.clip(1.0 + np.float32(pet_cfg["variability"]) * variability, 0.5, 1.5)
    latents = {
        "severity": spec.severity,
        "atrophy_stage": round(lat["atrophy_stage"], 4),
        "hypometabolism_stage": round(lat["hypometabolism_stage"], 4),
        "mtl_individual": round(lat["mtl_individual"], 4),
        **{f"gm_loss_{k}": round(v, 4) for k, v in lat["gm_loss"].items()},
        **{f"hypometabolism_{k}": round(v, 4) for k, v in lat["hypometabolism"].items()},
    }
    return mri, pet, gm, latents, lat["ventricle_mm"]


def _mri_scan(subject_mri: np.ndarray, phantom: dict, site: dict, work: TemplateSpace, pose: Pose, rng, label: str) -> nib.Nifti1Image:
    """Step 3, T1: the site's grid and pose, a smooth bias field, Rician noise, int16."""
    affine, shape = scanner_grid(site["t1_orientation"], site["t1_spacing_mm"], phantom["mri"]["fov_mm"], FOV_CENTRE_MM)
    t1 = _resample(subject_mri, _scanner_to_work(work, pose, affine), shape)
    t1 *= np.exp(np.float32(site["bias"]) * smooth_field(random_coefficients(rng, 3)[0], shape))
    sigma = np.float32(site["noise"] * site["contrast"]["wm"])
    real = t1 + sigma * rng.standard_normal(shape, dtype=np.float32)
    imag = sigma * rng.standard_normal(shape, dtype=np.float32)
    t1 = np.sqrt(real * real + imag * imag) * np.float32(phantom["mri"]["scale"])
    return to_int16_image(t1, affine, f"mrisynth phantom T1w {label}")


def _pet_scan(subject_pet: np.ndarray, phantom: dict, site: dict, work: TemplateSpace, pose: Pose, rng, label: str,
              expectation: bool = False) -> tuple[nib.Nifti1Image, float]:
    """Step 3, PET: its own grid and pose, the site's PSF, signal-dependent noise (none at ``expectation``),
    SUV scale, int16."""
    pet_cfg = phantom["pet"]
    affine, shape = scanner_grid(site["pet_orientation"], pet_cfg["spacing_mm"], pet_cfg["fov_mm"], FOV_CENTRE_MM)
    pet = _resample(subject_pet, _scanner_to_work(work, pose, affine), shape)
    pet = ndi.gaussian_filter(pet, site["pet_fwhm_mm"] * FWHM_TO_SIGMA / np.asarray(pet_cfg["spacing_mm"], float), mode="constant")
    noise_sd = np.float32(pet_cfg["noise"]) * np.sqrt(np.clip(pet, 0.0, None) * np.float32(pet_cfg["uptake"]["gm"]))
    noise = rng.standard_normal(shape, dtype=np.float32)
    if not expectation:
        pet = pet + noise_sd * noise
    suv_scale = float(pet_cfg["suv_mean"] * np.exp(pet_cfg["suv_sd"] * rng.standard_normal()))
    pet = np.clip(pet, 0.0, None) * np.float32(suv_scale)
    return to_int16_image(pet, affine, f"mrisynth phantom FDG-PET SUV {label}"), suv_scale


def simulate_subject(spec: SubjectSpec, phantom: dict, seed: int, work: TemplateSpace, expectation: bool = False) -> SimulatedSubject:
    """Simulate one subject deterministically from ``(seed, spec.index)`` (steps in the module doc).

    ``expectation``: the same subject (same anatomy, atrophy, geometry, poses, site) with the parts of its
    PET that no MRI can show at their expectation: regional hypometabolism noise 0, uptake variability
    field 1, scanner noise 0. Its PET is the best any MRI-based synthesis can do (the evaluation's oracle).
    """
    rng = np.random.default_rng([seed, spec.index, 1])
    site = site_config(phantom, spec.site)
    mri_t, pet_t, gm, latents, ventricle_mm = _template_images(spec, phantom, site, work, rng, expectation)

    # 2. subject space: one map for both modalities
    template_mm = _subject_positions(work, rng, phantom, ventricle_mm)
    to_template = work.mm_to_voxel(template_mm)
    mri_s, pet_s = (ndi.map_coordinates(img, to_template, order=1, mode="constant", cval=0.0, output=np.float32) for img in (mri_t, pet_t))

    # 3. scanner space: head size shared, pose per scan
    anat, pose_cfg = phantom["anatomy"], phantom["pose"]
    scale = (1.0 + anat["head_scale_sd"] * rng.standard_normal()) * (anat["male_head_scale"] if spec.sex == "M" else 1.0)
    poses = {m: random_pose(rng, pose_cfg["max_rotation_deg"], pose_cfg["max_translation_mm"], scale) for m in ("t1w", "pet")}
    label = f"site {spec.site}"
    t1w = _mri_scan(mri_s, phantom, site, work, poses["t1w"], rng, label)
    pet, suv_scale = _pet_scan(pet_s, phantom, site, work, poses["pet"], rng, label, expectation)
    latents.update(ventricle_mm=round(ventricle_mm, 4), head_scale=round(scale, 4), suv_scale=round(suv_scale, 4))
    return SimulatedSubject(spec, t1w, pet, latents, gm, template_mm, work, poses)
