"""``mrisynth report``: the pipeline's one-page summary, ``results/report/index.html``, self-contained
(every figure embedded as PNG data).

Sections: cohort (the cohort page's pieces), preprocessing QC, synthesis evaluation, calibration of the
multiple imputations (uncertainty maps), the scenario table (with Rubin-pooled rows), ROC curves,
landmarks, time and CPU per command (from the usage line ending each rule log). A section whose stage has not
produced its files says so instead of failing, so the page also works for partial runs.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from mrisynth.report.html import Section, details_html, image_html, render_page, table_html, text_html


def _png(path: Path, alt: str) -> str:
    return image_html(path.read_bytes(), alt)


def _missing(what: str, path: Path) -> str:
    return text_html(f"No {what}: {path} does not exist (stage not run or not configured).")


def cohort_sections(results: Path) -> list[Section]:
    from mrisynth.io.manifest import read_manifest
    from mrisynth.report import cohort

    manifest = results / "manifest" / "manifest.csv"
    if not manifest.exists():
        return [Section("Cohort", _missing("cohort", manifest))]
    table = read_manifest(manifest, check_files=False)
    mosaic = results / "report" / "cohort_mosaic.png"
    if not mosaic.exists():  # the cohort table alone; the raw-image mosaic is the cohort rule's output
        return cohort.cohort_sections(table, b"")[:1]
    return cohort.cohort_sections(table, mosaic.read_bytes())


def qc_section(results: Path) -> Section:
    """Flagged sessions and summary statistics of the QC numbers; the full per-session table folded."""
    from mrisynth.preprocess.outputs import qc_summary_paths

    paths = qc_summary_paths(results)
    if not paths["tsv"].exists():
        return Section("Preprocessing QC", _missing("QC summary", paths["tsv"]))
    table = pd.read_csv(paths["tsv"], sep="\t", dtype={"participant_id": str, "session_id": str})
    table[["failed_checks", "outlier_checks"]] = table[["failed_checks", "outlier_checks"]].fillna("")
    flagged = table[table["failed"] | table["outlier"]]
    body = text_html(f"{len(table)} sessions registered to the template; {int(table['failed'].sum())} failed a check "
                     f"({int(table['excluded'].sum())} excluded from later stages), {int(table['outlier'].sum())} "
                     "outlier(s) (robust z-score), kept.")
    if len(flagged):
        body += table_html(flagged[["participant_id", "session_id", "failed_checks", "outlier_checks", "excluded"]],
                           index=False)
    numbers = [c for c in table.columns if c != "resolution_mm" and pd.api.types.is_numeric_dtype(table[c])
               and not pd.api.types.is_bool_dtype(table[c])]
    stats = table[numbers].describe().T
    stats = stats.rename(columns={"count": "n", "50%": "median", "std": "sd"})[["n", "mean", "sd", "min", "median", "max"]]
    body += "<h3>Summary statistics</h3>" + table_html(stats.round(4).astype({"n": int}))
    body += details_html(f"All {len(table)} sessions", table_html(table.round(4), index=False))
    if paths["mosaic"].exists():
        body += _png(paths["mosaic"], "QC mosaic")
    return Section("Preprocessing QC", body)


def synthesis_section(results: Path) -> Section:
    from mrisynth.synthesis.paths import evaluation_dir

    folder = evaluation_dir(results)
    summary = folder / "summary.csv"
    if not summary.exists():
        return Section("Synthesis", _missing("synthesis evaluation", summary))
    table = pd.read_csv(summary).round(4)
    regional = [c for c in table if c.startswith(("metaroi", "control", "r2_", "dice"))]
    shares = [c for c in table if c.startswith("share_")]
    body = table_html(table.drop(columns=regional + shares), index=False)
    if regional:  # disease regions: meta-ROI SUVR error per diagnosis, between-subject R², NC z-maps
        body += "<h3>Disease regions (AD meta-ROI, sensorimotor control, R² of the deviation from the training mean, z-maps vs NC)</h3>"
        body += table_html(table[["method", *regional]], index=False)
    if shares:
        body += "<h3>Share of the oracle's achievable gain over the linear map</h3>" + table_html(table[["method", *shares]], index=False)
    tests = folder / "tests.csv"
    if tests.exists():
        body += "<h3>Paired tests</h3>" + table_html(pd.read_csv(tests).round(4), index=False)
    for fig in sorted(folder.glob("fig-*.png")):
        title = "hypometabolism z-maps (AD and NC test subject)" if fig.stem == "fig-zmaps" else f"{fig.stem[4:]}: real vs synthetic"
        body += f"<h3>{title}</h3>" + _png(fig, title)
    return Section("Synthesis", body)


def calibration_section(results: Path) -> Section | None:
    """Coverage / sd-error table and uncertainty maps of the multiple imputations (None if not configured)."""
    from mrisynth.synthesis.paths import calibration_dir

    folder = calibration_dir(results)
    if not (folder / "table.md").exists():
        return None
    summary = pd.read_csv(folder / "summary.csv")
    body = text_html((folder / "table.md").read_text().split("\n\n")[1]) + table_html(summary.round(4), index=False)
    for fig in sorted(folder.glob("fig-uncertainty-*.png")):
        model = fig.stem.removeprefix("fig-uncertainty-")
        body += f"<h3>{model}: mean, sd and error of the imputations</h3>" + _png(fig, f"uncertainty maps, {model}")
    return Section("Multiple imputation: calibration", body)


def scenario_sections(results: Path) -> list[Section]:
    from mrisynth.classify.summarize import NOTE, display_table

    csv = results / "summary" / "scenarios.csv"
    if not csv.exists():
        return [Section("Scenarios", _missing("scenario table", csv))]
    table = pd.read_csv(csv)
    body = ""
    forest = results / "summary" / "forest.png"
    if forest.exists():
        body += _png(forest, "pooled AUC per classifier and scenario") + text_html(
            "Pooled out-of-fold AUC with its 95% bootstrap CI for every classifier x scenario, grouped by classifier "
            "(dashed: the classifier's mri_only AUC; dotted: chance).")
    body += table_html(display_table(table), index=False) + text_html(NOTE)
    if "imputations" in table:
        from mrisynth.classify.multiple import NOTE as MULTI_NOTE
        from mrisynth.classify.multiple import comparison_table

        body += ("<h3>Multiple imputation: Rubin's intervals vs single imputation (AUC)</h3>"
                 + table_html(comparison_table(table).round(4), index=False) + text_html(MULTI_NOTE))
    sections = [Section("Scenarios", body)]
    roc = results / "summary" / "roc.png"
    if roc.exists():
        sections.append(Section("ROC curves", text_html("Pooled out-of-fold predictions; AUC in brackets.")
                                + _png(roc, "ROC curves per scenario")))
    return sections


def landmark_section(results: Path) -> Section:
    folders = sorted((results / "classify" / "landmarks").glob("fold-*"))
    figs = [f / "landmarks.png" for f in folders if (f / "landmarks.png").exists()]
    if not figs:
        return Section("Landmarks", _missing("landmarks", results / "classify" / "landmarks"))
    first = pd.read_csv(figs[0].parent / "landmarks.csv")
    body = _png(figs[0], f"landmarks of {figs[0].parent.name}") + text_html(
        f"Landmarks of {figs[0].parent.name} (from its training subjects only): template mm coordinates, t "
        "statistic, p-value and the nearest named region.")
    body += table_html(first[["rank", "x", "y", "z", "t", "p", "region"]], index=False)
    for fig in figs[1:]:
        body += f"<h3>{fig.parent.name}</h3>" + _png(fig, f"landmarks of {fig.parent.name}")
    body += landmark_precision_html(results, [f.parent for f in figs])
    return Section("Landmarks", body)


def landmark_precision_html(results: Path, folders: list[Path], k: int = 12) -> str:
    """Phantom runs only (the run's effective config says cohort: phantom): per fold, the share of the top-k
    landmarks inside the phantom's atrophy regions (evaluation only; the landmarks never see them)."""
    import yaml

    from mrisynth.classify.landmarks import precision

    effective = results / "config" / "effective.yaml"
    cfg = yaml.safe_load(effective.read_text()) if effective.exists() else {}
    if cfg.get("cohort") != "phantom":
        return ""
    regions = cfg["phantom"]["atrophy"]["regions"]
    rows = []
    for folder in folders:
        table = pd.read_csv(folder / "landmarks.csv")
        top = table.sort_values("rank").head(k)
        rows.append({"fold": folder.name, "landmarks": len(top), f"precision (top {k})": round(precision(table, regions, k), 3),
                     "nearest regions": ", ".join(f"{r} ({n})" for r, n in top["region"].value_counts().items())})
    return (f"<h3>Landmark precision on the phantom (top {k})</h3>" + text_html(
        f"Share of each fold's top {k} landmarks inside the phantom's atrophy regions ({', '.join(regions)}; "
        "ellipsoids of mrisynth.anatomy, read here for evaluation only).") + table_html(pd.DataFrame(rows), index=False))


def dsnet_section(results: Path) -> Section | None:
    """The DSNet classifier's specificity maps (fold 0 of every scenario), when that classifier ran."""
    figs = sorted((results / "classify" / "dsnet").glob("*/fold-0/specificity.png"))
    if not figs:
        return None
    body = text_html("Where the DSNet's spatial cosine module finds the disease: the specificity map (softmax over "
                     "locations of the contrast between the cosine similarities to the class prototypes) of the PET "
                     "branch (T1 branch for mri_only) over a few fold-0 test subjects, per scenario.")
    for fig in figs:
        body += f"<h3>{fig.parent.parent.name}</h3>" + _png(fig, f"DSNet specificity maps, {fig.parent.parent.name}")
    return Section("DSNet specificity maps", body)


def stage_times(results: Path) -> pd.DataFrame:
    """Cost per command, summed over the rule logs under ``<results>/logs``: every ``mrisynth`` command ends
    its log with one exact usage line (``cli.usage_line``: wall, CPU incl. children, peak RSS)."""
    pattern = re.compile(r"^mrisynth (\S+): ([\d.]+) s wall, ([\d.]+) s CPU, peak RSS (\d+) MiB$", re.M)
    rows = [{"command": m[1], "wall": float(m[2]), "cpu": float(m[3]), "rss": float(m[4])}
            for log in sorted((results / "logs").rglob("*.log")) for m in pattern.finditer(log.read_text(errors="replace"))]
    columns = ["command", "jobs", "wall s", "CPU s", "CPU share %", "max job wall s", "max RSS MiB"]
    if not rows:
        return pd.DataFrame(columns=columns)
    df = pd.DataFrame(rows)
    out = df.groupby("command", sort=False).agg(jobs=("wall", "size"), wall=("wall", "sum"), cpu=("cpu", "sum"),
                                                longest=("wall", "max"), rss=("rss", "max")).reset_index()
    out = out.sort_values("cpu", ascending=False)
    total = pd.DataFrame([{"command": "all", "jobs": out["jobs"].sum(), "wall": out["wall"].sum(), "cpu": out["cpu"].sum(),
                           "longest": out["longest"].max(), "rss": out["rss"].max()}])
    out = pd.concat([out, total], ignore_index=True)
    out["share"] = 100 * out["cpu"] / out["cpu"].iloc[-1]
    out = out.round(1).rename(columns={"wall": "wall s", "cpu": "CPU s", "share": "CPU share %", "longest": "max job wall s",
                                       "rss": "max RSS MiB"})
    return out[columns]


def time_section(results: Path) -> Section:
    table = stage_times(results)
    if table.empty:
        return Section("Time per stage", _missing("rule logs", results / "logs"))
    return Section("Time per stage", text_html(
        "Per command, summed over its jobs (from the last line of each rule log). CPU counts every thread and "
        "child process; on N cores the pipeline cannot finish faster than total CPU / N, and parallel jobs "
        "overlap, so the elapsed time is shorter than the summed wall time.") + table_html(table, index=False))


def build_report(results: str | Path) -> str:
    results = Path(results)
    calibration = calibration_section(results)
    from mrisynth.report.summary import summary_section

    sections = [summary_section(results), *cohort_sections(results), qc_section(results), synthesis_section(results), *([calibration] if calibration else []),
                *scenario_sections(results), landmark_section(results), *filter(None, [dsnet_section(results)]),
                time_section(results)]
    return render_page("mrisynth report", sections, subtitle=f"Results folder: {results.resolve()}")
