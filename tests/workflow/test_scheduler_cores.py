"""Snakemake must not run more threads than --cores: with the workflow's scheduler settings (profiles/default),
two 2-thread jobs on --cores 2 never overlap. Snakemake 9.10-9.16 (snakemake#3913) skipped the resource
update whenever exactly one job was ready, so every lone job (the demo's phantom, validate, split ...) grew
the core pool by its threads for good; the demo then ran two 2-thread trainings on 2 cores, each paying
about twice its CPU in thread contention."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
PROFILE = Path(__file__).resolve().parents[2] / "profiles" / "default" / "config.yaml"

SNAKEFILE = """
rule final:
    input: expand("job{i}.done", i=range(3))

rule prepare:  # a lone ready job, as the demo's phantom or split
    output: "common"
    threads: 2
    shell: "touch {output}"

rule work:
    input: "common"
    output: "job{i}.done"
    threads: 2
    shell: "date +%s.%N > {output}.start; sleep 1; date +%s.%N > {output}"
"""


def test_two_thread_jobs_never_overlap_on_two_cores(tmp_path):
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    profile = yaml.safe_load(PROFILE.read_text())
    sched = [f"--scheduler={profile['scheduler']}", f"--scheduler-subsample={profile['scheduler-subsample']}"]
    subprocess.run([SNAKEMAKE, "--cores", "2", "--quiet", *sched], cwd=tmp_path, check=True, capture_output=True, timeout=300)
    spans = sorted((float((tmp_path / f"job{i}.done.start").read_text()), float((tmp_path / f"job{i}.done").read_text()))
                   for i in range(3))
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end, f"2-thread jobs overlapped on --cores 2: {spans}"
