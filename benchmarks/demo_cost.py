"""CPU per pipeline stage of two demo runs, side by side, from the usage lines of their rule logs (not a test).

Every ``mrisynth`` command ends its log with ``mrisynth <command>: W s wall, C s CPU, peak RSS M MiB``
(CPU of the process and its children). This sums them per command for a ``before`` and an ``after``
results folder and prints jobs, CPU and CPU per job of each, and the ratio before / after; CPU per job
compares stages that only one of the runs has finished so far. Optional: the CPU of each run's own
``snakemake`` process, given in seconds, to print its share of the run.

    .venv/bin/python benchmarks/demo_cost.py BEFORE/results AFTER/results [--snakemake-cpu 289 120]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

USAGE = re.compile(r"^mrisynth ([a-z-]+): ([\d.]+) s wall, ([\d.]+) s CPU")


def stage_cpu(results: Path) -> tuple[dict[str, float], dict[str, int]]:
    cpu, jobs = defaultdict(float), defaultdict(int)
    for log in (results / "logs").rglob("*.log"):
        for line in log.read_text(errors="replace").splitlines():
            m = USAGE.match(line)
            if m:
                cpu[m[1]] += float(m[3])
                jobs[m[1]] += 1
    return cpu, jobs


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("before", type=Path, help="results folder of the reference run")
    p.add_argument("after", type=Path, help="results folder of the run to compare")
    p.add_argument("--snakemake-cpu", type=float, nargs=2, metavar=("BEFORE", "AFTER"),
                   help="CPU seconds of each run's snakemake process itself")
    args = p.parse_args()
    (cpu_b, n_b), (cpu_a, n_a) = stage_cpu(args.before), stage_cpu(args.after)
    print("| command | jobs before | CPU s before | s / job before | jobs after | CPU s after | s / job after "
          "| per job before / after |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for cmd in sorted(set(cpu_b) | set(cpu_a), key=lambda c: -max(cpu_b.get(c, 0), cpu_a.get(c, 0))):
        per_b = cpu_b[cmd] / n_b[cmd] if n_b.get(cmd) else None
        per_a = cpu_a[cmd] / n_a[cmd] if n_a.get(cmd) else None
        ratio = f"{per_b / per_a:.2f}x" if per_b and per_a else ""
        fmt = lambda v: "" if v is None else f"{v:.2f}"  # noqa: E731
        print(f"| {cmd} | {n_b.get(cmd, 0)} | {cpu_b.get(cmd, 0):.1f} | {fmt(per_b)} | {n_a.get(cmd, 0)} "
              f"| {cpu_a.get(cmd, 0):.1f} | {fmt(per_a)} | {ratio} |")
    tb, ta = sum(cpu_b.values()), sum(cpu_a.values())
    print(f"| **all jobs** | {sum(n_b.values())} | {tb:.1f} | | {sum(n_a.values())} | {ta:.1f} | | |")
    if args.snakemake_cpu:
        sb, sa = args.snakemake_cpu
        print(f"\nsnakemake process: before {sb:.0f} s = {100 * sb / (sb + tb):.1f}% of the run's CPU, "
              f"after {sa:.0f} s = {100 * sa / (sa + ta):.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
