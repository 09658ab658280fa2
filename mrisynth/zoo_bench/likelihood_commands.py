"""``mrisynth zoo likelihood-train`` and ``mrisynth zoo likelihood-evaluate``: the likelihood half of the zoo
benchmark (:mod:`mrisynth.zoo_bench.likelihood`), added to the ``zoo`` command. Imports stay light
until a command runs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RUN_NAMES = "rbm, dbn, dbm, dae, gsn, vae, pixelcnn, pixelrnn-row, pixelrnn-diagonal"


def add_likelihood_parsers(sub) -> None:
    p = sub.add_parser("likelihood-train", help="train one likelihood-model run on binarised 8x8 digits (fixed budget)")
    p.add_argument("--run", required=True, help=f"run name, i.e. the model and its documented configuration: {RUN_NAMES}")
    p.add_argument("--out", required=True, help="run folder: checkpoint.pt, losses.csv, run.json, curve.png")
    p.add_argument("--config", help="YAML config (zoo.likelihood_steps_scale, seed)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: fastest for these small nets)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    p.set_defaults(func=run_likelihood_train)

    p = sub.add_parser(
        "likelihood-evaluate", help="table 1 (test loss, likelihoods) and table 2 (quality, diversity) of likelihood runs"
    )
    p.add_argument("--runs", nargs="+", required=True, help="run folders written by `mrisynth zoo likelihood-train`")
    p.add_argument("--classifier", required=True, help="classifier weights from `mrisynth zoo classifier`")
    p.add_argument("--out-dir", required=True, help="writes likelihood_table.{csv,md}, quality_table.{csv,md}, samples/<run>.png")
    p.add_argument("--config", help="YAML config (zoo.likelihood_n_samples, likelihood_ais_betas, likelihood_iwae_k, seed)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.set_defaults(func=run_likelihood_evaluate)


def run_likelihood_train(args: argparse.Namespace) -> int:
    import torch

    from mrisynth.config import load_config
    from mrisynth.errors import InputError
    from mrisynth.zoo_bench.likelihood import RUNS, train_run

    if args.run not in RUNS:
        raise InputError(f"unknown likelihood run {args.run!r}; known: {', '.join(RUNS)}")
    torch.set_num_threads(max(1, args.threads))
    config = load_config(args.config)
    info = train_run(args.run, args.out, config["zoo"]["likelihood_steps_scale"], config["seed"], progress=not args.no_progress)
    print(json.dumps({k: info[k] for k in ("run", "steps", "wall_s")}))
    return 0


def run_likelihood_evaluate(args: argparse.Namespace) -> int:
    import torch

    from mrisynth.config import load_config
    from mrisynth.errors import InputError
    from mrisynth.seeding import seed_everything
    from mrisynth.zoo_bench.likelihood import RUN_INFO, TABLE1, TABLE2, evaluate, write_table
    from mrisynth.zoo_bench.features import load_classifier

    torch.set_num_threads(max(1, args.threads))
    config = load_config(args.config)
    zoo = config["zoo"]
    run_dirs = {}
    for folder in map(Path, args.runs):
        if not (folder / RUN_INFO).exists():
            raise InputError(f"{folder}: not a finished likelihood run (no {RUN_INFO})")
        run_dirs[json.loads((folder / RUN_INFO).read_text())["run"]] = folder
    if not Path(args.classifier).exists():
        raise InputError(f"classifier {args.classifier} not found: run `mrisynth zoo classifier --out {args.classifier}`")
    seed_everything(config["seed"])
    out = Path(args.out_dir)
    t1, t2 = evaluate(
        run_dirs,
        load_classifier(args.classifier),
        out / "samples",
        zoo["likelihood_n_samples"],
        ais_betas=zoo["likelihood_ais_betas"],
        iwae_k=zoo["likelihood_iwae_k"],
    )
    write_table(t1, TABLE1, out / "likelihood_table")
    write_table(t2, TABLE2, out / "quality_table")
    print((out / "likelihood_table.md").read_text() + "\n" + (out / "quality_table.md").read_text(), end="")
    return 0
