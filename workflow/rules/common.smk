# Shared helpers: paths, the subject table read from the manifest, and the targets of `rule all`.
import csv
import sys
from pathlib import Path

RESULTS = config["results"]
MANIFEST = config["manifest"]
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
    """Rows of the raw manifest, read when the DAG is built (the manifest must exist by then)."""
    if not Path(MANIFEST).exists():
        raise WorkflowError(
            f"manifest {MANIFEST} not found. For a phantom cohort of another size run "
            f"`mrisynth phantom --n-subjects N --manifest {MANIFEST}` first; for your own data "
            "set `manifest:` in your config."
        )
    with open(MANIFEST, newline="") as fh:
        return list(csv.DictReader(fh))


ROWS = read_manifest_rows()


def manifest_files(column):
    """Absolute-or-manifest-relative paths of one file column (empty cells skipped)."""
    out = []
    for row in ROWS:
        value = (row.get(column) or "").strip()
        if value:
            out.append(
                value if Path(value).is_absolute() else str(MANIFEST_DIR / value)
            )
    return out


def all_targets():
    """Everything `rule all` asks for; each stage's rule file adds its final outputs here."""
    return [
        f"{RESULTS}/manifest/manifest.csv",
        f"{RESULTS}/report/cohort.html",
        f"{RESULTS}/report/index.html",
        *preprocess_targets(),
        *synthesis_targets(),
    ]
