"""CLI commands of the cohort stage: ``validate`` (the manifest and every file it names) and ``split``
(the fold files every later stage reads)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_split(sub) -> None:
    p = sub.add_parser("split", help="subject-level stratified k-fold train/val/test splits, one JSON per fold")
    p.add_argument("--manifest", required=True, help="validated manifest CSV (results/manifest/manifest.csv)")
    p.add_argument("--out-dir", required=True, help="folder for fold-<k>.json (k = 0..K-1)")
    p.add_argument("--qc-summary", default=None,
                   help="preprocessing QC summary JSON: participants it marks excluded are left out of every fold")
    p.add_argument("--config", default=None, help="YAML config (default: schema defaults)")
    p.set_defaults(func=run_split)


def run_split(args) -> int:
    import pandas as pd

    from mrisynth.cohort.splits import write_splits
    from mrisynth.config import load_config

    cfg = load_config(args.config)
    sc = cfg["split"]
    exclude = set()
    if args.qc_summary:
        from mrisynth.preprocess.outputs import strip_prefix
        from mrisynth.preprocess.qc import excluded_subjects

        dropped = {strip_prefix(p, "sub") for p, _ in excluded_subjects(args.qc_summary)}
        manifest = pd.read_csv(args.manifest, dtype=str)
        exclude = {p for p in manifest["participant_id"] if strip_prefix(p, "sub") in dropped}
    paths = write_splits(args.manifest, args.out_dir, sc["k"], cfg["seed"], sc["val_fraction"], sc["stratify_pet"], exclude)
    print(f"wrote {len(paths)} folds to {args.out_dir}")
    return 0


def add_validate(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check a cohort manifest and every file it names; write the normalised table",
        description="Check the manifest against workflow/schemas/manifest.schema.yaml and every NIfTI file it "
        "names (exists, readable, 3D, finite, sane affine and voxel sizes, not blank). Every problem is "
        "reported at once, one line each; on any problem the exit code is 2 and nothing is written.",
    )
    parser.add_argument("--manifest", required=True, type=Path,
                        help="CSV with columns participant_id, session_id, diagnosis, age, sex, site, t1w, pet; "
                        "paths relative to its folder or absolute")
    parser.add_argument("--out", type=Path,
                        help="where to write the normalised manifest (absolute paths, typed columns); "
                        "omit to only check")
    parser.set_defaults(func=_run_validate)


def _run_validate(args: argparse.Namespace) -> int:
    from mrisynth.io.manifest import DIAGNOSES, read_manifest, write_manifest

    table = read_manifest(args.manifest)
    counts = ", ".join(f"{dx} {int((table['diagnosis'] == dx).sum())}" for dx in DIAGNOSES)
    n_pet = int((table["pet"] != "").sum())
    print(f"manifest {args.manifest}: OK, {len(table)} rows ({counts}; {n_pet} with PET)")
    if args.out is not None:
        write_manifest(table, args.out)
        print(f"wrote {args.out}")
    return 0
