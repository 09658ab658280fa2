"""The Snakemake DAG: lint, formatting, a dry run of the default config, and one tiny real run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SNAKEMAKE = str(BIN / "snakemake")

pytestmark = pytest.mark.workflow


def _run(cmd: list[str], cwd: Path = ROOT, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


# Lints accepted on purpose (anything else fails the test):
# - every rule runs in the project's own virtual environment (`make` installs it; a cluster job inherits
#   it), not in per-rule conda environments;
# - the rules use module-level constants (RESULTS, CONFIG_ARGS, ...) that never change within a run, so
#   passing them through `params:` would add no provenance;
# - a few small helper functions live next to the rules that use them.
_ACCEPTED_LINTS = (
    "Specify a conda environment or container for each rule.",
    "Shell command directly uses variable",
    "is a prefix of input or output file but hardcoded",
    "Mixed rules and functions in same snakefile.",
)


def test_lint_is_clean():
    # snakemake --lint exits 1 whenever it prints a lint, so its output is what is checked
    proc = subprocess.run([SNAKEMAKE, "--lint", "--snakefile", str(ROOT / "Snakefile")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    titles = [line.strip()[2:].rstrip(":") for line in (proc.stdout + proc.stderr).splitlines()
              if line.startswith("    * ")]
    problems = [t for t in titles if not any(accepted.rstrip(".") in t for accepted in _ACCEPTED_LINTS)]
    assert titles, "expected snakemake --lint to list at least the accepted lints"
    assert not problems, proc.stdout + proc.stderr


def test_snakefmt_check():
    files = [str(ROOT / "Snakefile"), *map(str, sorted((ROOT / "workflow" / "rules").glob("*.smk")))]
    _run([str(BIN / "snakefmt"), "--check", *files])


def test_dry_run_default_config():
    proc = _run([SNAKEMAKE, "-n", "--quiet", "rules"])
    out = proc.stdout + proc.stderr
    for rule in ("validate", "cohort_report"):
        assert rule in out, out


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Build the tiny config's 12-subject phantom and run the whole default DAG on it, in a temp folder."""
    tmp_path = tmp_path_factory.mktemp("tiny")
    manifest = tmp_path / "data_manifest.csv"
    _run([str(BIN / "mrisynth"), "phantom", "--manifest", str(manifest),
          "--config", str(ROOT / "configs" / "tiny.yaml")], timeout=300)
    _run(_tiny_command(tmp_path, manifest), timeout=900)
    return tmp_path, manifest


def _tiny_command(folder: Path, manifest: Path) -> list[str]:
    """The plain `snakemake --cores 2` of the tiny config, with its results in ``folder``."""
    config = yaml.safe_load((ROOT / "configs" / "tiny.yaml").read_text())
    config.update(manifest=str(manifest), results=str(folder / "results"))
    cfg = folder / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    return [SNAKEMAKE, "--cores", "2", "--configfile", str(cfg), "--snakefile", str(ROOT / "Snakefile"),
            "--directory", str(folder)]


def test_tiny_real_run(tiny_run):
    results = tiny_run[0] / "results"
    assert (results / "manifest" / "manifest.csv").exists()
    assert (results / "report" / "cohort.html").stat().st_size > 1000
    assert (results / "report" / "index.html").stat().st_size > 1000
    assert (results / "summary" / "scenarios.csv").exists()
    leftovers = [p for p in results.rglob("*") if p.name.endswith(".tmp") or ".tmp." in p.name]
    assert not leftovers, leftovers


# the final tables: scenario and synthesis tables, every prediction, the training losses
TABLES = ("summary/*.csv", "synthesis/evaluation/*.csv", "synthesis/calibration/*.csv",
          "classify/*/*/fold-*/predictions.csv", "synthesis/*/fold-*/train/losses.csv")


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL Snakemake and every job it started at once, as a crash or a closed laptop would."""
    import psutil

    parent = psutil.Process(proc.pid)
    parent.suspend()  # starts no job while its process tree is collected
    for p in [*parent.children(recursive=True), parent]:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    proc.wait(timeout=60)


def test_killed_run_resumes_with_the_same_tables(tiny_run, tmp_path):
    """The tiny DAG killed with SIGKILL once a model has saved a training checkpoint (mid-DAG, while
    training runs), then the same plain command run again: it finishes (profiles/default sets
    rerun-incomplete), and every final table equals the uninterrupted run's byte for byte."""
    reference, manifest = tiny_run
    command = _tiny_command(tmp_path, manifest)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    with open(tmp_path / "killed.log", "w") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 900
        try:
            while not list((tmp_path / "results" / "synthesis").glob("*/fold-*/train/checkpoint.pt")):
                assert proc.poll() is None, "the run ended before any training checkpoint was written"
                assert time.monotonic() < deadline, "no training checkpoint within 900 s"
                time.sleep(0.2)
        finally:
            _kill_tree(proc)
    assert not (tmp_path / "results" / "report" / "index.html").exists()
    rerun = _run(command, timeout=900)
    assert "profiles/default" in rerun.stdout + rerun.stderr  # the default profile was used
    names = sorted({str(p.relative_to(reference / "results")) for pattern in TABLES
                    for p in (reference / "results").glob(pattern)})
    assert len(names) > 20, names
    different = [n for n in names if (tmp_path / "results" / n).read_bytes() != (reference / "results" / n).read_bytes()]
    assert not different, different
