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


def _bids_config(tmp_path: Path, bids_dir: Path) -> Path:
    """configs/tiny.yaml with `cohort: bids`, one synthesis model and one classifier: every stage once."""
    config = yaml.safe_load((ROOT / "configs" / "tiny.yaml").read_text())
    config.update(cohort="bids", bids_dir=str(bids_dir), results=str(tmp_path / "results"))
    # 15 phantom subjects, 3 of them MCI with histories the 36-month rule excludes: 3 per label remain
    config["phantom"]["groups"] = {"NC": 3, "sMCI": 5, "pMCI": 4, "AD": 3}
    config["synthesis"].update(models=["pix2pix"], samples={})
    config["classify"].update(scenarios=["mri_only"], classifiers=["regional"])
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    return cfg


def test_tiny_bids_run(tmp_path):
    """`cohort: bids` on the phantom's BIDS dataset: the manifest derived by the label rule, then the whole DAG
    (preprocess, split, train, impute, evaluate, classify, summarize, report); a second call has nothing to do."""
    bids = tmp_path / "bids"
    cfg = _bids_config(tmp_path, bids)
    _run([str(BIN / "mrisynth"), "phantom", "--bids", str(bids), "--config", str(cfg), "--threads", "2"], timeout=300)
    snakemake = [SNAKEMAKE, "--configfile", str(cfg), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path)]
    proc = _run([*snakemake, "--cores", "2"], timeout=900)
    assert "12 subjects labelled (NC 3, sMCI 3, pMCI 3, AD 3;" in proc.stderr
    for reason in ("converted after horizon", "reverted to CN", "follow-up shorter than horizon"):
        assert f"excluded, {reason}: 1" in proc.stderr
    results = tmp_path / "results"
    manifest = results / "manifest" / "manifest.csv"
    excluded = (results / "manifest" / "bids_manifest_excluded.tsv").read_text().splitlines()
    assert len(manifest.read_text().splitlines()) == 1 + 12 and len(excluded) == 1 + 3
    assert (results / "summary" / "scenarios.csv").exists()
    assert (results / "synthesis" / "pix2pix" / "fold-1" / "best.pt").exists()
    assert (results / "report" / "index.html").stat().st_size > 1000
    leftovers = [p for p in results.rglob("*") if p.name.endswith(".tmp") or ".tmp." in p.name]
    assert not leftovers, leftovers
    # the dataset is not re-derived while unchanged, and a touched file that changes no label re-runs nothing
    (bids / "participants.tsv").touch()
    again = _run([*snakemake, "-n", "--quiet", "rules"])
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout + again.stderr


def test_bids_cohort_with_a_bad_dataset_stops_before_any_job(tmp_path):
    bids = tmp_path / "bids"
    (bids / "sub-01").mkdir(parents=True)
    (bids / "participants.tsv").write_text("participant_id\tsex\nsub-01\tF\n")
    cfg = _bids_config(tmp_path, bids)
    proc = subprocess.run([SNAKEMAKE, "-n", "--configfile", str(cfg), "--snakefile", str(ROOT / "Snakefile"),
                           "--directory", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert f"cohort bids: BIDS dataset {bids}: not a BIDS dataset" in proc.stderr + proc.stdout
    assert not (tmp_path / "results" / "manifest").exists()
