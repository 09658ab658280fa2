"""Disease-region evaluation of synthetic PET: what a reader of an FDG scan looks at.

- meta-ROI: the AD signature regions of ``mrisynth.anatomy`` (posterior cingulate, precuneus, left and
  right temporoparietal cortex) within the cortex; the sensorimotor cortex (``motor_L/R``) is the control
  region that AD spares. Mean SUVR per subject; RMSE and bias over subjects, per diagnosis.
- between-subject R² of the deviation from the training population's mean PET (brain, cortex, meta-ROI):
  0 = the population mean, 1 = every subject's own deviation.
- hypometabolism z-maps against the fold's training NC (voxelwise mean and sd of their real PET): the
  error of the meta-ROI z score, and the Dice overlap of z < -2 (cortex) between synthetic and true PET.

Cortex = the MNI152 grey-matter probability > 0.5 on the evaluation grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mrisynth.metrics.regional import bias, deviation_sums, dice, r2_from_sums, region_mean, rmse, zmap

META_ROI = ("posterior_cingulate", "precuneus", "temporoparietal_L", "temporoparietal_R")
CONTROL = ("motor_L", "motor_R")
Z_THRESHOLD = -2.0
Z_MIN_SD = 0.02  # SUVR; floor of the NC voxel sd (few NC per fold: a tiny sd would make any error a huge z)
MIN_NC = 3  # training NC with PET needed for z-maps
DIAGNOSES = ("NC", "sMCI", "pMCI", "AD")
SUMS = ("brain", "cortex", "metaroi")


@dataclass
class Regions:
    cortex: np.ndarray
    meta_roi: np.ndarray
    control: np.ndarray

    @classmethod
    def on_grid(cls, affine: np.ndarray, shape: tuple[int, int, int]) -> Regions:
        import SimpleITK as sitk

        from mrisynth.anatomy import region_mask
        from mrisynth.preprocess.images import nifti_to_sitk, sitk_to_array, template_image
        from mrisynth.preprocess.registration import resample

        spacing = float(abs(affine[0, 0]))
        reference = nifti_to_sitk(np.zeros(shape, np.float32), affine)
        gm = sitk_to_array(resample(template_image("gm", spacing), reference, sitk.Transform()))
        cortex = gm > 0.5
        return cls(cortex, region_mask(list(META_ROI), affine, shape) & cortex, region_mask(list(CONTROL), affine, shape) & cortex)


@dataclass
class NormalReference:
    """Training NC: voxelwise mean / sd of their PET and the mean / sd of their meta-ROI means (None if too few)."""

    mean: np.ndarray
    sd: np.ndarray
    roi_mean: float
    roi_sd: float

    @classmethod
    def fit(cls, nc_pet: np.ndarray, regions: Regions) -> NormalReference | None:
        if len(nc_pet) < MIN_NC or not regions.meta_roi.any():
            return None
        rois = [region_mean(p, regions.meta_roi) for p in nc_pet]
        return cls(nc_pet.mean(0), nc_pet.std(0, ddof=1), float(np.mean(rois)), float(np.std(rois, ddof=1)))

    def z(self, image: np.ndarray) -> np.ndarray:
        return zmap(image, self.mean, self.sd, Z_MIN_SD)


def _nan_mean(image, mask) -> float:
    return region_mean(image, mask) if mask.any() else float("nan")


def subject_regional(pred: np.ndarray, ref: np.ndarray, population_mean: np.ndarray, brain: np.ndarray,
                     regions: Regions, nc: NormalReference | None) -> dict[str, float]:
    """Per-subject regional numbers of one prediction (sums for the pooled R², regional means, z errors)."""
    out = {"metaroi_pred": _nan_mean(pred, regions.meta_roi), "metaroi_ref": _nan_mean(ref, regions.meta_roi)}
    out["metaroi_err"] = out["metaroi_pred"] - out["metaroi_ref"]
    out["control_err"] = _nan_mean(pred, regions.control) - _nan_mean(ref, regions.control)
    for name, mask in zip(SUMS, (brain, brain & regions.cortex, brain & regions.meta_roi)):
        out[f"sse_{name}"], out[f"ss_{name}"] = deviation_sums(pred, ref, population_mean, mask)
    if nc is None:
        out["metaroi_z_err"] = out["dice_z2"] = float("nan")
    else:
        out["metaroi_z_err"] = (out["metaroi_pred"] - out["metaroi_ref"]) / nc.roi_sd
        cortex = brain & regions.cortex
        out["dice_z2"] = dice((nc.z(pred) < Z_THRESHOLD) & cortex, (nc.z(ref) < Z_THRESHOLD) & cortex)
    return out


def regional_summary(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per method: meta-ROI RMSE and bias (all, per diagnosis), control RMSE, pooled R², z error, Dice."""
    rows = []
    for method, g in metrics.groupby("method", sort=False):
        row = {"method": method, "n": len(g), "metaroi_rmse": rmse(g["metaroi_pred"], g["metaroi_ref"]),
               "metaroi_bias": bias(g["metaroi_pred"], g["metaroi_ref"]),
               "control_rmse": float(np.sqrt(np.mean(g["control_err"] ** 2)))}
        for dx in DIAGNOSES:
            d = g[g["diagnosis"] == dx]
            row[f"metaroi_rmse_{dx}"] = rmse(d["metaroi_pred"], d["metaroi_ref"]) if len(d) else float("nan")
            row[f"metaroi_bias_{dx}"] = bias(d["metaroi_pred"], d["metaroi_ref"]) if len(d) else float("nan")
        for name in SUMS:
            row[f"r2_{name}"] = r2_from_sums(g[f"sse_{name}"], g[f"ss_{name}"])
        z = g["metaroi_z_err"].dropna()
        row["metaroi_z_rmse"] = float(np.sqrt(np.mean(z**2))) if len(z) else float("nan")
        row["dice_z2"] = float(g["dice_z2"].mean())
        rows.append(row)
    return pd.DataFrame(rows)
