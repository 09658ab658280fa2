"""Synthesis evaluation: every test subject of every fold, against its real PET or (phantom) its hidden
true PET, for each synthesis model and two baselines fit on the fold's training subjects:

- ``population_mean``: the voxelwise mean SUVR of the training subjects' real PET (a population template);
- ``linear_regression``: per voxel, SUVR = a + b * T1 fit by least squares over the training subjects.

MAE, PSNR and SSIM (``mrisynth.metrics.image``) inside the subject's brain mask, with an explicit data
range: the reference PET's max - min inside the mask (a column of the table). Paired two-sided Wilcoxon
tests of each model against each baseline over the same subjects; a 3D FID / KID per fold on features of
an autoencoder trained on the fold's training PET (``mrisynth.synthesis.features``).

Disease regions (``mrisynth.synthesis.regional``): meta-ROI SUVR error per diagnosis, between-subject R²
of the deviation from the training mean, hypometabolism z-maps against the training NC. Phantom cohorts
add an ``oracle`` row (``mrisynth.synthesis.oracle``: the subject's achievable PET) and, for every model
and metric, its share of the achievable gain over the linear map; a real cohort has no oracle row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mrisynth.errors import InputError

BASELINES = ("population_mean", "linear_regression")
ORACLE = "oracle"
METRICS = ("mae", "psnr", "ssim")
TESTED = (*METRICS, "metaroi_abs_err")  # paired tests: image metrics and the meta-ROI SUVR error
HIGHER_IS_BETTER = {"mae": False, "psnr": True, "ssim": True, "fid": False, "kid": False, "metaroi_abs_err": False}
#: metrics whose share of the oracle's gain is reported (summary columns)
SHARE_METRICS = ("mae", "ssim", "metaroi_rmse", "r2_brain", "r2_cortex", "r2_metaroi", "metaroi_z_rmse", "dice_z2")


@dataclass
class Baselines:
    mean_pet: np.ndarray
    slope: np.ndarray
    intercept: np.ndarray

    @classmethod
    def fit(cls, t1: np.ndarray, pet: np.ndarray) -> Baselines:
        """t1, pet: (N, X, Y, Z) of the training subjects."""
        t1_mean, pet_mean = t1.mean(0), pet.mean(0)
        var = ((t1 - t1_mean) ** 2).mean(0)
        cov = ((t1 - t1_mean) * (pet - pet_mean)).mean(0)
        slope = np.divide(cov, var, out=np.zeros_like(cov), where=var > 1e-12)  # constant T1 -> the mean
        return cls(pet_mean.astype(np.float32), slope.astype(np.float32), (pet_mean - slope * t1_mean).astype(np.float32))

    def predict(self, name: str, t1: np.ndarray) -> np.ndarray:
        if name == "population_mean":
            return self.mean_pet
        if name == "linear_regression":
            return self.intercept + self.slope * t1
        raise KeyError(name)


def image_metrics(pred: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    from mrisynth.metrics.image import mae, psnr, ssim

    inside = ref[mask]
    data_range = float(inside.max() - inside.min())
    return {
        "mae": mae(pred, ref, mask),
        "psnr": psnr(pred, ref, mask, data_range=data_range),
        "ssim": ssim(pred, ref, mask, data_range=data_range),
        "data_range": data_range,
    }


def evaluate_fold(cfg: dict, results: Path, manifest: Path, split_path: Path, models: list[str],
                  oracle=None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(per-subject metrics, per-method FID/KID of this fold, arrays for the figures).

    ``oracle``: a :class:`mrisynth.synthesis.oracle.PhantomOracle` (phantom cohorts), else no oracle row.
    """
    from mrisynth.metrics.distribution import fid, kid
    from mrisynth.synthesis.features import prepare_volumes, train_encoder
    from mrisynth.synthesis.intensity import IntensityMapping
    from mrisynth.synthesis.paths import imputed_pet_path
    from mrisynth.io.nifti import load_array
    from mrisynth.synthesis.regional import NormalReference, Regions, subject_regional
    from mrisynth.synthesis.subjects import fold_subjects, reference_pet, require_files

    ec = cfg["synthesis"]["evaluation"]
    res_mm = cfg["preprocess"]["resolution_mm"]
    fs = fold_subjects(results, manifest, split_path, res_mm)
    require_files(fs.train, "t1", "mask", "pet")
    train_t1 = np.stack([load_array(s.paths.t1)[0] for s in fs.train])
    train_pet = np.stack([load_array(s.paths.pet)[0] for s in fs.train])
    train_mask = np.stack([load_array(s.paths.mask)[0] > 0 for s in fs.train])
    baselines = Baselines.fit(train_t1, train_pet)
    mapping = IntensityMapping.fit(train_t1, train_pet, train_mask, cfg["synthesis"]["intensity_percentile"])
    regions = Regions.on_grid(load_array(fs.train[0].paths.pet)[1], train_pet.shape[1:])
    nc = NormalReference.fit(train_pet[[s.diagnosis == "NC" for s in fs.train]], regions)
    methods = (*models, *BASELINES, *((ORACLE,) if oracle is not None else ()))

    rows, refs, preds, figure, zfigure = [], [], {m: [] for m in methods}, [], {}
    for s in fs.test:
        if (found := reference_pet(s)) is None:
            continue
        ref_path, reference = found
        require_files([s], "t1", "mask")
        ref, affine = load_array(ref_path)
        t1, _ = load_array(s.paths.t1)
        mask = load_array(s.paths.mask)[0] > 0
        refs.append(ref)
        subject_preds = {}
        for method in methods:
            if method in models:
                path = imputed_pet_path(results, method, fs.fold, s.participant_id, s.session_id, res_mm)
                if not path.exists():
                    raise InputError(f"evaluate-synthesis: imputed PET {path} does not exist (run `mrisynth impute --model {method} --fold {fs.fold}`)")
                pred, pred_affine = load_array(path)
                if pred.shape != ref.shape or not np.allclose(pred_affine, affine, atol=1e-3):
                    raise InputError(f"evaluate-synthesis: {path} is not on the grid of {ref_path}")
            elif method == ORACLE:
                pred = oracle.pet(s.participant_id, s.paths.t1_xfm, s.paths.pet_xfm if s.has_pet else s.paths.truth_pet_xfm)
            else:
                pred = baselines.predict(method, t1)
            preds[method].append(pred)
            subject_preds[method] = pred
            rows.append({"fold": fs.fold, "participant_id": s.participant_id, "diagnosis": s.diagnosis,
                         "reference": reference, "method": method, **image_metrics(pred, ref, mask),
                         **subject_regional(pred, ref, baselines.mean_pet, mask, regions, nc)})
        if len(figure) < ec["figure_subjects"]:
            figure.append({"id": s.participant_id, "fold": fs.fold, "t1": t1, "ref": ref, "mask": mask, "preds": subject_preds})
        if nc is not None and s.diagnosis in ("AD", "NC") and s.diagnosis not in zfigure:
            zfigure[s.diagnosis] = {"id": s.participant_id, "fold": fs.fold, "diagnosis": s.diagnosis,
                                    "mask": mask & regions.cortex, "meta_roi": regions.meta_roi, "truth": nc.z(ref),
                                    "z": {m: nc.z(p) for m, p in subject_preds.items() if m != "population_mean"}}
    if not refs:
        raise InputError(f"evaluate-synthesis: fold {fs.fold} has no test subject with a real or true PET")

    encoder = train_encoder(mapping.pet_to_net(np.stack([a for a in train_pet])).numpy(), ec["encoder_steps"],
                            ec["encoder_downsample"], seed=cfg["seed"] + fs.fold)
    real_feat = encoder.features(prepare_volumes(mapping.pet_to_net(np.stack(refs)).numpy(), ec["encoder_downsample"]))
    dist = []
    for method, volumes in preds.items():
        fake_feat = encoder.features(prepare_volumes(mapping.pet_to_net(np.stack(volumes)).numpy(), ec["encoder_downsample"]))
        kid_mean, kid_sd = kid(real_feat, fake_feat, n_subsets=ec["kid_subsets"], subset_size=len(refs), seed=cfg["seed"])
        dist.append({"fold": fs.fold, "method": method, "n": len(refs), "fid": fid(real_feat, fake_feat),
                     "kid": kid_mean, "kid_sd": kid_sd})
    return pd.DataFrame(rows), pd.DataFrame(dist), {"subjects": figure, "zmaps": zfigure}


