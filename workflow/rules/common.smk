# Shared state of every stage: the config, the subjects read from the manifest, the default targets.
import csv
import sys
from pathlib import Path

from mrisynth.classify import dag as classify_dag
from mrisynth.cohort import dag as cohort_dag
from mrisynth.cohort.subjects import manifest_subjects
from mrisynth.preprocess import dag as preprocess_dag
from mrisynth.report import dag as report_dag
from mrisynth.synthesis import dag as synthesis_dag

RESULTS = config["results"]
# cohort bids: the manifest is derived from the BIDS dataset (see read_manifest_rows)
MANIFEST = (
    f"{RESULTS}/manifest/bids_manifest.csv"
    if config["cohort"] == "bids"
    else config["manifest"]
)
MANIFEST_DIR = Path(MANIFEST).parent
CONFIGFILES = [str(p) for p in workflow.configfiles]


def write_effective_config():
    """Write the config Snakemake resolved (every --configfile and --config merged, defaults filled).

    Every `mrisynth` command reads this one file, so a command sees exactly the values the DAG was built
    from. It is rewritten only when its content changes, so its timestamp stays put otherwise.
    """
    import yaml

    path = Path(RESULTS) / "config" / "effective.yaml"
    text = yaml.safe_dump(dict(config), sort_keys=True)
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return str(path)


def remove_stale_locks():
    """Remove the locks of a run that was killed (SIGKILL, power loss): they stay in .snakemake/locks and
    the next run of the same command stops with LockException until `snakemake --unlock`. They are stale
    when no other snakemake process (this one and its parents aside) works in this folder.
    """
    import os

    import psutil

    locks = list(Path(".snakemake", "locks").glob("*.lock"))
    if not locks:
        return
    here = os.getcwd()
    mine = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        info = proc.info
        if (
            info["pid"] not in mine
            and info["cwd"] == here
            and any("snakemake" in arg for arg in info["cmdline"] or [])
        ):
            return  # a live run holds them
    for lock in locks:
        lock.unlink(missing_ok=True)
    print(
        f"Removed {len(locks)} stale lock(s) of a killed run in {here}", file=sys.stderr
    )


remove_stale_locks()
EFFECTIVE_CONFIG = write_effective_config()
CONFIG_ARGS = f"--config {EFFECTIVE_CONFIG}"


def read_manifest_rows():
    """Rows of the raw manifest, read when the DAG is built (the manifest must exist by then).

    cohort bids: the DAG's jobs depend on who is labelled, so the manifest is derived here, before the DAG
    exists, not by a rule (a checkpoint would make every subject list of every rule file lazy). Deriving
    takes about a minute of CPU at ADNI scale (pybids indexing), so it is redone only when the dataset's fingerprint
    (every file's path, size and time) or the horizon changed, and the manifest is rewritten only when its
    content changed, so that nothing downstream re-runs for nothing. A bad dataset stops here: nothing runs.
    """
    if config["cohort"] == "bids":
        from mrisynth.errors import InputError
        from mrisynth.io.bids_dataset import cached_manifest

        try:
            rows, lines = cached_manifest(
                config["bids_dir"], MANIFEST, config["horizon_months"]
            )
        except InputError as exc:
            raise WorkflowError(f"cohort bids: {exc}")
        for line in lines:
            print(f"bids-manifest {config['bids_dir']}: {line}", file=sys.stderr)
        return rows
    if not Path(MANIFEST).exists():
        raise WorkflowError(
            f"manifest {MANIFEST} not found. For a phantom cohort of another size run "
            f"`mrisynth phantom --n-subjects N --manifest {MANIFEST}` first; for your own data "
            "set `manifest:` in your config."
        )
    with open(MANIFEST, newline="") as fh:
        return list(csv.DictReader(fh))


ROWS = read_manifest_rows()


# every subject's preprocessed files and whether it has a real PET: the one list all rule files use
SUBJECTS = manifest_subjects(RESULTS, ROWS, config["preprocess"]["resolution_mm"])
MANIFEST_OUT = str(cohort_dag.validated_manifest(RESULTS))


def all_targets():
    """Everything the default target asks for, each stage's final outputs (its dag module's targets)."""
    return [
        *cohort_dag.targets(RESULTS),
        *preprocess_dag.targets(RESULTS, SUBJECTS, config["cohort"] == "phantom"),
        *synthesis_dag.targets(config, RESULTS),
        *classify_dag.targets(config, RESULTS),
        *report_dag.targets(RESULTS),
    ]
