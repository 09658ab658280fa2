"""CLI commands of the preprocessing stage: ``preprocess`` (one subject, the recipe of
:mod:`mrisynth.preprocess.recipe`) and ``qc-summary`` (the cohort QC table)."""

from __future__ import annotations

import argparse
import json
import logging
import re
from pathlib import Path

from mrisynth.errors import InputError

log = logging.getLogger(__name__)


def add_preprocess(subparsers) -> None:
    p = subparsers.add_parser(
        "preprocess",
        help="T1 (and PET) of one subject to template space, with SUVR and QC",
        description="Bias-correct and affinely register a T1w image to the MNI152 2009a template, skull-strip, "
        "resample to the configured grid and normalise intensities; register a PET rigidly to the T1w, "
        "resample it once into template space and scale it to SUVR; write QC numbers and a figure. All "
        "outputs are BIDS-named and written atomically into --out-dir (replaced as a whole).",
    )
    p.add_argument("--t1", required=True, help="the subject's T1w NIfTI (any orientation, int or float)")
    p.add_argument("--pet", help="the subject's FDG-PET NIfTI in the same scanner space (optional)")
    p.add_argument("--out-dir", required=True, help="subject output folder, e.g. results/preprocess/sub-01/ses-01")
    p.add_argument("--config", help="YAML config; its `preprocess` section sets the grid and parameters")
    p.add_argument("--participant", help="participant label (default: the sub-<label> in the T1 file name)")
    p.add_argument("--session", help="session label (default: the ses-<label> in the T1 file name)")
    p.add_argument(
        "--t1-transform",
        help="reuse this saved T1w->template transform (.tfm) instead of registering, and write only the "
        "PET outputs (used for the phantom's hidden true PET)",
    )
    p.add_argument("--threads", type=int, default=2, help="threads for SimpleITK (default 2)")
    p.add_argument("--templates", help="the templates on this config's grid, from `mrisynth preprocess-templates` "
                   "(default: computed by this command)")
    p.set_defaults(func=run_preprocess)


def add_templates(subparsers) -> None:
    p = subparsers.add_parser(
        "preprocess-templates",
        help="the MNI152 templates on the configured grid, once for every preprocess job",
        description="Write the T1 template and brain mask at the working resolution and on the output grid "
        "(.npz) so that each `mrisynth preprocess --templates` job reads them instead of recomputing them.",
    )
    p.add_argument("--out", required=True, help="output .npz")
    p.add_argument("--config", help="YAML config; its `preprocess` section sets the grid")
    p.set_defaults(func=run_templates)


def run_templates(args: argparse.Namespace) -> int:
    from mrisynth.config import load_config
    from mrisynth.preprocess import templates
    from mrisynth.preprocess.images import OutputGrid

    templates.save(args.out, OutputGrid.from_config(load_config(args.config)["preprocess"]))
    return 0


def add_qc_summary(subparsers) -> None:
    p = subparsers.add_parser(
        "qc-summary",
        help="gather per-subject QC into one table, flag failures and outliers",
        description="Read the qc.json of every subject, flag subjects below the configured thresholds "
        "(failed) or far from the cohort (outlier), log each loudly, and write a TSV table, a JSON summary "
        "(with the excluded subjects, only if preprocess.qc.exclude_failed is true) and a mosaic PNG.",
    )
    p.add_argument("--qc", nargs="+", required=True, help="per-subject qc.json files")
    p.add_argument("--config", help="YAML config (thresholds in preprocess.qc)")
    p.add_argument("--tsv", required=True, help="output table")
    p.add_argument("--json", required=True, help="output summary with the excluded subjects")
    p.add_argument("--mosaic", required=True, help="output PNG: centre slice of every subject")
    p.set_defaults(func=run_qc_summary)


def _label(given: str | None, t1: str, key: str) -> str:
    from mrisynth.preprocess.outputs import strip_prefix

    if given:
        return strip_prefix(given, key)
    match = re.search(rf"(?:^|_){key}-([A-Za-z0-9]+)", Path(t1).name)
    if not match:
        option = "--participant" if key == "sub" else "--session"
        raise InputError(f"T1w {t1}: no {key}-<label> in the file name; pass {option}")
    return match.group(1)


def run_preprocess(args: argparse.Namespace) -> int:
    import SimpleITK as sitk

    from mrisynth.config import load_config
    from mrisynth.preprocess.recipe import preprocess_subject, read_transform

    config = load_config(args.config)
    if args.t1_transform and not args.pet:
        raise InputError("--t1-transform reuses a T1 transform to preprocess a PET: --pet is required")
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(max(1, args.threads))
    participant, session = _label(args.participant, args.t1, "sub"), _label(args.session, args.t1, "ses")
    transform = read_transform(args.t1_transform) if args.t1_transform else None
    preprocess_subject(args.t1, args.pet, Path(args.out_dir), config["preprocess"], int(config["seed"]), participant,
                       session, t1_transform=transform, templates_file=args.templates)
    return 0


def run_qc_summary(args: argparse.Namespace) -> int:
    import nibabel as nib
    import numpy as np

    from mrisynth.config import load_config
    from mrisynth.io.atomic import atomic_path, write_text
    from mrisynth.preprocess import qc

    cfg = load_config(args.config)["preprocess"]
    records, slices = [], []
    for path in map(Path, args.qc):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"QC file {path}: cannot be read ({exc})") from None
        records.append({k: v for k, v in record.items() if not isinstance(v, (dict, list))})
        t1 = np.asarray(nib.load(path.parent / record["files"]["t1w"]).dataobj)
        pet = np.asarray(nib.load(path.parent / record["files"]["pet"]).dataobj) if record["files"]["pet"] else None
        mask = np.asarray(nib.load(path.parent / record["files"]["mask"]).dataobj)
        k = t1.shape[2] // 2
        slices.append((f"sub-{record['participant_id']} ses-{record['session_id']}", t1[:, :, k], None if pet is None else pet[:, :, k]))
    table = qc.summarise(records, cfg["qc"])
    columns = [c for c in table.columns if c not in ("space", "passed")]
    with atomic_path(args.tsv) as tmp:
        table[columns].to_csv(tmp, sep="\t", index=False, float_format="%.4f")
    summary = {
        "exclude_failed": bool(cfg["qc"]["exclude_failed"]),
        "thresholds": cfg["qc"],
        "n_subjects": len(table),
        "n_failed": int(table["failed"].sum()),
        "n_outliers": int(table["outlier"].sum()),
        "subjects": json.loads(table[columns].to_json(orient="records")),
    }
    write_text(args.json, json.dumps(summary, indent=2))
    with atomic_path(args.mosaic) as tmp:
        qc.mosaic(tmp, slices, mask[:, :, k])
    log.info("QC of %d subjects: %d failed, %d outliers", len(table), summary["n_failed"], summary["n_outliers"])
    return 0
