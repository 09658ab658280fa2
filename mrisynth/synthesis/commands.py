"""CLI commands of the synthesis stage: ``train-synthesis``, ``impute``, ``evaluate-synthesis``."""

from __future__ import annotations

import argparse

MODEL_NAMES = ("pix2pix", "cyclegan", "fgan", "fgan_nofc")  # = models.MODELS (kept light: no torch import here)
MODEL_HELP = ("synthesis model: pix2pix (U-Net + PatchGAN + L1, paired), cyclegan (ResNet generators, cycle loss), "
              "fgan (pix2pix + DSNet feature consistency, trained jointly with the DSNet) or fgan_nofc (fgan with "
              "feature-consistency weight 0, the ablation)")


def _common(p: argparse.ArgumentParser, fold: bool = True) -> None:
    if fold:
        p.add_argument("--fold", type=int, required=True, help="fold number k (reads <results>/splits/fold-<k>.json)")
    p.add_argument("--config", default=None, help="YAML config (default: schema defaults)")
    p.add_argument("--results", default=None, help="results folder (default: the config's `results`)")
    p.add_argument("--manifest", default=None, help="validated manifest (default: <results>/manifest/manifest.csv)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")


def _setup(args):
    from pathlib import Path

    import torch

    from mrisynth.config import load_config

    torch.set_num_threads(max(1, args.threads))
    cfg = load_config(args.config)
    results = Path(args.results or cfg["results"])
    manifest = Path(args.manifest or results / "manifest" / "manifest.csv")
    return cfg, results, manifest


def _split(results, fold: int):
    return results / "splits" / f"fold-{fold}.json"


def add_train(sub) -> None:
    p = sub.add_parser("train-synthesis", help="train a 3D synthesis model (Pix2Pix, CycleGAN, FGAN) on one fold's training subjects with T1 and PET")
    p.add_argument("--model", required=True, choices=MODEL_NAMES, help=MODEL_HELP)
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the config's synthesis.steps)")
    _common(p)
    p.set_defaults(func=run_train)


def run_train(args) -> int:
    from mrisynth.synthesis.paths import fold_dir
    from mrisynth.synthesis.train import train_fold

    cfg, results, manifest = _setup(args)
    if args.model not in cfg["synthesis"]["models"]:
        print(f"note: {args.model} is not in synthesis.models {cfg['synthesis']['models']}; training it anyway")
    out = fold_dir(results, args.model, args.fold)
    best = train_fold(cfg, args.model, results, manifest, _split(results, args.fold), out, args.steps, not args.no_progress)
    if best is None:  # a torchrun process other than rank 0
        return 0
    print(f"{args.model} fold {args.fold}: best step {best['step']} (val PSNR {best['val_psnr']:.2f} dB, "
          f"SSIM {best['val_ssim']:.4f}) -> {out / 'best.pt'}")
    return 0


def add_impute(sub) -> None:
    p = sub.add_parser("impute", help="synthetic PET for every subject of a fold without real PET and every test subject")
    p.add_argument("--model", required=True, choices=MODEL_NAMES, help=MODEL_HELP)
    p.add_argument("--checkpoint", default=None, help="generator checkpoint (default: <results>/synthesis/<model>/fold-<k>/best.pt)")
    p.add_argument("--samples", type=int, default=None,
                   help="multiple imputation: K >= 2 draws per subject (network loaded once, K forward passes); writes "
                        "the mean (as the imputed PET), the sd and the K draws as 4D NIfTI; 0 = one imputation "
                        "(default: the config's synthesis.samples.<model>, else 0)")
    p.add_argument("--sample-source", choices=["noise", "dropout"], default=None,
                   help="randomness of the draws: the generator's injected noise, or test-time dropout "
                        "(default: the config's synthesis.sample_source)")
    _common(p)
    p.set_defaults(func=run_impute)


def run_impute(args) -> int:
    from pathlib import Path

    from mrisynth.synthesis.impute import impute_fold
    from mrisynth.synthesis.paths import best_checkpoint, imputation_done, imputed_dir

    cfg, results, manifest = _setup(args)
    ckpt = Path(args.checkpoint or best_checkpoint(results, args.model, args.fold))
    sc = cfg["synthesis"]
    samples = args.samples if args.samples is not None else int(sc["samples"].get(args.model, 0))
    source = args.sample_source or sc["sample_source"]
    rows = impute_fold(cfg, args.model, results, manifest, _split(results, args.fold), ckpt,
                       imputed_dir(results, args.model, args.fold), imputation_done(results, args.model, args.fold),
                       not args.no_progress, samples=samples, source=source)
    draws = f" x {samples} draws ({source})" if samples else ""
    print(f"{args.model} fold {args.fold}: imputed {len(rows)} PET volumes{draws} -> {imputed_dir(results, args.model, args.fold)}")
    return 0


def add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate-synthesis", help="MAE/PSNR/SSIM, FID/KID and Wilcoxon tests of every model vs baselines on test subjects")
    p.add_argument("--models", nargs="+", default=None, help="models to evaluate (default: the config's synthesis.models)")
    p.add_argument("--folds", type=int, nargs="+", default=None, help="folds (default: 0..split.k-1)")
    p.add_argument("--out-dir", default=None, help="output folder (default: <results>/synthesis/evaluation)")
    _common(p, fold=False)
    p.set_defaults(func=run_evaluate)


def run_evaluate(args) -> int:
    from pathlib import Path

    from mrisynth.synthesis.evaluate import evaluate
    from mrisynth.synthesis.paths import evaluation_dir

    cfg, results, manifest = _setup(args)
    models = args.models or list(cfg["synthesis"]["models"])
    folds = args.folds if args.folds is not None else list(range(cfg["split"]["k"]))
    out = Path(args.out_dir or evaluation_dir(results))
    summary = evaluate(cfg, results, manifest, [_split(results, f) for f in folds], models, out, not args.no_progress)
    print(summary[["method", "mae_mean", "psnr_mean", "ssim_mean", "fid_mean", "kid_mean"]].to_string(index=False))
    print(f"-> {out}")
    return 0
