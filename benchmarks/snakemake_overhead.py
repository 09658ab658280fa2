"""Snakemake's own CPU per scheduling setting, on a DAG shaped like the demo's (not a test).

The demo's 240 jobs are mostly wide fans of ready jobs on 2 cores (119 preprocessing jobs at once, then
84 classify jobs). This script builds a DAG of the same shape whose jobs only sleep (``--sleep`` seconds),
so the CPU of the ``snakemake`` process tree is Snakemake's own work (DAG, scheduling, job bookkeeping;
the ILP solver runs as a child process and counts), and runs it once per setting, in the same run, each
from a clean folder:

- ``default``: Snakemake 9's defaults (ILP scheduler, ``--max-jobs-per-timespan 100/1s``: after every
  scheduling round a timer starts another round 1 s later, so while jobs run Snakemake re-examines every
  ready job about once a second, and each finished job adds one more such timer chain);
- ``greedy``: the greedy scheduler instead of the ILP;
- ``greedy+subsample``: greedy, choosing among at most 8 of the ready jobs (``scheduler-subsample: 8``,
  what ``profiles/default`` sets; with 2 cores a choice among 8 loses nothing).
- ``... +fan-in``: the same, but each job of the second fan lists every subject's file as input, as the
  training, imputation and classify rules did before they depended on the QC table alone: each scheduling
  round checks the existence and size of every input of the ready jobs it looks at.

Not an option: a longer rate-limit window (``--max-jobs-per-timespan 6000/1m``) cut Snakemake's CPU 3.2x
but made 20 one-second jobs on 2 cores take 81 s instead of 21 s: Snakemake 9 relies on that 1 s timer
to start the next jobs.

    .venv/bin/python benchmarks/snakemake_overhead.py [--subjects 60] [--fan 40] [--sleep 1]
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

CFG = {{f"key{{i}}": list(range(20)) for i in range(20)}}  # a config section passed as params, as the rules do

rule pre:  # one per subject (preprocessing): raw inputs, params and resources as the demo's rules have
    input: "raw/{{s}}_t1.txt", "raw/{{s}}_pet.txt", "template.txt"
    output: "pre/{{s}}.txt"
    params: cfg=CFG, label=lambda wildcards: f"sub-{{wildcards.s}}"
    resources: mem_mb=lambda wildcards, attempt: 3000 * attempt
    shell: "sleep {sleep}; touch {{output}}"

rule qc:  # needs every subject (qc_summary, split)
    input: expand("pre/{{s}}.txt", s=SUBJECTS)
    output: "qc.txt"
    shell: "sleep {sleep}; touch {{output}}"

rule fan:  # one per (classifier, fold, scenario)
    input: {fan_input}
    output: "fan/{{f}}.txt"
    shell: "sleep {sleep}; touch {{output}}"

rule summary:
    input: expand("fan/{{f}}.txt", f=FAN)
    output: "summary.txt"
    shell: "sleep {sleep}; touch {{output}}"
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
    p.add_argument("--subjects", type=int, default=60, help="parallel jobs of the first fan (demo: 119)")
    p.add_argument("--fan", type=int, default=40, help="parallel jobs of the second fan (demo: 84 classify)")
    p.add_argument("--sleep", type=float, default=1.0, help="seconds each job runs")
    p.add_argument("--repeat", type=int, default=1, help="runs per setting (the minimum is reported)")
    args = p.parse_args()
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    subsample = ["--scheduler", "greedy", "--scheduler-subsample", "8"]
    qc_only, every_subject = '"qc.txt"', '"qc.txt", expand("pre/{s}.txt", s=SUBJECTS)'
    settings = {"default": ([], qc_only), "greedy": (["--scheduler", "greedy"], qc_only),
                "greedy+subsample": (subsample, qc_only), "greedy+subsample +fan-in": (subsample, every_subject)}
    jobs = args.subjects + args.fan + 3
    print(f"DAG of {jobs} jobs of {args.sleep:g} s sleep ({args.subjects} + {args.fan} in two fans), --cores 2, "
          f"min of {args.repeat} run(s); CPU = snakemake process tree\n")
    print(f"{'setting':<26}{'CPU s':>8}{'wall s':>8}{'CPU ms/job':>12}")
    cpu = {}
    for name, (extra, fan_input) in settings.items():
        best = None
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                (folder / "raw").mkdir()
                for i in range(args.subjects):
                    for kind in ("t1", "pet"):
                        (folder / "raw" / f"{i}_{kind}.txt").touch()
                (folder / "template.txt").touch()
                (folder / "Snakefile").write_text(SNAKEFILE.format(subjects=args.subjects, fan=args.fan, sleep=args.sleep,
                                                                   fan_input=fan_input))
                res = run(snakemake, folder, extra)
            best = res if best is None or res[0] < best[0] else best
        cpu[name] = best[0]
        print(f"{name:<26}{best[0]:>8.1f}{best[1]:>8.1f}{1000 * best[0] / jobs:>12.0f}", flush=True)
    for name in ("greedy", "greedy+subsample"):
        print(f"default / {name}: {cpu['default'] / cpu[name]:.2f}x Snakemake CPU")
    print(f"fan-in / QC table only: {cpu['greedy+subsample +fan-in'] / cpu['greedy+subsample']:.2f}x Snakemake CPU")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
