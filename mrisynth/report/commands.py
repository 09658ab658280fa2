"""CLI commands of the report stage: ``cohort-report`` (the cohort page) and ``report`` (the one-page report)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_cohort_report(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cohort-report",
        help="HTML page with the cohort table and a mosaic of raw T1 / PET mid-slices",
        description="Summarise a validated manifest: sessions per diagnosis and site, age, sex, PET "
        "availability, and raw T1 / PET mid-slices of one subject per diagnosis. The HTML is self-contained "
        "(the mosaic is embedded) and the mosaic is also written as a PNG.",
    )
    parser.add_argument("--manifest", required=True, type=Path,
                        help="validated manifest (the output of `mrisynth validate --out`)")
    parser.add_argument("--html", required=True, type=Path, help="where to write the HTML page")
    parser.add_argument("--mosaic", required=True, type=Path, help="where to write the mosaic PNG")
    parser.set_defaults(func=_run_cohort_report)


def _run_cohort_report(args: argparse.Namespace) -> int:
    from mrisynth.report.cohort import write_cohort_report

    write_cohort_report(args.manifest, args.html, args.mosaic)
    print(f"wrote {args.html} and {args.mosaic}")
    return 0


def add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="results/report/index.html: cohort, QC, synthesis, scenario table, ROC, landmarks, time",
                       description="Gather every stage's tables and figures into one self-contained HTML page.")
    p.add_argument("--results", default=None, help="results folder (default: the config's `results`)")
    p.add_argument("--out", default=None, help="HTML file (default: <results>/report/index.html)")
    p.add_argument("--config", default=None, help="YAML config (default: schema defaults)")
    p.set_defaults(func=_run_report)


def _run_report(args) -> int:
    from mrisynth.config import load_config
    from mrisynth.io.atomic import write_text
    from mrisynth.report.dag import index_html
    from mrisynth.report.index import build_report

    results = Path(args.results or load_config(args.config)["results"])
    out = Path(args.out or index_html(results))
    write_text(out, build_report(results))
    print(f"wrote {out}")
    return 0
