"""File names and targets of the report rules: the one-page report and the cohort page."""

from __future__ import annotations

from pathlib import Path


def report_dir(results: str | Path) -> Path:
    return Path(results) / "report"


def index_html(results: str | Path) -> Path:
    return report_dir(results) / "index.html"


def cohort_html(results: str | Path) -> Path:
    return report_dir(results) / "cohort.html"


def cohort_mosaic(results: str | Path) -> Path:
    return report_dir(results) / "cohort_mosaic.png"


def targets(results: str | Path) -> list[str]:
    return [str(cohort_html(results)), str(index_html(results))]
