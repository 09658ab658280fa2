"""Seconds per phantom subject (simulation + deterministic gzip), against the 1 s per subject target.

Reports CPU time (what the target means on an idle core) and wall time (what a loaded machine shows),
after the one-off template set-up, which is timed separately.

    .venv/bin/python benchmarks/phantom_speed.py [--config configs/demo.yaml] [--n 10]
"""

from __future__ import annotations

import argparse
import time

from mrisynth.config import load_config
from mrisynth.phantom.build import nifti_gz_bytes
from mrisynth.phantom.cohort import cohort_specs
from mrisynth.phantom.simulate import simulate_subject
from mrisynth.phantom.template_space import template_space

TARGET_S = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/demo.yaml")
    parser.add_argument("--n", type=int, default=10, help="subjects to time")
    args = parser.parse_args()
    config = load_config(args.config)
    phantom, seed = config["phantom"], config["seed"]

    cpu, wall = time.process_time(), time.perf_counter()
    work = template_space(phantom["work_spacing_mm"])
    print(f"template set-up: {time.process_time() - cpu:.2f} s CPU, {time.perf_counter() - wall:.2f} s wall (once per run)")

    specs = cohort_specs(phantom, seed)[: args.n]
    cpu, wall = time.process_time(), time.perf_counter()
    for spec in specs:
        subject = simulate_subject(spec, phantom, seed, work)
        for img in (subject.t1w, subject.pet):
            nifti_gz_bytes(img)
    per_cpu = (time.process_time() - cpu) / len(specs)
    per_wall = (time.perf_counter() - wall) / len(specs)
    print(f"per subject: {per_cpu:.3f} s CPU, {per_wall:.3f} s wall; target {TARGET_S:.1f} s -> CPU ratio {per_cpu / TARGET_S:.2f}")


if __name__ == "__main__":
    main()
