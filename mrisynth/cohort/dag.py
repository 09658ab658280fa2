"""Files and targets of the cohort rules (workflow/rules/cohort.smk holds only the rules): the raw files the
manifest names, the validated manifest and the fold files."""

from __future__ import annotations

from pathlib import Path

from mrisynth.cohort.splits import split_path


def manifest_files(rows: list[dict], manifest_dir: str | Path, column: str) -> list[str]:
    """Absolute-or-manifest-relative paths of one file column of the raw manifest (empty cells skipped)."""
    out = []
    for row in rows:
        value = (row.get(column) or "").strip()
        if value:
            out.append(value if Path(value).is_absolute() else str(Path(manifest_dir) / value))
    return out


def validated_manifest(results: str | Path) -> Path:
    """``<results>/manifest/manifest.csv``: what ``mrisynth validate`` writes and every later stage reads."""
    return Path(results) / "manifest" / "manifest.csv"


def results_root(manifest: str | Path) -> str:
    """The results folder, from the validated manifest's path (``<results>/manifest/manifest.csv``): rules pass
    it on to commands inferred from their input rather than hard-coded."""
    return str(Path(manifest).parent.parent)


def split_files(results: str | Path, k: int) -> list[str]:
    return [str(split_path(results, fold)) for fold in range(k)]


def targets(results: str | Path) -> list[str]:
    return [str(validated_manifest(results))]
