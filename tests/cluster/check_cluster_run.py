"""Checks of `make test-cluster` (run by tests/cluster/run_cluster_test.sh after its three Snakemake runs).

<work>/cluster: the DAG run through the SLURM profile; <work>/local: the same DAG run locally;
<work>/fail: tests/cluster/failing.smk through the SLURM profile. Prints every problem; exit 1 if any.

What "equal results" means (whatever models and scenarios the config runs: every file is compared, none
is named here except the wall-clock ones):
* both results/ trees hold the same set of files, except results/logs/ and results/benchmarks/ (job logs
  and Snakemake's timings, different by nature);
* each file pair is byte-equal after the run's own directory is replaced by a placeholder in text files
  (gzip members, e.g. .nii.gz, compared uncompressed: the gzip header holds a timestamp); failing that,
* JSON: equal after dropping every "seconds" key (wall-clock timings); checkpoints (.pt): the same
  nested keys, tensors bit-equal, except "wall_s" (training wall time); CSV/TSV: equal data frames;
  report/index.html: equal after its "Time per stage" section (job wall-clock times) is blanked, a
  section that must be present in both.
Both runs are seeded from the same config on the same CPU kind, so everything else is bit-for-bit.
"""

from __future__ import annotations

import argparse
import gzip
import io
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

SUBMITTED = re.compile(r"Job (\S+) has been submitted with SLURM jobid (\d+)")  # group jobs: a uuid
JOB_ID_LINE = re.compile(r"SLURM_JOB_ID=(\d+)")


def submitted_ids(log: str) -> list[str]:
    return [slurm_id for _, slurm_id in SUBMITTED.findall(log)]


def check_allocations(run: Path, log: str) -> list[str]:
    """Every job of the cluster run went through sbatch and recorded its SLURM job id."""
    problems = []
    ids = submitted_ids(log)
    if not ids:
        return ["cluster run: no sbatch submission in the Snakemake log"]
    local_jobs = set(re.findall(r"^localrule (\w+):", log, re.M)) - {"all"}
    if local_jobs:
        problems.append(f"cluster run: rules run outside SLURM: {sorted(local_jobs)}")
    rule_logs = sorted((run / "results" / "logs").rglob("*.log"))
    if not rule_logs:
        problems.append("cluster run: no rule logs under results/logs")
    recorded = set()
    for path in rule_logs:
        found = JOB_ID_LINE.findall(path.read_text(errors="replace"))
        if not found:
            problems.append(f"{path}: no SLURM_JOB_ID line: the job did not run in an allocation")
        elif not set(found) <= set(ids):
            problems.append(f"{path}: SLURM_JOB_ID {found} was never submitted by this run")
        recorded.update(found)
    if missing := set(ids) - recorded:
        problems.append(f"cluster run: submitted jobs {sorted(missing)} left no SLURM_JOB_ID in any rule log")
    slurm_logs = {p.stem for p in (run / ".snakemake" / "slurm_logs").rglob("*.log")}
    if missing := set(ids) - slurm_logs:
        problems.append(f"cluster run: no SLURM log file for jobs {sorted(missing)}")
    print(f"cluster run: {len(ids)} SLURM jobs, {len(rule_logs)} rule logs, every one with its SLURM_JOB_ID")
    return problems


TEXT = {".csv", ".tsv", ".json", ".html", ".md", ".txt", ".yaml", ".yml", ".svg"}
# logs and benchmark timings differ by nature
NOT_COMPARED = {"logs", "benchmarks"}
# the HTML report's section of job wall-clock times (mrisynth/report/index.py: time_section)
TIME_SECTION = re.compile(rb'<section id="[^"]*">\n<h2>Time per stage</h2>\n.*?</section>', re.S)


def content(path: Path, run_dir: Path) -> bytes:
    """File bytes (gzip members uncompressed); text files with the run's own directory replaced."""
    if path.suffix == ".gz":
        with gzip.open(path) as fh:
            return fh.read()
    data = path.read_bytes()
    if path.suffix in TEXT:
        data = data.replace(str(run_dir).encode(), b"<run-dir>")
    return data


def same_file(a: Path, b: Path, run_a: Path, run_b: Path) -> bool:
    """Equal bytes up to the run directory; tables that differ only in formatting count as equal."""
    if content(a, run_a) == content(b, run_b):
        return True
    if a.name == "index.html":  # the report: all but its wall-clock section
        masked = [TIME_SECTION.subn(b"<time section>", content(p, r)) for p, r in ((a, run_a), (b, run_b))]
        return all(n == 1 for _, n in masked) and masked[0][0] == masked[1][0]
    if a.suffix == ".json":  # wall-clock timings ("seconds") differ by nature
        import json

        def drop(v):
            if isinstance(v, dict):
                return {k: drop(x) for k, x in v.items() if k != "seconds"}
            return [drop(x) for x in v] if isinstance(v, list) else v

        return drop(json.loads(content(a, run_a))) == drop(json.loads(content(b, run_b)))
    if a.suffix == ".pt":  # checkpoints: equal tensors and values (the zip container may differ)
        import torch

        load = lambda p: torch.load(p, map_location="cpu", weights_only=True)  # noqa: E731
        return same_value(load(a), load(b), str(run_a), str(run_b))
    if a.suffix in {".csv", ".tsv"}:
        sep = "\t" if a.suffix == ".tsv" else ","
        tables = [pd.read_csv(io.BytesIO(content(p, r)), sep=sep) for p, r in ((a, run_a), (b, run_b))]
        try:
            pd.testing.assert_frame_equal(*tables)
        except AssertionError:
            return False
        return True
    return False


