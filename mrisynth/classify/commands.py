"""CLI commands of the diagnosis stage: ``split``, ``landmarks``, ``classify``, ``summarize``."""

from __future__ import annotations

import argparse


def _config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="YAML config (default: schema defaults)")


def add_split(sub) -> None:
    p = sub.add_parser("split", help="subject-level stratified k-fold train/val/test splits, one JSON per fold")
    p.add_argument("--manifest", required=True, help="validated manifest CSV (results/manifest/manifest.csv)")
    p.add_argument("--out-dir", required=True, help="folder for fold-<k>.json (k = 0..K-1)")
    _config_arg(p)
    p.set_defaults(func=run_split)


def run_split(args) -> int:
    from mrisynth.classify.splits import write_splits
    from mrisynth.config import load_config

    cfg = load_config(args.config)
    sc = cfg["split"]
    paths = write_splits(args.manifest, args.out_dir, sc["k"], cfg["seed"], sc["val_fraction"], sc["stratify_pet"])
    print(f"wrote {len(paths)} folds to {args.out_dir}")
    return 0
