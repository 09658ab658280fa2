"""``mrisynth zoo list | slices | classifier | train | evaluate | modes | likelihood-train | likelihood-evaluate``:
the 2D generative model zoo benchmark on digits and on axial slices of 3D volumes (the phantom T1s); the
likelihood-* commands live in ``zoo.likelihood_command``, ``modes`` in ``zoo.benchmark_modes``."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "zoo",
        help="generative model zoo: list models, train one on digits, evaluate runs (FID/KID/precision/recall)",
        description="The 2D generative model zoo benchmark on scikit-learn's digits (upsampled to 16x16 or 32x32) "
        "and on axial slices of 3D volumes (the phantom T1s, zoo.phantom_image_size); on the phantom, Pix2Pix and "
        "CycleGAN translate slices into the same planes of paired target volumes (T1 -> PET, `slices --targets`).",
    )
    sub = parser.add_subparsers(dest="zoo_command", metavar="<zoo command>")
    sub.required = True

    p = sub.add_parser("list", help="print the registered model names, one per line")
    p.set_defaults(func=run_list)

    p = sub.add_parser("slices", help="axial slices of 3D NIfTI volumes (e.g. the phantom T1s) as a 2D dataset file")
    p.add_argument("--volumes", nargs="+", required=True, help="NIfTI volumes; split train/test by volume")
    p.add_argument(
        "--targets",
        nargs="+",
        help="paired file: one target volume per --volumes entry, in the same order and on the same voxel grid "
        "(e.g. each T1's co-registered PET); its slices are cut at the same levels and square (the A -> B pairs "
        "of Pix2Pix / CycleGAN on the phantom)",
    )
    p.add_argument("--out", required=True, help="output .npz (images, labels = slice level, volume index, paths; targets with --targets)")
    p.add_argument("--config", help="YAML config (zoo.phantom_image_size, zoo.phantom_slices_per_volume)")
    p.set_defaults(func=run_slices)

    p = sub.add_parser("classifier", help="train the classifier whose features score the samples (digit class or slice level)")
    p.add_argument("--out", required=True, help="where to write the classifier weights (.pt)")
    p.add_argument("--config", help="YAML config (section zoo: image_size, classifier_epochs, and seed)")
    _data_arguments(p)
    p.add_argument(
        "--targets",
        action="store_true",
        help="train on the target images of a paired --slices file (the feature space of the phantom "
        "translations: `evaluate --classifier phantom-target=PATH`)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.set_defaults(func=run_classifier)

    p = sub.add_parser("train", help="train (or resume) one model on digits with the fixed step budget")
    p.add_argument("--model", required=True, help="registered model name (see `mrisynth zoo list`)")
    p.add_argument("--out", required=True, help="run folder: checkpoint.pt, losses.csv, samples/, samples.png, run.json")
    p.add_argument("--config", help="YAML config; section zoo gives steps, batch size, overrides per model, ...")
    p.add_argument("--steps", type=int, help="override zoo.steps (train_step calls = critic updates)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="model constructor option (JSON value), repeatable, e.g. --set loss=\"hinge\"")
    p.add_argument("--device", default=None, help="cpu or cuda (default: the config's device; auto = cuda if available)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    _data_arguments(p)
    p.set_defaults(func=run_train)

    p = sub.add_parser("evaluate", help="score trained runs: FID, KID, precision, recall, IS (+PSNR/MAE for translations)")
    p.add_argument("--runs", nargs="+", required=True, help="run folders written by `mrisynth zoo train`")
    p.add_argument(
        "--classifier",
        nargs="+",
        required=True,
        metavar="[DATA=]PATH",
        help="classifier weights from `mrisynth zoo classifier`, one per feature space of the runs: digits, phantom "
        "(unconditional phantom runs), phantom-target (phantom translations; `classifier --targets`); a bare PATH is digits",
    )
    p.add_argument("--table", required=True, help="output CSV, one row per run plus two reference rows")
    p.add_argument("--markdown", help="also write the table as Markdown here")
    p.add_argument("--config", help="YAML config (zoo.n_samples)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.set_defaults(func=run_evaluate)

    from mrisynth.zoo_bench.likelihood_commands import add_likelihood_parsers

    add_likelihood_parsers(sub)

    from mrisynth.zoo_bench.modes import add_modes_parser

    add_modes_parser(sub)


def _data_arguments(p) -> None:
    p.add_argument("--data", choices=["digits", "phantom"], default="digits", help="dataset: digits (default) or phantom slices")
    p.add_argument(
        "--slices",
        help="slices file from `mrisynth zoo slices` (needed with --data phantom; for pix2pix / cyclegan a paired "
        "file written with --targets: they translate its images into its targets)",
    )


def _data_setting(args, zoo: dict) -> tuple[int, int]:
    """(image size, steps) of the chosen dataset; checks the slices file."""
    from pathlib import Path

    from mrisynth.errors import InputError

    if args.data == "digits":
        return zoo["image_size"], zoo["steps"]
    if not args.slices or not Path(args.slices).exists():
        raise InputError(f"--data phantom needs an existing --slices file (mrisynth zoo slices), got {args.slices!r}")
    return zoo["phantom_image_size"], zoo["phantom_steps"] or zoo["steps"]


def _zoo_config(path):
    from mrisynth.config import load_config

    config = load_config(path)
    return config, config["zoo"]


def _threads(n: int) -> None:
    import torch

    torch.set_num_threads(max(1, n))


def run_list(args: argparse.Namespace) -> int:
    from mrisynth.zoo import registry

    print("\n".join(registry.names()))
    return 0


def run_slices(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mrisynth.errors import InputError
    from mrisynth.zoo_bench.slices import build_slices, save_slices

    _, zoo = _zoo_config(args.config)
    missing = [v for v in [*args.volumes, *(args.targets or [])] if not Path(v).exists()]
    if missing:
        raise InputError(f"volumes not found: {missing}")
    try:
        slices = build_slices(args.volumes, zoo["phantom_slices_per_volume"], zoo["phantom_image_size"], args.targets)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    save_slices(slices, args.out)
    paired = " (with targets)" if args.targets else ""
    print(f"{len(slices['images'])} slices{paired} of {len(slices['paths'])} volumes -> {args.out}")
    return 0


def run_classifier(args: argparse.Namespace) -> int:
    from mrisynth.errors import InputError
    from mrisynth.zoo_bench.tables import images
    from mrisynth.zoo_bench.features import accuracy, save_classifier, train_classifier

    _threads(args.threads)
    config, zoo = _zoo_config(args.config)
    size, _ = _data_setting(args, zoo)
    if args.targets and args.data != "phantom":
        raise InputError("--targets needs --data phantom and a paired --slices file")
    part = "targets" if args.targets else "images"
    try:
        x, y = images(args.data, size, "train", args.slices, part)
        xt, yt = images(args.data, size, "test", args.slices, part)
    except ValueError as exc:  # e.g. --targets on a slices file without targets
        raise InputError(str(exc)) from None
    model = train_classifier(x, y, epochs=zoo["classifier_epochs"], seed=config["seed"])
    name = f"{args.data}-target" if args.targets else args.data
    print(f"{name} classifier test accuracy: {accuracy(model, xt, yt):.4f}")
    save_classifier(model, args.out)
    return 0


def _parse_sets(items: list[str]) -> dict:
    from mrisynth.errors import InputError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"--set {item!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value  # a bare string
    return out


def run_train(args: argparse.Namespace) -> int:
    import torch

    from mrisynth.errors import InputError
    from mrisynth.zoo import registry
    from mrisynth.zoo_bench.tables import TRANSLATION, model_config, pairs, train_model

    _threads(args.threads)
    config, zoo = _zoo_config(args.config)
    if args.model not in registry.names():
        raise InputError(f"unknown model {args.model!r}; registered: {', '.join(registry.names())}")
    device = args.device or config["device"]
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    overrides = {**zoo["overrides"].get(args.model, {}), **_parse_sets(args.set)}
    size, steps = _data_setting(args, zoo)
    steps = args.steps or steps
    if args.data == "phantom" and args.model in TRANSLATION:
        try:
            pairs(args.data, size, "train", args.slices)
        except ValueError as exc:
            raise InputError(f"{args.model} on the phantom: {exc}") from None
    try:  # unknown or mistyped options fail here, before anything is written
        registry.build(args.model, **model_config(args.model, size, steps, config["seed"], overrides))
    except (TypeError, ValueError) as exc:
        raise InputError(f"model {args.model}: bad option: {exc}") from None
    info = train_model(
        args.model,
        args.out,
        steps=steps,
        batch_size=zoo["batch_size"],
        image_size=size,
        seed=config["seed"],
        overrides=overrides,
        amp=zoo["amp"],
        ema_decay=zoo["ema_decay"],
        device=device,
        checkpoint_every=zoo["checkpoint_every"],
        sample_every=zoo["sample_every"],
        progress=not args.no_progress,
        data=args.data,
        slices=args.slices,
    )
    print(json.dumps({k: info[k] for k in ("model", "data", "steps", "wall_s", "s_per_step", "cpu_s")}))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mrisynth.errors import InputError
    from mrisynth.zoo_bench.tables import RUN_INFO, evaluate_runs, markdown_table, write_table
    from mrisynth.zoo_bench.features import load_classifier

    _threads(args.threads)
    _, zoo = _zoo_config(args.config)
    missing = [r for r in args.runs if not (Path(r) / RUN_INFO).exists()]
    if missing:
        raise InputError("not a finished zoo run (no run.json)", missing)
    classifiers = {}
    for item in args.classifier:
        data, _, path = item.rpartition("=")  # no "=": ("", "", PATH)
        data = data or "digits"
        if not Path(path).exists():
            raise InputError(f"classifier {path} not found: run `mrisynth zoo classifier --data {data} --out {path}`")
        classifiers[data] = load_classifier(path)
    try:
        rows = evaluate_runs(args.runs, classifiers, n_samples=zoo["n_samples"])
    except ValueError as exc:
        raise InputError(str(exc)) from None
    write_table(rows, args.table, args.markdown)
    print(markdown_table(rows), end="")
    return 0