def same_value(x, y, run_x: str, run_y: str) -> bool:
    """Nested checkpoint contents equal: tensors exactly, strings up to the run directory."""
    import torch

    if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor):
        return x.dtype == y.dtype and x.shape == y.shape and torch.equal(x, y)
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(same_value(x[k], y[k], run_x, run_y) for k in x if k != "wall_s")
    if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
        return len(x) == len(y) and all(same_value(i, j, run_x, run_y) for i, j in zip(x, y))
    if isinstance(x, str) and isinstance(y, str):
        return x.replace(run_x, "<run-dir>") == y.replace(run_y, "<run-dir>")
    return type(x) is type(y) and x == y


def compare_results(local: Path, cluster: Path) -> list[str]:
    """The two runs' results/ trees hold the same files with the same contents (logs excepted).

    Both runs read the same phantom data; only their working directories differ, and results may name it.
    """

    def files(run: Path) -> set[Path]:
        root = run / "results"
        return {p.relative_to(root) for p in root.rglob("*") if p.is_file() and p.relative_to(root).parts[0] not in NOT_COMPARED}

    a, b = files(local), files(cluster)
    if not a:
        return ["local run wrote no results"]
    problems = [f"only in the local run: {p}" for p in sorted(a - b)]
    problems += [f"only in the SLURM run: {p}" for p in sorted(b - a)]
    same = lambda p: same_file(local / "results" / p, cluster / "results" / p, local, cluster)  # noqa: E731
    differ = [p for p in sorted(a & b) if not same(p)]
    problems += [f"differs between the local and the SLURM run: {p}" for p in differ]
    print(f"results: {len(a & b)} files compared, {len(differ)} differ")
    return problems


def scontrol(job_id: str) -> dict[str, str]:
    out = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True, timeout=20).stdout
    return dict(kv.split("=", 1) for kv in out.split() if "=" in kv)


def check_failure(fail: Path, log: str) -> list[str]:
    """The failing job was reported failed, retried once, the retry with twice the memory."""
    problems = []
    ids = submitted_ids(log)
    if len(ids) != 2:
        problems.append(f"failing run: expected 2 submissions (attempt 1 and its retry), saw {ids}")
    if "Error in rule fail_on_purpose" not in log:
        problems.append("failing run: Snakemake did not report 'Error in rule fail_on_purpose'")
    for slurm_id in ids:
        if f"SLURM-job '{slurm_id}' failed" not in log:
            problems.append(f"failing run: SLURM job {slurm_id} not reported as failed")
    jobs_txt = (fail / "jobs.txt").read_text() if (fail / "jobs.txt").exists() else ""
    recorded = re.findall(r"SLURM_JOB_ID=(\d+) mem_mb=(\d+)", jobs_txt)
    if [job for job, _ in recorded] != ids:
        problems.append(f"failing run: job ids recorded by the jobs {recorded} != submitted {ids}")
    memory = [scontrol(slurm_id).get("MinMemoryNode", "?") for slurm_id in ids]
    if memory != ["300M", "600M"]:
        problems.append(f"failing run: memory requested per attempt {memory}, expected ['300M', '600M']")
    states = [(scontrol(i).get("JobState"), scontrol(i).get("ExitCode")) for i in ids]
    if any(state != "FAILED" or code == "0:0" for state, code in states):
        problems.append(f"failing run: SLURM job (state, exit code) {states}, expected FAILED, non-zero")
    print(f"failing run: SLURM jobs {ids} reported failed, SLURM states {states}, memory {memory}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, required=True, help="the test's temp dir")
    work = parser.parse_args().work
    cluster_log = (work / "cluster.log").read_text(errors="replace")
    local_log = (work / "local.log").read_text(errors="replace")
    problems = check_allocations(work / "cluster", cluster_log)
    if submitted_ids(local_log) or any(
        JOB_ID_LINE.search(p.read_text(errors="replace")) for p in (work / "local" / "results" / "logs").rglob("*.log")
    ):
        problems.append("local run: jobs were submitted to SLURM or ran in an allocation")
    problems += compare_results(work / "local", work / "cluster")
    problems += check_failure(work / "fail", (work / "fail.log").read_text(errors="replace"))
    for problem in problems:
        print("PROBLEM:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
