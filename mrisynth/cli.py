"""``mrisynth <command>``: one command per pipeline step; each Snakemake rule calls exactly one.

Commands are registered in ``COMMANDS`` as ``name: "module:function"`` where ``function(subparsers)``
adds the sub-parser and sets ``func``. Command modules keep heavy imports (torch, MONAI, SimpleITK)
inside the function that runs the command, and a command line imports only its own command's module
(importing all of them cost 1.5 CPU-s per command: pandas, scipy.stats, jsonschema, nibabel), so that a
Snakemake job pays only for what its command uses.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import resource
import sys
import time

from mrisynth import __version__
from mrisynth.errors import InputError

COMMANDS: dict[str, str] = {
    "phantom": "mrisynth.phantom.commands:add_parser",
    "validate": "mrisynth.cohort.commands:add_validate",
    "bids-manifest": "mrisynth.io.bids_dataset:add_bids_manifest_command",
    "cohort-report": "mrisynth.report.commands:add_cohort_report",
    "preprocess": "mrisynth.preprocess.commands:add_preprocess",
    "preprocess-templates": "mrisynth.preprocess.commands:add_templates",
    "qc-summary": "mrisynth.preprocess.commands:add_qc_summary",
    "split": "mrisynth.cohort.commands:add_split",
    "landmarks": "mrisynth.classify.commands:add_landmarks",
    "classify": "mrisynth.classify.commands:add_classify",
    "train-synthesis": "mrisynth.synthesis.commands:add_train",
    "impute": "mrisynth.synthesis.commands:add_impute",
    "evaluate-synthesis": "mrisynth.synthesis.commands:add_evaluate",
    "calibrate-synthesis": "mrisynth.synthesis.commands:add_calibrate",
    "summarize": "mrisynth.classify.commands:add_summarize",
    "report": "mrisynth.report.commands:add_report",
    "zoo": "mrisynth.zoo_bench.commands:add_parser",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or only of ``command`` when it is a known one (the others' modules
    are then not imported; ``--help`` and unknown commands get all of them)."""
    parser = argparse.ArgumentParser(
        prog="mrisynth",
        description="Impute missing FDG-PET from brain MRI with 3D GANs and predict MCI conversion. "
        "Each command is one step of the Snakemake pipeline and can be run on its own.",
    )
    parser.add_argument("--version", action="version", version=f"mrisynth {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    sub.required = True
    targets = [COMMANDS[command]] if command in COMMANDS else dict.fromkeys(COMMANDS.values())
    for target in targets:
        module, func = target.split(":")
        getattr(importlib.import_module(module), func)(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Before torch loads OpenMP: threads that spin while waiting multiply a command's time several-fold once
    # the cores are shared (parallel jobs, other users). Measured, a 3D Pix2Pix step on 2 threads at load ~15:
    # 1.9 s CPU / 3.8 s wall spinning vs 0.27 s / 0.54 s passive. A value the user set wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(next((a for a in argv if not a.startswith("-")), None))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if os.environ.get("SLURM_JOB_ID"):  # ties the rule's log to its cluster job (checked by make test-cluster)
        logging.getLogger("mrisynth").info("SLURM_JOB_ID=%s", os.environ["SLURM_JOB_ID"])
    start = time.perf_counter()
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"mrisynth {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except FileNotFoundError as exc:  # an input path that does not exist: say which, no traceback
        print(f"mrisynth {args.command}: error: {exc.filename}: no such file or directory", file=sys.stderr)
        return 2
    finally:
        print(usage_line(args.command, time.perf_counter() - start), file=sys.stderr)


USAGE_LINE = "mrisynth {command}: {wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS {rss:.0f} MiB"


def usage_line(command: str, wall: float) -> str:
    """What this command cost, exactly (getrusage of this process and its waited-for children, e.g. torchrun
    workers), unlike sampled job statistics; the report's time table sums these lines from the rule logs.
    CPU counts every thread, so CPU / wall > 1 means the command used several cores."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    rss = max(own.ru_maxrss, kids.ru_maxrss) / 1024  # KiB on Linux
    return USAGE_LINE.format(command=command, wall=wall, cpu=cpu, rss=rss)


def run() -> None:
    """The ``mrisynth`` console script: ``main``, then exit without Python's interpreter teardown. Tearing
    down the modules of a command that imported torch costs 0.4 CPU-s (0.8 with MONAI, 1.1 in a DSNet job),
    every job of the pipeline paying it after its work was done and its usage line written; every output is
    closed by then (files by their ``with`` blocks, worker pools by theirs, log handlers just below). An
    exception or ``SystemExit`` (``--help``, bad arguments) leaves the normal way."""
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
