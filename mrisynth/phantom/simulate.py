"""One phantom subject: T1-weighted MRI and FDG-PET from the templates, a latent severity and the config.

Order of operations (all parameters in the config section ``phantom``):

1. Template space (working grid): grey-matter loss turned into CSF in the atrophy regions, growing
   with severity, plus a little everywhere with age; per-subject variation of that loss that has
   nothing to do with disease. MRI intensities = the site's tissue contrasts on the changed tissue
   maps + the template's residual texture. FDG uptake = tissue-weighted (GM >> WM >> CSF), reduced in
   the hypometabolism regions with severity, times a smooth subject-specific field (not visible in MRI).
2. Subject space: a smooth random deformation and an enlargement of the ventricles (severity and
   age; tissue pushed away from them) pull both images through the same map.
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


def _template_images(spec: SubjectSpec, phantom: dict, site: dict, work: TemplateSpace, rng) -> tuple:
    """Step 1: the subject's MRI intensities and FDG uptake in template space, with their latents."""
    anat, atro, pet_cfg = phantom["anatomy"], phantom["atrophy"], phantom["pet"]
    years = max(spec.age - atro["reference_age"], 0.0)
    # clipped so that an unlucky draw can neither create much tissue nor remove all of it
    regional_loss = {
        name: float(np.clip(atro["max_gm_loss"] * spec.severity + anat["regional_gm_sd"] * rng.standard_normal(), -0.3, 0.9))
        for name in atro["regions"]
    }
    gm_loss = _region_sum(work, regional_loss) + np.float32(atro["age_gm_loss_per_year"] * years)
    gm, csf = _tissue(work, np.clip(gm_loss, -0.5, 0.95))
    contrast = site["contrast"]
    mri = work.t1_residual + contrast["gm"] * gm + contrast["wm"] * work.wm + contrast["csf"] * csf

    hypo = {
        name: float(np.clip(pet_cfg["max_hypometabolism"] * spec.severity + pet_cfg["hypometabolism_sd"] * rng.standard_normal(), -0.1, 0.8))
        for name in pet_cfg["regions"]
    }
    uptake = pet_cfg["uptake"]
    variability = smooth_field(random_coefficients(rng, pet_cfg["variability_modes"])[0], work.shape)
    pet = (uptake["gm"] * gm + uptake["wm"] * work.wm + uptake["csf"] * csf) * np.clip(1.0 - _region_sum(work, hypo), 0.05, None)
    pet *= np.clip(1.0 + np.float32(pet_cfg["variability"]) * variability, 0.5, 1.5)
    latents = {
        "severity": spec.severity,
        **{f"gm_loss_{k}": round(v, 4) for k, v in regional_loss.items()},
        **{f"hypometabolism_{k}": round(v, 4) for k, v in hypo.items()},
    }
    return mri, pet, gm, latents


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


def _pet_scan(subject_pet: np.ndarray, phantom: dict, site: dict, work: TemplateSpace, pose: Pose, rng, label: str) -> tuple[nib.Nifti1Image, float]:
    """Step 3, PET: its own grid and pose, the site's PSF, signal-dependent noise, SUV scale, int16."""
    pet_cfg = phantom["pet"]
    affine, shape = scanner_grid(site["pet_orientation"], pet_cfg["spacing_mm"], pet_cfg["fov_mm"], FOV_CENTRE_MM)
    pet = _resample(subject_pet, _scanner_to_work(work, pose, affine), shape)
    pet = ndi.gaussian_filter(pet, site["pet_fwhm_mm"] * FWHM_TO_SIGMA / np.asarray(pet_cfg["spacing_mm"], float), mode="constant")
    noise_sd = np.float32(pet_cfg["noise"]) * np.sqrt(np.clip(pet, 0.0, None) * np.float32(pet_cfg["uptake"]["gm"]))
    pet = pet + noise_sd * rng.standard_normal(shape, dtype=np.float32)
    suv_scale = float(pet_cfg["suv_mean"] * np.exp(pet_cfg["suv_sd"] * rng.standard_normal()))
    pet = np.clip(pet, 0.0, None) * np.float32(suv_scale)
    return to_int16_image(pet, affine, f"mrisynth phantom FDG-PET SUV {label}"), suv_scale


def simulate_subject(spec: SubjectSpec, phantom: dict, seed: int, work: TemplateSpace) -> SimulatedSubject:
    """Simulate one subject deterministically from ``(seed, spec.index)`` (steps in the module doc)."""
    rng = np.random.default_rng([seed, spec.index, 1])
    site = site_config(phantom, spec.site)
    mri_t, pet_t, gm, latents = _template_images(spec, phantom, site, work, rng)

    # 2. subject space: one map for both modalities
    atro = phantom["atrophy"]
    years = max(spec.age - atro["reference_age"], 0.0)
    ventricle_mm = float(atro["ventricle_severity_mm"] * spec.severity + atro["ventricle_age_mm_per_year"] * years)
    template_mm = _subject_positions(work, rng, phantom, ventricle_mm)
    to_template = work.mm_to_voxel(template_mm)
    mri_s, pet_s = (ndi.map_coordinates(img, to_template, order=1, mode="constant", cval=0.0, output=np.float32) for img in (mri_t, pet_t))

    # 3. scanner space: head size shared, pose per scan
    anat, pose_cfg = phantom["anatomy"], phantom["pose"]
    scale = (1.0 + anat["head_scale_sd"] * rng.standard_normal()) * (anat["male_head_scale"] if spec.sex == "M" else 1.0)
    poses = {m: random_pose(rng, pose_cfg["max_rotation_deg"], pose_cfg["max_translation_mm"], scale) for m in ("t1w", "pet")}
    label = f"site {spec.site}"
    t1w = _mri_scan(mri_s, phantom, site, work, poses["t1w"], rng, label)
    pet, suv_scale = _pet_scan(pet_s, phantom, site, work, poses["pet"], rng, label)
    latents.update(ventricle_mm=round(ventricle_mm, 4), head_scale=round(scale, 4), suv_scale=round(suv_scale, 4))
    return SimulatedSubject(spec, t1w, pet, latents, gm, template_mm, work, poses)
