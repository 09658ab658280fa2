"""``calibrate-synthesis``: are the multiple imputations' uncertainties honest? Measured on every test
subject of every fold against its real PET or (phantom) its hidden true PET, for each model imputed with
K >= 2 draws (``impute --samples K``).

- Voxel coverage: the fraction of brain voxels whose reference SUVR lies in the central ``level``
  predictive interval ``mean +- t_{K-1}((1 + level) / 2) * sd * sqrt(1 + 1/K)`` of the K draws (exact
  coverage ``level`` when the draws and the reference are exchangeable Gaussian draws; the goal for 90% is
  85-95%). Draws in antithetic pairs (``sampler: additive``: the mean is exact, the sd rests on K/2 pairs)
  would call for ``t_{K/2} * sd * sqrt((K-1)/K)``: 1.912 sd instead of 1.923 sd at K = 10 and 90%.
- Spearman correlation between the voxelwise sd and the absolute error of the mean, over brain voxels
  (per subject, then averaged): does the model know where it is wrong?
- The same for regional SUVR means (the ellipsoids of :data:`mrisynth.anatomy.REGIONS` within the brain
  mask): each draw's regional mean, their mean and sd, coverage over (subject, region) pairs and the
  Spearman correlation of sd and |error| over those pairs.
- Raw coverage: draws recalibrated by impute (``synthesis.calibration.recalibrate``: deviations from the
  mean times a factor c plus a shared error field tau * g_k, fit on the fold's validation subjects, in the
  imputation's JSON sidecar: :mod:`mrisynth.synthesis.error_field`) are also scored as the generator drew
  them (the same fields regenerated and removed, deviations divided by c).

Outputs (``<results>/synthesis/calibration/``): subjects.csv (one row per model, fold, subject), regions.csv
(one row per model, fold, subject, region), summary.csv and table.md (one row per model), and
fig-uncertainty-<model>.png (mean / sd / |error| mid slices of a few subjects).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from mrisynth.errors import InputError
from mrisynth.metrics.calibration import coverage, interval_half_width, spearman


def subject_calibration(samples: np.ndarray, reference: np.ndarray, mask: np.ndarray, affine: np.ndarray,
                        level: float, raw: np.ndarray | None = None, scale: float = 1.0,
                        field_scale: float = 0.0) -> tuple[dict, list[dict]]:
    """(voxel summary, one row per region) for one subject; ``samples`` is (X, Y, Z, K) SUVR as impute wrote
    them (recalibrated by ``scale`` and ``field_scale``), ``raw`` the generator's own draws (default: the same)."""
    from mrisynth.anatomy import REGIONS, region_mask

    raw = samples if raw is None else raw
    k = samples.shape[-1]
    inside = samples[mask]  # (V, K)
    mean, sd = inside.mean(1), inside.std(1, ddof=1)
    ref = reference[mask]
    err = np.abs(mean - ref)
    voxel = {"k": k, "n_voxels": int(mask.sum()), "coverage": coverage(ref, mean, sd, k, level),
             "coverage_raw": coverage(ref, mean, raw[mask].std(1, ddof=1), k, level), "spread_scale": scale,
             "field_scale": field_scale,
             "spearman_sd_error": spearman(sd, err), "mean_sd": float(sd.mean()), "mae": float(err.mean())}
    regions = []
    for name in REGIONS:
        roi = region_mask(name, affine, mask.shape) & mask
        if not roi.any():
            continue
        draws = samples[roi].mean(0)  # regional mean SUVR of each draw
        r_mean, r_sd, r_ref = float(draws.mean()), float(draws.std(ddof=1)), float(reference[roi].mean())
        raw_sd = float(raw[roi].mean(0).std(ddof=1))
        regions.append({"region": name, "mean": r_mean, "sd": r_sd, "reference": r_ref, "abs_error": abs(r_mean - r_ref),
                        "covered": bool(abs(r_mean - r_ref) <= interval_half_width(r_sd, k, level)),
                        "covered_raw": bool(abs(r_mean - r_ref) <= interval_half_width(raw_sd, k, level))})
    return voxel, regions


def _recalibration(mean_path: Path) -> tuple[float, float, float | None]:
    """(c, tau, FWHM) impute applied (JSON sidecar of the mean image; 1, 0, None when absent)."""
    import json

    sidecar = mean_path.with_name(mean_path.name.replace(".nii.gz", ".json"))
    meta = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    return float(meta.get("spread_scale", 1.0)), float(meta.get("field_scale") or 0.0), meta.get("field_fwhm_mm")


