"""Negative control: a generator trained on T1 / PET pairs shuffled between subjects must not beat the linear map.

For one fold of a finished (or at least preprocessed and split) results tree: builds the shuffled tree
(``mrisynth.synthesis.control.shuffled_results``: every training subject gets another training subject's PET;
validation and test subjects keep their own), trains ``--model`` there with the config's settings, imputes
the fold's test subjects, and scores them with ``evaluate-synthesis`` against their true PET next to the
linear map fit on the true pairs (and the oracle, on a phantom). With ``--with-true`` the same model is also
trained on the true pairs (in a copy), so the two rows differ only in the pairing.

    .venv/bin/python benchmarks/shuffled_pairs.py --config configs/demo.yaml --results results --fold 0

Writes ``<results>/negative_control/`` (trees, table.md) and prints the table; the meta-ROI RMSE and the
shares are the numbers to read: the shuffled row must show no gain over linear_regression.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path


def train_and_impute(cfg: dict, model: str, tree: Path, fold: int, steps: int | None) -> Path:
    from mrisynth.synthesis.impute import impute_fold
    from mrisynth.synthesis.paths import imputed_dir
    from mrisynth.synthesis.settings import model_settings
    from mrisynth.synthesis.train import train_fold

    manifest = tree / "manifest" / "manifest.csv"
    settings = model_settings(cfg, model, steps=steps)  # imputed as the pipeline does (K draws: their mean)
    train_fold(cfg, settings, tree, manifest, fold, progress=False)
    impute_fold(cfg, settings, tree, manifest, fold, progress=False, source=cfg["synthesis"]["sample_source"])
    return imputed_dir(tree, model, fold)


def main() -> None:
    from mrisynth.config import load_config
    from mrisynth.synthesis.control import shuffled_results
    from mrisynth.synthesis.evaluate import evaluate
    from mrisynth.synthesis.paths import imputed_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="configs/demo.yaml")
    ap.add_argument("--results", default="results")
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--model", default="pix2pix")
    ap.add_argument("--steps", type=int, default=None, help="training steps (default: the config's)")
    ap.add_argument("--with-true", action="store_true", help="also train on the true pairs, for a row that differs only in pairing")
    ap.add_argument("--max-stage-corr", type=float, default=None,
                    help="shuffle so that |r| between the MRI's and the PET's disease stage is at most this (rows and "
                         "folders get the suffix _uncorr)")
    args = ap.parse_args()
    cfg = load_config(args.config)
    results = Path(args.results)
    base = results / "negative_control"
    res_mm = cfg["preprocess"]["resolution_mm"]
    split = results / "splits" / f"fold-{args.fold}.json"
    manifest = results / "manifest" / "manifest.csv"
    tag = "_uncorr" if args.max_stage_corr is not None else ""
    rows = {f"{args.model}_shuffled{tag}": (base / f"shuffled{tag}", True)}
    if args.with_true:
        rows[f"{args.model}_true"] = (base / "true", False)
    for tree, shuffle in rows.values():
        shuffled_results(results, manifest, split, res_mm, tree, seed=int(cfg["seed"]), shuffle=shuffle,
                         max_stage_corr=args.max_stage_corr)
    for name, (tree, _) in rows.items():
        imputed = train_and_impute(cfg, args.model, tree, args.fold, args.steps)
        dest = imputed_dir(results, name, args.fold)  # scored in the true tree under the row's name
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(imputed, dest)
        for f in dest.glob(f"*desc-synth{args.model}_*"):
            f.rename(f.with_name(f.name.replace(f"desc-synth{args.model}_", f"desc-synth{name}_")))
    summary = evaluate(cfg, results, manifest, [split], list(rows), base / f"evaluation{tag}", progress=False)
    print((base / f"evaluation{tag}" / "table.md").read_text())
    cols = ["method", "mae_mean", "ssim_mean", "metaroi_rmse", "r2_brain", "r2_metaroi", *[c for c in summary if c.startswith("share_")][:3]]
    print(summary[[c for c in cols if c in summary]].to_string(index=False))


if __name__ == "__main__":
    main()
