"""The Snakemake DAG: lint, formatting, a dry run of the default config, and one tiny real run."""

from __future__ import annotations

import os
import subprocess
import sys
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


def test_lint_is_clean():
    """No lint at all (snakemake --lint exits 1 whenever it prints one): every rule names its software (the
    named conda environment of common.smk), passes values through params, infers paths from its files."""
    proc = subprocess.run([SNAKEMAKE, "--lint", "--snakefile", str(ROOT / "Snakefile")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "Lints for" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_snakefmt_check():
    files = [str(ROOT / "Snakefile"), *map(str, sorted((ROOT / "workflow" / "rules").glob("*.smk")))]
    _run([str(BIN / "snakefmt"), "--check", *files])


def test_dry_run_default_config():
    proc = _run([SNAKEMAKE, "-n", "--quiet", "rules"])
    out = proc.stdout + proc.stderr
    for rule in ("validate", "cohort_report"):
        assert rule in out, out


def test_tiny_real_run(tmp_path):
    """Build the tiny config's 12-subject phantom and run the whole default DAG on it, in a temp folder."""
    manifest = tmp_path / "data_manifest.csv"
    _run([str(BIN / "mrisynth"), "phantom", "--manifest", str(manifest),
          "--config", str(ROOT / "configs" / "tiny.yaml")], timeout=300)
    config = yaml.safe_load((ROOT / "configs" / "tiny.yaml").read_text())
    config.update(manifest=str(manifest), results=str(tmp_path / "results"))
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    _run([SNAKEMAKE, "--cores", "2", "--configfile", str(cfg), "--snakefile", str(ROOT / "Snakefile"),
          "--directory", str(tmp_path)], timeout=900)
    results = tmp_path / "results"
    assert (results / "manifest" / "manifest.csv").exists()
    assert (results / "report" / "cohort.html").stat().st_size > 1000
    assert (results / "report" / "index.html").stat().st_size > 1000
    assert (results / "summary" / "scenarios.csv").exists()
    leftovers = [p for p in results.rglob("*") if p.name.endswith(".tmp") or ".tmp." in p.name]
    assert not leftovers, leftovers
