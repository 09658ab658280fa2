"""The SLURM profile without a cluster: the cluster test's refusal off root, and a dry run at cohort scale.

The real cluster run is `make test-cluster` (tests/cluster/run_cluster_test.sh), not part of pytest.
"""

from __future__ import annotations

import csv
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "cluster" / "run_cluster_test.sh"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
DIAGNOSES = ["NC", "sMCI", "pMCI", "AD"]


def test_cluster_script_refuses_without_root():
    """Off root it says why and exits 2 before touching anything (no apt, no daemons)."""
    # the script is fed on stdin from "/": the unprivileged user may not be able to enter the checkout
    # (a clone under `mktemp -d` is mode 0700)
    cmd = ["bash", "-s"]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root and setpriv is missing: cannot drop privileges")
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    run = subprocess.run(cmd, input=SCRIPT.read_text(), cwd="/", capture_output=True, text=True, timeout=30)
    assert run.returncode == 2, run.stderr
    assert "needs root" in run.stderr


def fake_cohort(folder: Path, n: int) -> Path:
    """A manifest of n subjects (every other one with PET) naming zero-byte images: enough for a dry run."""
    rows = []
    for i in range(n):
        t1 = f"raw/sub-{i:04d}_T1w.nii.gz"
        pet = f"raw/sub-{i:04d}_pet.nii.gz" if i % 2 == 0 else ""
        rows.append(
            dict(participant_id=f"{i:04d}", session_id="bl", diagnosis=DIAGNOSES[i % 4], age=60 + i % 30,
                 sex="FM"[i % 2], site=f"S{i % 5}", t1w=t1, pet=pet)
        )
    (folder / "raw").mkdir(parents=True)
    for row in rows:
        for column in ("t1w", "pet"):
            if row[column]:
                (folder / row[column]).touch()
    manifest = folder / "manifest.csv"
    with open(manifest, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def job_stats(log: str) -> dict[str, int]:
    table = log.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


@pytest.mark.workflow
@pytest.mark.slow
def test_slurm_profile_groups_800_subjects_into_few_jobs(tmp_path):
    """Dry run of configs/full.yaml through the SLURM profile on 800 subjects (zero-byte images): the
    per-subject preprocessing goes out as ceil(800 / 50) group jobs, so the cohort is a few hundred SLURM
    jobs at most, not one per subject and step."""
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="the SLURM profile needs the `slurm` extra")
    n = 800
    config = tmp_path / "config.yaml"
    full = yaml.safe_load((ROOT / "configs" / "full.yaml").read_text())
    config.write_text(yaml.safe_dump({**full, "manifest": str(fake_cohort(tmp_path / "data", n))}))
    run = subprocess.run(
        [str(SNAKEMAKE), "-n", "--profile", str(ROOT / "workflow/profiles/slurm"), "--configfile", str(config),
         "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PATH": f"{SNAKEMAKE.parent}:{os.environ['PATH']}"},
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    log = run.stdout + run.stderr
    stats = job_stats(log)
    per_subject = {rule: count for rule, count in stats.items() if rule.startswith("preprocess_")}
    assert sum(per_subject.values()) >= n  # at least one preprocessing job per subject
    groups = log.count("Group job preprocess")
    assert groups == math.ceil(n / 50)
    slurm_jobs = stats["total"] - sum(per_subject.values()) - stats["all"] + groups
    print(f"{n} subjects: {stats['total']} rule jobs -> {slurm_jobs} SLURM jobs ({groups} preprocessing groups)")
    assert slurm_jobs < 2 * n / 5
