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


# The one lint accepted: rules run in the project's virtual environment (`make` builds it; a cluster job
# inherits it), not in a per-rule conda environment or container. A named environment makes Snakemake call
# `conda env export` while scheduling (it fails where conda is not installed), and an environment file
# could not install this checkout into the environment it builds; neither can be tested here.
SOFTWARE_LINT = "Specify a conda environment or container for each rule."


def test_lint_is_clean():
    """Every lint but SOFTWARE_LINT is gone: values reach shell commands through params, paths are inferred
    from each rule's files, and no rule file mixes functions with rules."""
    proc = subprocess.run([SNAKEMAKE, "--lint", "--snakefile", str(ROOT / "Snakefile")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    titles = [line.strip()[2:].rstrip(":") for line in (proc.stdout + proc.stderr).splitlines()
              if line.startswith("    * ")]
    assert titles and set(titles) == {SOFTWARE_LINT.rstrip(":")}, proc.stdout + proc.stderr
    assert "Lints for snakefile" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


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
    leftovers = [p for p in results.rglob("*") if p.name.endswith(".tmp") or ".tmp." in p.name]
    assert not leftovers, leftovers
    from mrisynth.config import load_config

    check_outputs(results, load_config(tiny_run[0] / "config.yaml"))  # validated, defaults filled: as the rules see it


def check_outputs(results: Path, config: dict) -> None:
    """What the DAG wrote, by content: folds, imputations, predictions, synthesis metrics, the scenario table."""
    from mrisynth.cohort.table import read_cohort

    cohort = read_cohort(results / "manifest" / "manifest.csv")
    assert len(cohort) == sum(config["phantom"]["groups"].values())
    splits = _check_folds(results, cohort, config["split"]["k"])
    no_pet = set(cohort.loc[~cohort["has_pet"], "participant_id"])
    _check_imputations(results, config, splits, no_pet)
    _check_synthesis_metrics(results, config, splits, cohort)
    _check_scenario_table(results, config, splits)


def _check_folds(results: Path, cohort, k: int) -> list:
    """Each fold's train / val / test partition the subjects kept by QC; the k test splits partition them too."""
    from mrisynth.cohort.splits import load_split
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
    return path.name.split("_")[0].removeprefix("sub-")


def _check_imputations(results: Path, config: dict, splits: list, no_pet: set) -> None:
    """Each model imputes, in each fold, exactly the subjects without PET plus the fold's test subjects; with
    K samples, the K draws of the same subjects."""
    import nibabel as nib

    from mrisynth.synthesis.paths import imputed_dir

    samples = {m: s.get("samples", 0) for m, s in config["synthesis"]["models"].items()}
    for model in config["synthesis"]["models"]:
        for s in splits:
            folder = imputed_dir(results, model, s.fold)
            expected = {p.removeprefix("sub-") for p in no_pet | set(s.test)}
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
    oracle = ["oracle"] if config["cohort"] == "phantom" else []  # the phantom's achievable PET (issue 16)
    expected = {(s.fold, p, m) for s in splits for p in s.test for m in models + list(BASELINES) + oracle}
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


def _bids_config(tmp_path: Path, bids_dir: Path) -> Path:
    """configs/tiny.yaml with `cohort: bids`, one synthesis model and one classifier: every stage once."""
    config = yaml.safe_load((ROOT / "configs" / "tiny.yaml").read_text())
    config.update(cohort="bids", bids_dir=str(bids_dir), results=str(tmp_path / "results"))
    # 15 phantom subjects, 3 of them MCI with histories the 36-month rule excludes: 3 per label remain
    config["phantom"]["groups"] = {"NC": 3, "sMCI": 5, "pMCI": 4, "AD": 3}
    config["synthesis"]["models"] = {"pix2pix": {**config["synthesis"]["models"]["pix2pix"], "samples": 0}}
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