def _raw_draws(samples: np.ndarray, mean_path: Path, amplitude_path: Path, seed: int, participant: str,
               affine: np.ndarray):
    """(raw draws, c, tau): impute's recalibration undone, with the same error fields regenerated (their
    amplitude map lies next to the imputations)."""
    from mrisynth.io.nifti import load_array
    from mrisynth.synthesis import error_field

    c, tau, fwhm = _recalibration(mean_path)
    if not tau:
        return error_field.raw_draws(samples, c, tau, None), c, tau
    if not amplitude_path.exists():
        raise InputError(f"calibrate-synthesis: {amplitude_path} is missing (rerun `mrisynth impute`)")
    fields = error_field.error_fields(seed, participant, samples.shape[-1], samples.shape[:3],
                                      error_field.voxel_spacing(affine), fwhm, load_array(amplitude_path)[0])
    return error_field.raw_draws(samples, c, tau, fields), c, tau


def _load_samples(path: Path) -> np.ndarray:
    import nibabel as nib

    if not Path(path).exists():
        raise InputError(f"calibrate-synthesis: samples {path} do not exist (run `mrisynth impute --samples K`)")
    data = np.asarray(nib.load(path).dataobj, dtype=np.float32)
    if data.ndim != 4 or data.shape[-1] < 2:
        raise InputError(f"calibrate-synthesis: {path} is not a 4D NIfTI of K >= 2 draws (shape {data.shape})")
    return data


def calibrate_fold(cfg: dict, results: Path, manifest: Path, split_path: Path, models: list[str]):
    """(subject rows, region rows, figure subjects) of one fold."""
    from mrisynth.io.nifti import load_array
    from mrisynth.synthesis.paths import error_field_amplitude_path, imputed_pet_path, imputed_samples_path
    from mrisynth.synthesis.subjects import fold_subjects, reference_pet, require_files

    level = float(cfg["synthesis"]["calibration"]["level"])
    res_mm = cfg["preprocess"]["resolution_mm"]
    fs = fold_subjects(results, manifest, split_path, res_mm)
    subjects, regions, figure = [], [], []
    for s in fs.test:
        if (found := reference_pet(s)) is None:
            continue
        ref_path, kind = found
        require_files([s], "t1", "mask")
        reference, affine = load_array(ref_path)
        mask = load_array(s.paths.mask)[0] > 0
        for model in models:
            where = (results, model, fs.fold, s.participant_id, s.session_id, res_mm)
            samples = _load_samples(imputed_samples_path(*where))
            if samples.shape[:3] != reference.shape:
                raise InputError(f"calibrate-synthesis: draws of sub-{s.participant_id} ({model}) are not on the grid of {ref_path}")
            amplitude = error_field_amplitude_path(results, model, fs.fold)
            raw, c, tau = _raw_draws(samples, imputed_pet_path(*where), amplitude, int(cfg["seed"]), s.participant_id, affine)
            voxel, per_region = subject_calibration(samples, reference, mask, affine, level, raw, c, tau)
            key = {"model": model, "fold": fs.fold, "participant_id": s.participant_id, "reference": kind}
            subjects.append(key | voxel)
            regions += [key | r for r in per_region]
            if sum(f["model"] == model for f in figure) < cfg["synthesis"]["calibration"]["figure_subjects"]:
                figure.append({"model": model, "id": s.participant_id, "fold": fs.fold, "t1": load_array(s.paths.t1)[0],
                               "ref": reference, "mask": mask, "mean": samples.mean(-1), "sd": samples.std(-1, ddof=1)})
    return subjects, regions, figure


def summarize(subjects: pd.DataFrame, regions: pd.DataFrame) -> pd.DataFrame:
    """One row per model: voxel coverage and sd-|error| Spearman (mean, min, max over subjects), the same
    for regional means (pooled over subject x region pairs)."""
    rows = []
    for model, g in subjects.groupby("model", sort=False):
        r = regions[regions["model"] == model]
        rows.append({"model": model, "k": int(g["k"].iloc[0]), "n_subjects": len(g),
                     "voxel_coverage": g["coverage"].mean(), "voxel_coverage_min": g["coverage"].min(),
                     "voxel_coverage_max": g["coverage"].max(), "voxel_spearman": g["spearman_sd_error"].mean(),
                     "mean_sd": g["mean_sd"].mean(), "mae": g["mae"].mean(), "n_region_pairs": len(r),
                     "region_coverage": r["covered"].mean() if len(r) else np.nan,
                     "spread_scale": g["spread_scale"].mean(), "field_scale": g["field_scale"].mean(),
                     "voxel_coverage_raw": g["coverage_raw"].mean(),
                     "region_coverage_raw": r["covered_raw"].mean() if len(r) else np.nan,
                     "region_spearman": spearman(r["sd"], r["abs_error"]) if len(r) else np.nan})
    return pd.DataFrame(rows)


