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
    assert (results / "report" / "cohort.html").stat().st_size > 1000
    assert (results / "report" / "index.html").stat().st_size > 1000
    leftovers = [p for p in results.rglob("*") if p.name.endswith(".tmp") or ".tmp." in p.name]
    assert not leftovers, leftovers
    check_outputs(results, config)


def check_outputs(results: Path, config: dict) -> None:
    """What the DAG wrote, by content: folds, imputations, predictions, synthesis metrics, the scenario table."""
    from mrisynth.classify.data import read_cohort

    cohort = read_cohort(results / "manifest" / "manifest.csv")
    assert len(cohort) == sum(config["phantom"]["groups"].values())
    splits = _check_folds(results, cohort, config["split"]["k"])
    no_pet = set(cohort.loc[~cohort["has_pet"], "participant_id"])
    _check_imputations(results, config, splits, no_pet)
    _check_synthesis_metrics(results, config, splits, cohort)
    _check_scenario_table(results, config, splits)


def _check_folds(results: Path, cohort, k: int) -> list:
    """Each fold's train / val / test partition the subjects kept by QC; the k test splits partition them too."""
    from mrisynth.classify.splits import load_split
    from mrisynth.preprocess.outputs import qc_summary_paths, strip_prefix
    from mrisynth.preprocess.qc import excluded_subjects

    dropped = {strip_prefix(p, "sub") for p, _ in excluded_subjects(qc_summary_paths(results)["json"])}
    kept = {p for p in cohort["participant_id"] if strip_prefix(p, "sub") not in dropped}
    splits = [load_split(results / "splits" / f"fold-{f}.json") for f in range(k)]
    for s in splits:
        parts = [set(s.train), set(s.val), set(s.test)]
        assert set().union(*parts) == kept and sum(map(len, parts)) == len(kept), s
    tests = [set(s.test) for s in splits]
    assert set().union(*tests) == kept and sum(map(len, tests)) == len(kept)
    return splits


def _participant(path: Path) -> str:
    """The participant of a BIDS-style file name, without its ``sub-`` prefix."""
    return path.name.split("_")[0].removeprefix("sub-")


def _check_imputations(results: Path, config: dict, splits: list, no_pet: set) -> None:
    """Each model imputes, in each fold, exactly the subjects without PET plus the fold's test subjects; with
    K samples, the K draws of the same subjects."""
    import nibabel as nib

    from mrisynth.preprocess.outputs import strip_prefix
    from mrisynth.synthesis.paths import imputed_dir

    samples = config["synthesis"].get("samples", {})
    for model in config["synthesis"]["models"]:
        for s in splits:
            folder = imputed_dir(results, model, s.fold)
            expected = {strip_prefix(p, "sub") for p in no_pet | set(s.test)}
            assert {_participant(p) for p in folder.glob(f"*_desc-synth{model}_pet.nii.gz")} == expected, (model, s.fold)
            draws = sorted(folder.glob(f"*_desc-synth{model}samples_pet.nii.gz"))
            if samples.get(model, 0) >= 2:
                assert {_participant(p) for p in draws} == expected
                assert all(nib.load(p).shape[-1] == samples[model] for p in draws)
            else:
                assert not draws


def _check_synthesis_metrics(results: Path, config: dict, splits: list, cohort) -> None:
    """evaluate-synthesis scored every test subject (real or hidden true PET) for every model and baseline;
    each model's MAE recomputed from the imputed and reference files."""
    import numpy as np
    import pandas as pd

    from mrisynth.io.nifti import load_array
    from mrisynth.preprocess.outputs import subject_paths
    from mrisynth.synthesis.evaluate import BASELINES
    from mrisynth.synthesis.paths import evaluation_dir, imputed_pet_path

    res = config["preprocess"]["resolution_mm"]
    metrics = pd.read_csv(evaluation_dir(results) / "metrics.csv", dtype={"participant_id": str})
    models = list(config["synthesis"]["models"])
    expected = {(s.fold, p, m) for s in splits for p in s.test for m in models + list(BASELINES)}
    assert set(zip(metrics["fold"], metrics["participant_id"], metrics["method"])) == expected
    assert len(metrics) == len(expected)
    session = dict(zip(cohort["participant_id"], cohort["session_id"]))
    for r in metrics[metrics["method"].isin(models)].itertuples():
        sp = subject_paths(results, r.participant_id, session[r.participant_id], res)
        ref = load_array(sp.pet if r.reference == "real" else sp.truth_pet)[0]
        pred = load_array(imputed_pet_path(results, r.method, r.fold, r.participant_id, session[r.participant_id], res))[0]
        mask = load_array(sp.mask)[0] > 0
        assert r.mae == pytest.approx(float(np.abs(pred - ref)[mask].mean()), rel=1e-5), r


def _check_scenario_table(results: Path, config: dict, splits: list) -> None:
    """Every classifier x scenario x fold predicted exactly the fold's test subjects (per imputation for
    multiple imputation), and the scenario table is what an independent computation gives from them."""
    import pandas as pd

    from mrisynth.classify.dag import prediction_files
    from mrisynth.classify.scenarios import scenario_names

    from ..scenario_reference import compare_tables, reference_table

    folds = [s.fold for s in splits]
    files = prediction_files(str(results), config["classify"]["classifiers"], scenario_names(config), folds)
    frames = []
    for path in files:  # the order summarize reads them in
        pred = pd.read_csv(path, dtype={"participant_id": str})
        test = set(splits[int(pred["fold"].iloc[0])].test)
        groups = pred.groupby("imputation") if "imputation" in pred else [(None, pred)]
        for _, g in groups:
            assert set(g["participant_id"]) == test and len(g) == len(test), path
        frames.append(pred)
    written = pd.read_csv(results / "summary" / "scenarios.csv")
    reference = reference_table(pd.concat(frames, ignore_index=True), config["classify"]["n_bootstrap"], config["seed"])
    problems = compare_tables(written, reference, decimals=4)
    assert not problems, "\n".join(problems[:20])
