"""Snakemake's own CPU per scheduling setting, on a DAG shaped like the demo's (not a test).

The demo's 240 jobs are mostly wide fans of ready jobs on 2 cores (119 preprocessing jobs at once, then
84 classify jobs), so the scheduler is asked to choose ~240 times among up to ~120 ready jobs. This script
builds a DAG of the same shape whose jobs do nothing (``touch``), so the CPU of the ``snakemake`` process
tree is Snakemake's own work (DAG, scheduling, job bookkeeping; the ILP solver runs as a child process and
counts), and runs it once per setting, in the same run, each from a clean folder:

- ``ilp``: Snakemake 9's default scheduler (an ILP solved with CBC through pulp for every choice);
- ``greedy``: the greedy scheduler (``scheduler: greedy``, what ``profiles/default`` sets).

    .venv/bin/python benchmarks/snakemake_overhead.py [--subjects 120] [--fan 84] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SNAKEFILE = """
SUBJECTS = range({subjects})
FAN = range({fan})

rule all:
    input: "summary.txt"

rule pre:  # one per subject (preprocessing)
    output: "pre/{{s}}.txt"
    shell: "touch {{output}}"

rule qc:  # needs every subject (qc_summary, split)
    input: expand("pre/{{s}}.txt", s=SUBJECTS)
    output: "qc.txt"
    shell: "touch {{output}}"

rule fan:  # one per (classifier, fold, scenario)
    input: "qc.txt"
    output: "fan/{{f}}.txt"
    shell: "touch {{output}}"

rule summary:
    input: expand("fan/{{f}}.txt", f=FAN)
    output: "summary.txt"
    shell: "touch {{output}}"
"""


def run(snakemake: str, folder: Path, extra: list[str]) -> tuple[float, float]:
    """(CPU seconds of snakemake and its children, wall seconds) of one run from a clean folder."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([snakemake, "--cores", "2", "--quiet", "all", "--directory", str(folder),
                    "--snakefile", str(folder / "Snakefile"), "--workflow-profile", "none", *extra],
                   check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--subjects", type=int, default=120, help="parallel jobs of the first fan (demo: 119)")
    p.add_argument("--fan", type=int, default=84, help="parallel jobs of the second fan (demo: 84 classify)")
    p.add_argument("--repeat", type=int, default=1, help="runs per setting (the minimum is reported)")
    args = p.parse_args()
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    settings = {"ilp": ["--scheduler", "ilp"], "greedy": ["--scheduler", "greedy"]}
    jobs = args.subjects + args.fan + 3
    print(f"DAG of {jobs} no-op jobs ({args.subjects} + {args.fan} in two fans), --cores 2, "
          f"min of {args.repeat} run(s); CPU = snakemake process tree\n")
    print(f"{'setting':<10}{'CPU s':>8}{'wall s':>8}{'CPU ms/job':>12}")
    cpu = {}
    for name, extra in settings.items():
        best = None
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                (folder / "Snakefile").write_text(SNAKEFILE.format(subjects=args.subjects, fan=args.fan))
                res = run(snakemake, folder, extra)
            best = res if best is None or res[0] < best[0] else best
        cpu[name] = best[0]
        print(f"{name:<10}{best[0]:>8.1f}{best[1]:>8.1f}{1000 * best[0] / jobs:>12.0f}", flush=True)
    print(f"\nilp / greedy: {cpu['ilp'] / cpu['greedy']:.2f}x Snakemake CPU")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