def markdown_table(summary: pd.DataFrame, level: float) -> str:
    lines = ["# Calibration of the multiple imputations (test subjects, real or hidden true PET)", "",
             f"Coverage: fraction of reference values inside the central {level:.0%} predictive interval "
             f"(mean ± t_(K-1) × sd × sqrt(1 + 1/K) of the K draws; goal {level - 0.05:.0%}-{min(level + 0.05, 1):.0%}). "
             "Spearman: rank correlation of the predicted sd with the absolute error of the mean (voxels: per "
             "subject over brain voxels, then averaged; regions: over all subject × region pairs). Raw: the draws "
             "before recalibration by the factor c and the shared error field of sd tau (fit on each fold's validation "
             "subjects; c = 1 and tau = 0: not recalibrated).", "",
             "| model | K | subjects | voxel coverage (min-max) | voxel Spearman(sd, abs err) | mean sd (SUVR) | MAE of mean "
             "| regional coverage | regional Spearman | region pairs | c (mean over folds) | tau (SUVR) | raw voxel / regional coverage |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in summary.itertuples():
        lines.append(f"| {r.model} | {r.k} | {r.n_subjects} | {r.voxel_coverage:.3f} ({r.voxel_coverage_min:.3f}-"
                     f"{r.voxel_coverage_max:.3f}) | {r.voxel_spearman:.3f} | {r.mean_sd:.4f} | {r.mae:.4f} | "
                     f"{r.region_coverage:.3f} | {r.region_spearman:.3f} | {r.n_region_pairs} | {r.spread_scale:.2f} | {r.field_scale:.4f} | "
                     f"{r.voxel_coverage_raw:.3f} / {r.region_coverage_raw:.3f} |")
    return "\n".join(lines) + "\n"


def figure(model: str, shown: list[dict], path: Path) -> None:
    """Rows = subjects; columns = MRI, reference PET, mean of the draws, sd, |mean - reference| (mid axial
    slice; sd and |error| share one colour scale so they can be compared)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mrisynth.io.atomic import save_figure
    from mrisynth.preprocess.outputs import strip_prefix
    from mrisynth.synthesis.figures import draw_panels

    fig, axes = plt.subplots(len(shown), 5, figsize=(12.5, 2.6 * len(shown)), squeeze=False)
    for row, s in zip(axes, shown):
        z = s["ref"].shape[2] // 2
        m = s["mask"][:, :, z]
        vmax = float(np.percentile(s["ref"][s["mask"]], 99.5))
        err = np.where(m, np.abs(s["mean"][:, :, z] - s["ref"][:, :, z]), 0.0)
        sd = np.where(m, s["sd"][:, :, z], 0.0)
        hi = max(float(np.percentile(err[m], 99)) if m.any() else 0.0, float(sd.max()), 1e-6)
        draw_panels(row, [(s["t1"][:, :, z], "gray", None, None, f"MRI\nsub-{strip_prefix(s['id'], 'sub')} (fold {s['fold']})"),
                          (s["ref"][:, :, z], "hot", 0, vmax, "reference PET"),
                          (s["mean"][:, :, z], "hot", 0, vmax, f"{model}: mean of draws"),
                          (sd, "viridis", 0, hi, "sd of draws"), (err, "viridis", 0, hi, "|mean - reference|")])
    save_figure(fig, path)


def calibrate(cfg: dict, results: Path, manifest: Path, split_paths: list[Path], models: list[str], out_dir: Path,
              progress: bool = True) -> pd.DataFrame:
    from tqdm.auto import tqdm

    from mrisynth.io.atomic import atomic_dir

    if not models:
        raise InputError("calibrate-synthesis: no model with synthesis.models.<model>.samples >= 2 (nothing to calibrate)")
    subjects, regions, shown = [], [], []
    for split_path in tqdm(split_paths, desc="calibrate folds", disable=not progress):
        s, r, f = calibrate_fold(cfg, results, manifest, split_path, models)
        subjects, regions, shown = subjects + s, regions + r, shown + f
    if not subjects:
        raise InputError("calibrate-synthesis: no test subject has a real or hidden true PET")
    subjects, regions = pd.DataFrame(subjects), pd.DataFrame(regions)
    summary = summarize(subjects, regions)
    n_fig = cfg["synthesis"]["calibration"]["figure_subjects"]
    with atomic_dir(out_dir) as tmp:
        subjects.to_csv(tmp / "subjects.csv", index=False)
        regions.to_csv(tmp / "regions.csv", index=False)
        summary.to_csv(tmp / "summary.csv", index=False)
        (tmp / "table.md").write_text(markdown_table(summary, float(cfg["synthesis"]["calibration"]["level"])))
        for model in models:
            figure(model, [f for f in shown if f["model"] == model][:n_fig], tmp / f"fig-uncertainty-{model}.png")
    return summary
