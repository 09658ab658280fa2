"""CLI commands of the synthesis stage: ``train-synthesis``, ``impute``, ``evaluate-synthesis``,
``calibrate-synthesis``. Options shared by all four are declared once (:func:`_common`); a model's
settings come from :func:`mrisynth.synthesis.settings.model_settings`, which merges ``--steps`` and
``--samples`` into the config's ``synthesis.models.<model>`` section."""

from __future__ import annotations

import argparse

MODEL_HELP = ("synthesis model: pix2pix (U-Net + PatchGAN + L1, paired), cyclegan (ResNet generators, cycle loss), "
              "fgan (pix2pix + DSNet feature consistency, trained jointly with the DSNet) or fgan_nofc (fgan with "
              "feature-consistency weight 0, the ablation)")


def _common(p: argparse.ArgumentParser, fold: bool = True, threads: bool = True) -> None:
    if fold:
        p.add_argument("--fold", type=int, required=True, help="fold number k (reads <results>/splits/fold-<k>.json)")
    else:
        p.add_argument("--folds", type=int, nargs="+", default=None, help="folds (default: 0..split.k-1)")
    p.add_argument("--config", default=None, help="YAML config (default: schema defaults)")
    p.add_argument("--results", default=None, help="results folder (default: the config's `results`)")
    p.add_argument("--manifest", default=None, help="validated manifest (default: <results>/manifest/manifest.csv)")
    if threads:
        p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")


def _model_arg(p: argparse.ArgumentParser) -> None:
    from mrisynth.synthesis.settings import model_names

    p.add_argument("--model", required=True, choices=model_names(), help=MODEL_HELP)


def _setup(args):
    from pathlib import Path

    from mrisynth.config import load_config

    if getattr(args, "threads", None) is not None:
        import torch

        torch.set_num_threads(max(1, args.threads))
    cfg = load_config(args.config)
    results = Path(args.results or cfg["results"])
    manifest = Path(args.manifest or results / "manifest" / "manifest.csv")
    return cfg, results, manifest


def _folds(args, cfg) -> list[int]:
    return args.folds if args.folds is not None else list(range(cfg["split"]["k"]))


def add_train(sub) -> None:
    p = sub.add_parser("train-synthesis", help="train a 3D synthesis model (Pix2Pix, CycleGAN, FGAN) on one fold's training subjects with T1 and PET")
    _model_arg(p)
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the config's synthesis.models.<model>.steps)")
    _common(p)
    p.set_defaults(func=run_train)


def run_train(args) -> int:
    from mrisynth.synthesis.paths import best_checkpoint
    from mrisynth.synthesis.settings import configured_models, model_settings
    from mrisynth.synthesis.train import train_fold

    cfg, results, manifest = _setup(args)
    if args.model not in configured_models(cfg):
        print(f"note: {args.model} is not in synthesis.models {configured_models(cfg)}; training it anyway")
    best = train_fold(cfg, model_settings(cfg, args.model, steps=args.steps), results, manifest, args.fold,
                      not args.no_progress)
    if best is None:  # a torchrun process other than rank 0
        return 0
    print(f"{args.model} fold {args.fold}: best step {best['step']} (val PSNR {best['val_psnr']:.2f} dB, "
          f"SSIM {best['val_ssim']:.4f}) -> {best_checkpoint(results, args.model, args.fold)}")
    return 0


def add_impute(sub) -> None:
    p = sub.add_parser("impute", help="synthetic PET for every subject of a fold without real PET and every test subject")
    _model_arg(p)
    p.add_argument("--checkpoint", default=None, help="generator checkpoint (default: <results>/synthesis/<model>/fold-<k>/best.pt)")
    p.add_argument("--samples", type=int, default=None,
                   help="multiple imputation: K >= 2 draws per subject (network loaded once, K forward passes); writes "
                        "the mean (as the imputed PET), the sd and the K draws as 4D NIfTI; 0 = one imputation "
                        "(default: the config's synthesis.models.<model>.samples)")
    p.add_argument("--sample-source", choices=["noise", "dropout"], default=None,
                   help="randomness of the draws: the generator's injected noise, or test-time dropout "
                        "(default: the config's synthesis.sample_source)")
    _common(p)
    p.set_defaults(func=run_impute)


def run_impute(args) -> int:
    from mrisynth.synthesis.impute import impute_fold
    from mrisynth.synthesis.paths import imputed_dir
    from mrisynth.synthesis.settings import model_settings

    cfg, results, manifest = _setup(args)
    settings = model_settings(cfg, args.model, samples=args.samples)
    source = args.sample_source or cfg["synthesis"]["sample_source"]
    rows = impute_fold(cfg, settings, results, manifest, args.fold, args.checkpoint, not args.no_progress, source)
    draws = f" x {settings.samples} draws ({source})" if settings.samples else ""
    print(f"{args.model} fold {args.fold}: imputed {len(rows)} PET volumes{draws} -> {imputed_dir(results, args.model, args.fold)}")
    return 0


def add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate-synthesis", help="MAE/PSNR/SSIM, FID/KID and Wilcoxon tests of every model vs baselines on test subjects")
    p.add_argument("--models", nargs="+", default=None, help="models to evaluate (default: the config's synthesis.models)")
    p.add_argument("--out-dir", default=None, help="output folder (default: <results>/synthesis/evaluation)")
    _common(p, fold=False)
    p.set_defaults(func=run_evaluate)


def run_evaluate(args) -> int:
    from pathlib import Path

    from mrisynth.cohort.splits import split_path
    from mrisynth.synthesis.evaluate import evaluate
    from mrisynth.synthesis.paths import evaluation_dir
    from mrisynth.synthesis.settings import configured_models

    cfg, results, manifest = _setup(args)
    out = Path(args.out_dir or evaluation_dir(results))
    summary = evaluate(cfg, results, manifest, [split_path(results, f) for f in _folds(args, cfg)],
                       args.models or configured_models(cfg), out, not args.no_progress)
    print(summary[["method", "mae_mean", "psnr_mean", "ssim_mean", "fid_mean", "kid_mean"]].to_string(index=False))
    print(f"-> {out}")
    return 0


def add_calibrate(sub) -> None:
    p = sub.add_parser("calibrate-synthesis", help="coverage and sd-error correlation of the multiple imputations on test subjects",
                       description="Are the multiple imputations' uncertainties honest? Coverage of the predictive "
                                   "intervals and sd-|error| correlation, per voxel and per region, on every test subject "
                                   "of every fold against its real PET or (phantom) its hidden true PET.")
    p.add_argument("--models", nargs="+", default=None, help="models (default: those with synthesis.models.<model>.samples >= 2)")
    p.add_argument("--out-dir", default=None, help="output folder (default: <results>/synthesis/calibration)")
    _common(p, fold=False, threads=False)
    p.set_defaults(func=run_calibrate)


def run_calibrate(args) -> int:
    from pathlib import Path

    from mrisynth.cohort.splits import split_path
    from mrisynth.synthesis.calibration import calibrate
    from mrisynth.synthesis.paths import calibration_dir
    from mrisynth.synthesis.settings import sampled_models

    cfg, results, manifest = _setup(args)
    out = Path(args.out_dir or calibration_dir(results))
    summary = calibrate(cfg, results, manifest, [split_path(results, f) for f in _folds(args, cfg)],
                        args.models or sampled_models(cfg), out, not args.no_progress)
    print(summary[["model", "k", "n_subjects", "voxel_coverage", "voxel_spearman", "region_coverage", "region_spearman"]].to_string(index=False))
    print(f"-> {out}")
    return 0
