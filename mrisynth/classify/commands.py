"""CLI commands of the diagnosis stage: ``landmarks``, ``classify``, ``summarize``."""

from __future__ import annotations

import argparse


def _config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="YAML config (default: schema defaults)")


def _common_paths(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fold", type=int, required=True, help="fold number k (reads <results>/splits/fold-<k>.json)")
    p.add_argument("--results", default=None, help="results folder (default: the config's `results`)")
    p.add_argument("--manifest", default=None, help="validated manifest (default: <results>/manifest/manifest.csv)")
    p.add_argument("--split", default=None, help="fold file (default: <results>/splits/fold-<k>.json)")
    p.add_argument("--out-dir", default=None, help="output folder (default under <results>/classify/)")
    _config_arg(p)


def _resolve(args, cfg, default_out: str):
    from pathlib import Path

    results = Path(args.results or cfg["results"])
    manifest = Path(args.manifest or results / "manifest" / "manifest.csv")
    split = Path(args.split or results / "splits" / f"fold-{args.fold}.json")
    out = Path(args.out_dir or results / default_out)
    return results, manifest, split, out


def add_landmarks(sub) -> None:
    p = sub.add_parser("landmarks", help="landmarks of one fold from a voxel-wise statistic on its TRAINING subjects' T1")
    _common_paths(p)
    p.set_defaults(func=run_landmarks)


def run_landmarks(args) -> int:
    import numpy as np

    from mrisynth.classify.data import load_stack, subject_images
    from mrisynth.classify.landmarks import DISEASE_AXIS, detect_landmarks, grey_matter_fraction, plot_landmarks
    from mrisynth.cohort.splits import load_split
    from mrisynth.cohort.table import read_cohort
    from mrisynth.config import load_config
    from mrisynth.errors import InputError
    from mrisynth.io.atomic import atomic_dir
    from mrisynth.io.nifti import save_nifti

    cfg = load_config(args.config)
    lc = cfg["classify"]["landmarks"]
    results, manifest, split_path, out = _resolve(args, cfg, f"classify/landmarks/fold-{args.fold}")
    split = load_split(split_path)
    cohort = read_cohort(manifest)
    train = cohort[cohort["participant_id"].isin(split.train)]
    axis = lc["statistic"] == "disease_axis"
    if axis:  # every training subject, scored along the disease axis
        score = train["diagnosis"].map(DISEASE_AXIS).to_numpy(float)
        is_a = None
        if len(score) < 3 or len(set(score)) < 2:
            raise InputError(f"landmarks fold {args.fold}: the disease-axis statistic needs >= 3 training subjects "
                             f"of >= 2 diagnoses, got {train['diagnosis'].value_counts().to_dict()}")
        what = f"disease axis over {len(score)} training subjects ({', '.join(f'{d} {c}' for d, c in train['diagnosis'].value_counts().sort_index().items())})"
    else:
        train = train[train["diagnosis"].isin(lc["group_a"] + lc["group_b"])]
        is_a, score = train["diagnosis"].isin(lc["group_a"]).to_numpy(), None
        if is_a.sum() < 1 or (~is_a).sum() < 1 or len(is_a) < 3:
            raise InputError(f"landmarks fold {args.fold}: need >= 1 training subject per group and >= 3 in all: "
                             f"{lc['group_a']} ({is_a.sum()}) and {lc['group_b']} ({(~is_a).sum()})")
        what = f"{'+'.join(lc['group_a'])} ({is_a.sum()}) vs {'+'.join(lc['group_b'])} ({(~is_a).sum()}) training subjects"
    paths = subject_images(results, train, cfg["preprocess"]["resolution_mm"])
    ids = train["participant_id"].tolist()
    t1, affine = load_stack([paths[i].t1 for i in ids], "preprocessed T1")
    masks, _ = load_stack([paths[i].mask for i in ids], "brain mask")
    mask = masks.mean(0) >= 0.5
    search = grey_matter_fraction(affine, mask.shape) >= lc["grey_matter"] if lc["grey_matter"] > 0 else None
    table, t = detect_landmarks(t1, is_a, None if is_a is None else ~is_a, mask, affine, lc["n"], lc["min_distance_mm"],
                                lc["smooth_fwhm_mm"], score=score, search=search, adjust_global=lc["adjust_global"],
                                direction=lc["direction"])
    if table.empty:
        raise InputError(f"landmarks fold {args.fold}: no local extremum found in the brain mask")
    with atomic_dir(out) as tmp:
        table.to_csv(tmp / "landmarks.csv", index=False)
        save_nifti(t, affine, tmp / "tmap.nii.gz", dtype=np.float32)
        plot_landmarks(t1.mean(0), table, tmp / "landmarks.png", f"fold {args.fold}: top {len(table)} landmarks, {what}")
    print(f"fold {args.fold}: {len(table)} landmarks from the {what} -> {out}")
    return 0


def add_classify(sub) -> None:
    p = sub.add_parser("classify", help="train one classifier on one fold in one or more scenarios; write test predictions")
    _common_paths(p)
    p.add_argument("--scenario", required=True, nargs="+",
                   help="mri_only | mri+real_pet | mri+zero_fill | mri+mean_pet | mri+true_pet | mri+imputed_linear | "
                        "mri+imputed_<model> | mri+multi_imputed_<model>; several: one after the other in this process "
                        "(each as if run alone), each into its default folder")
    p.add_argument("--classifier", default="landmark", choices=["landmark", "regional", "dsnet"],
                   help="landmark: multi-scale multi-instance CNN; regional: ROI means + logistic regression; "
                        "dsnet: whole-brain two-branch CNN with a spatial cosine module (classify.dsnet)")
    p.add_argument("--landmarks", default=None,
                   help="landmarks.csv of this fold (default: <results>/classify/landmarks/fold-<k>/landmarks.csv)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.set_defaults(func=run_classify)


def run_classify(args) -> int:
    from pathlib import Path

    from mrisynth.classify.run import classify_fold
    from mrisynth.config import load_config
    from mrisynth.errors import InputError

    cfg = load_config(args.config)
    if args.out_dir and len(args.scenario) > 1:
        raise InputError("--out-dir names one scenario's folder: give a single --scenario with it")
    for scenario in args.scenario:
        results, manifest, split, out = _resolve(args, cfg, f"classify/{args.classifier}/{scenario}/fold-{args.fold}")
        landmarks = Path(args.landmarks or results / "classify" / "landmarks" / f"fold-{args.fold}" / "landmarks.csv")
        pred = classify_fold(cfg, fold=args.fold, scenario=scenario, classifier=args.classifier, results=results,
                             manifest=manifest, split_path=split, landmarks_csv=landmarks, out_dir=out,
                             threads=max(1, args.threads))
        print(f"fold {args.fold} {scenario} {args.classifier}: {len(pred)} test predictions -> {out}")
    return 0


def add_summarize(sub) -> None:
    p = sub.add_parser("summarize", help="scenario table (fold mean +- sd, pooled bootstrap CIs, paired p vs mri_only) + ROC curves")
    p.add_argument("--predictions", nargs="+", required=True, help="predictions.csv files of every classifier/scenario/fold")
    p.add_argument("--out-dir", required=True, help="folder for scenarios.csv, scenarios.md, predictions.csv, roc.png")
    _config_arg(p)
    p.set_defaults(func=run_summarize)


def run_summarize(args) -> int:
    from mrisynth.classify.summarize import summarize
    from mrisynth.config import load_config

    cfg = load_config(args.config)
    table = summarize(args.predictions, args.out_dir, cfg["classify"]["n_bootstrap"], cfg["seed"])
    print(f"{len(table)} rows -> {args.out_dir}/scenarios.md")
    return 0