def paired_tests(metrics: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """Wilcoxon signed-rank, each model vs each baseline, per metric, paired over (fold, subject)."""
    from mrisynth.metrics.stats import paired_wilcoxon

    metrics = metrics.assign(metaroi_abs_err=metrics["metaroi_err"].abs())
    wide = {m: metrics.pivot(index=["fold", "participant_id"], columns="method", values=m) for m in TESTED}
    rows = []
    for model in models:
        for base in BASELINES:
            for metric in TESTED:
                if wide[metric][[model, base]].isna().any().any():
                    continue  # e.g. no meta-ROI on this grid
                t = paired_wilcoxon(wide[metric][model], wide[metric][base])
                better = (t.median_difference > 0) == HIGHER_IS_BETTER[metric] and t.median_difference != 0
                rows.append({"model": model, "baseline": base, "metric": metric, "n": t.n,
                             "median_difference": t.median_difference, "statistic": t.statistic,
                             "p_value": t.p_value, "model_better": bool(better)})
    return pd.DataFrame(rows)


def summarize(metrics: pd.DataFrame, dist: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd per method over all evaluated subjects (image metrics) and over folds (FID/KID), the
    disease-region numbers (``regional.regional_summary``) and, with an oracle row, each method's share of
    the oracle's gain over the linear map per metric (``share_<metric>``)."""
    from mrisynth.metrics.regional import oracle_share
    from mrisynth.synthesis.regional import regional_summary

    img = metrics.groupby("method")[[*METRICS, "data_range"]].agg(["mean", "std"])
    img.columns = [f"{a}_{b}" for a, b in img.columns]
    img["n_subjects"] = metrics.groupby("method").size()
    dst = dist.groupby("method")[["fid", "kid"]].agg(["mean", "std"])
    dst.columns = [f"{a}_{b}" for a, b in dst.columns]
    out = img.join(dst).join(regional_summary(metrics).set_index("method").drop(columns="n")).reset_index()
    if ORACLE in set(out["method"]):
        by = out.set_index("method")
        for metric in SHARE_METRICS:
            col = metric if metric in by else f"{metric}_mean"
            out[f"share_{metric}"] = [oracle_share(by.loc[m, col], by.loc["linear_regression", col], by.loc[ORACLE, col])
                                      for m in out["method"]]
    return out


def markdown_table(summary: pd.DataFrame, tests: pd.DataFrame, metrics: pd.DataFrame, oracle_note: str = "") -> str:
    n_real = metrics.loc[metrics["reference"] == "real", ["fold", "participant_id"]].drop_duplicates().shape[0]
    n_truth = metrics.loc[metrics["reference"] == "truth", ["fold", "participant_id"]].drop_duplicates().shape[0]
    lines = [
        "# MRI -> PET synthesis: test subjects of every fold",
        "",
        f"References: {n_real} real PET, {n_truth} hidden true PET (phantom). Metrics inside the brain mask; "
        "PSNR and SSIM use data range = the reference SUVR's max - min inside the mask, per subject "
        f"(mean {metrics['data_range'].mean():.3f} SUVR). FID/KID: features of a 3D autoencoder trained on "
        "each fold's training PET; mean over folds.",
        "",
        "| method | MAE (SUVR) | PSNR (dB) | SSIM | FID | KID | n |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary.itertuples():
        lines.append(f"| {r.method} | {r.mae_mean:.4f} ± {r.mae_std:.4f} | {r.psnr_mean:.2f} ± {r.psnr_std:.2f} | "
                     f"{r.ssim_mean:.4f} ± {r.ssim_std:.4f} | {r.fid_mean:.4g} | {r.kid_mean:.4g} | {r.n_subjects} |")
    lines += ["", "## Disease regions", "",
              "Meta-ROI: posterior cingulate, precuneus and temporoparietal cortex (AD signature, grey matter); "
              "control: sensorimotor cortex. RMSE / bias of the subject's mean SUVR there (pred - reference), "
              "per diagnosis; R²: between-subject deviation from the training mean PET (pooled over subjects and "
              "voxels; 0 = population mean); z: hypometabolism z-maps against each fold's training NC, RMSE of "
              "the meta-ROI z and Dice of z < -2 in the cortex.", "",
              "| method | meta-ROI RMSE | bias | RMSE NC / sMCI / pMCI / AD | bias NC / sMCI / pMCI / AD | control RMSE | "
              "R² brain | R² cortex | R² meta-ROI | meta-ROI z RMSE | Dice z<-2 |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in summary.to_dict("records"):
        per_dx = " / ".join(f"{r[f'metaroi_rmse_{d}']:.3f}" for d in ("NC", "sMCI", "pMCI", "AD"))
        bias_dx = " / ".join(f"{r[f'metaroi_bias_{d}']:+.3f}" for d in ("NC", "sMCI", "pMCI", "AD"))
        lines.append(f"| {r['method']} | {r['metaroi_rmse']:.4f} | {r['metaroi_bias']:+.4f} | {per_dx} | {bias_dx} | "
                     f"{r['control_rmse']:.4f} | {r['r2_brain']:.3f} | {r['r2_cortex']:.3f} | {r['r2_metaroi']:.3f} | "
                     f"{r['metaroi_z_rmse']:.2f} | {r['dice_z2']:.3f} |")
    lines += [""]
    if "share_mae" in summary:
        lines += ["Share of the oracle's achievable gain over the linear map, (err_linear - err_model) / "
                  "(err_linear - err_oracle), per metric (1 = the oracle, 0 = the linear map, < 0 worse than it):", "",
                  "| method | " + " | ".join(SHARE_METRICS) + " |", "|---|" + "---:|" * len(SHARE_METRICS)]
        for r in summary.to_dict("records"):
            lines.append(f"| {r['method']} | " + " | ".join(f"{r[f'share_{m}']:+.2f}" for m in SHARE_METRICS) + " |")
        lines += [""]
    if oracle_note:
        lines += [oracle_note, ""]
    lines += ["Paired two-sided Wilcoxon signed-rank tests (model - baseline; metaroi_abs_err: |meta-ROI SUVR error|):", "",
              "| model | baseline | metric | median diff | p | model better |", "|---|---|---|---:|---:|---|"]
    for r in tests.itertuples():
        lines.append(f"| {r.model} | {r.baseline} | {r.metric} | {r.median_difference:+.4g} | {r.p_value:.3g} | "
                     f"{'yes' if r.model_better else 'no'} |")
    return "\n".join(lines) + "\n"


def figure(model: str, subjects: list[dict], path: Path) -> None:
    """Rows = subjects; columns = MRI, reference PET, synthetic PET, synthetic - reference (mid axial slice)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mrisynth.io.atomic import save_figure
    from mrisynth.synthesis.figures import draw_panels

    fig, axes = plt.subplots(len(subjects), 4, figsize=(10, 2.6 * len(subjects)), squeeze=False)
    for row, s in zip(axes, subjects):
        z = s["ref"].shape[2] // 2
        ref, pred = s["ref"][:, :, z], s["preds"][model][:, :, z]
        vmax = float(np.percentile(s["ref"][s["mask"]], 99.5))
        diff = np.where(s["mask"][:, :, z], pred - ref, 0.0)
        lim = max(float(np.abs(diff).max()), 1e-6)
        draw_panels(row, [(s["t1"][:, :, z], "gray", 0, None, f"MRI\nsub-{s['id']} (fold {s['fold']})"),
                          (ref, "hot", 0, vmax, "reference PET"), (pred, "hot", 0, vmax, f"{model} PET"),
                          (diff, "coolwarm", -lim, lim, "synthetic - reference")])
    save_figure(fig, path)


def zmap_figure(subjects: dict, path: Path) -> None:
    """Rows = an AD and an NC test subject; columns = hypometabolism z-maps of the true PET, the linear map,
    each model (and the oracle), on the axial slice through the most meta-ROI voxels; cortex only."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mrisynth.io.atomic import save_figure
    from mrisynth.synthesis.figures import draw_panels

    shown = [subjects[d] for d in ("AD", "NC") if d in subjects]
    if not shown:
        return
    methods = ["linear_regression", *[m for m in shown[0]["z"] if m not in BASELINES]]
    fig, axes = plt.subplots(len(shown), 1 + len(methods), figsize=(2.4 * (1 + len(methods)), 2.6 * len(shown)), squeeze=False)
    for row, s in zip(axes, shown):
        z = int(np.argmax(s["meta_roi"].sum((0, 1))))
        panels = [(np.where(s["mask"][:, :, z], s["truth"][:, :, z], 0.0), "RdBu_r", -4, 4,
                   f"true PET z\nsub-{str(s['id']).removeprefix('sub-')} {s['diagnosis']} (fold {s['fold']})")]
        panels += [(np.where(s["mask"][:, :, z], s["z"][m][:, :, z], 0.0), "RdBu_r", -4, 4, f"{m} z") for m in methods]
        draw_panels(row, panels)
    fig.suptitle("hypometabolism z-maps vs training NC (blue: below normal; cortex)", fontsize=9)
    save_figure(fig, path)


def evaluate(cfg: dict, results: Path, manifest: Path, split_paths: list[Path], models: list[str], out_dir: Path,
             progress: bool = True) -> pd.DataFrame:
    """Evaluate all folds; write metrics.csv, distribution.csv, summary.csv, tests.csv, table.md, fig-<model>.png,
    fig-zmaps.png. A phantom cohort (``cohort: phantom``) gets the oracle row; a real one does not (said in table.md)."""
    from tqdm.auto import tqdm

    from mrisynth.io.atomic import atomic_dir

    if cfg["cohort"] == "phantom":
        from mrisynth.synthesis.oracle import PhantomOracle

        oracle, note = PhantomOracle(cfg, manifest), ""
    else:
        oracle, note = None, ("No oracle row: the cohort is a real manifest, whose achievable PET is unknown "
                              "(only a phantom cohort can be re-simulated without the parts no MRI shows).")
    per_subject, per_fold, figure_subjects, zmaps = [], [], [], {}
    for split_path in tqdm(split_paths, desc="evaluate folds", disable=not progress):
        m, d, extra = evaluate_fold(cfg, results, manifest, split_path, models, oracle)
        per_subject.append(m)
        per_fold.append(d)
        figure_subjects += extra["subjects"]
        zmaps = {**extra["zmaps"], **zmaps}  # the first fold's AD / NC subject
    metrics, dist = pd.concat(per_subject, ignore_index=True), pd.concat(per_fold, ignore_index=True)
    summary = summarize(metrics, dist)
    tests = paired_tests(metrics, models)
    shown = figure_subjects[: cfg["synthesis"]["evaluation"]["figure_subjects"]]
    with atomic_dir(out_dir) as tmp:
        metrics.to_csv(tmp / "metrics.csv", index=False)
        dist.to_csv(tmp / "distribution.csv", index=False)
        summary.to_csv(tmp / "summary.csv", index=False)
        tests.to_csv(tmp / "tests.csv", index=False)
        (tmp / "table.md").write_text(markdown_table(summary, tests, metrics, note))
        for model in models:
            figure(model, shown, tmp / f"fig-{model}.png")
        zmap_figure(zmaps, tmp / "fig-zmaps.png")
    return summary
