"""The report's first screen: the cohort in numbers, the synthesis headline (each model vs the linear map, and
the oracle where the evaluation has one), the headline AUC per task with its CI, and where each detail lives.

Every number is read from a stage's output file; a stage that has not run is left out with a word saying so.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from mrisynth.report.html import Section, table_html

DIAGNOSES = ("NC", "sMCI", "pMCI", "AD")
LINEAR = "linear_regression"
BASELINES = ("population_mean", LINEAR)
ORACLE = "oracle"
REFERENCE = "mri_only"
BOUNDS = (("mri+true_pet", "+ true PET (upper bound)"), ("mri+real_pet", "+ real PET (complete cases)"))


def _p(text: str) -> str:
    return f"<p>{text}</p>"


def cohort_text(results: Path) -> str:
    """One paragraph: subjects per diagnosis, PET, sites; BIDS exclusions; QC flags."""
    manifest = results / "manifest" / "manifest.csv"
    if not manifest.exists():
        return _p("<b>Cohort</b>: not built yet.")
    table = pd.read_csv(manifest, keep_default_na=False)
    counts = ", ".join(f"{dx} {int((table['diagnosis'] == dx).sum())}" for dx in DIAGNOSES)
    n_pet = int((table["pet"] != "").sum())
    text = (f"<b>Cohort</b>: {len(table)} subjects ({counts}) from {table['site'].nunique()} site(s); "
            f"{n_pet} with FDG-PET, {len(table) - n_pet} without (their PET is imputed).")
    excluded = results / "manifest" / "bids_manifest_excluded.tsv"
    stamp = results / "manifest" / "bids_manifest.json"
    if excluded.exists() and stamp.exists():
        info = json.loads(stamp.read_text())
        reasons = pd.read_csv(excluded, sep="\t", keep_default_na=False)["reason"].value_counts()
        why = "; ".join(f"{reason} {n}" for reason, n in reasons.items()) or "none"
        text += (f" Labelled from the BIDS dataset {html.escape(info['bids_dir'])} by the "
                 f"{info['horizon_months']}-month rule; {int(reasons.sum())} subject(s) excluded ({html.escape(why)}).")
    qc = results / "preprocess" / "qc_summary.tsv"
    if qc.exists():
        q = pd.read_csv(qc, sep="\t")
        text += (f" QC: {int(q['failed'].sum())} failed a check ({int(q['excluded'].sum())} excluded), "
                 f"{int(q['outlier'].sum())} outlier(s) kept.")
    return _p(text)


def synthesis_table(results: Path) -> pd.DataFrame | None:
    """Per method: SSIM, PSNR, MAE and the SSIM difference to the linear map (with the Wilcoxon p of the models)."""
    folder = results / "synthesis" / "evaluation"
    if not (folder / "summary.csv").exists():
        return None
    summary = pd.read_csv(folder / "summary.csv").set_index("method")
    tests = pd.read_csv(folder / "tests.csv") if (folder / "tests.csv").exists() else pd.DataFrame()
    models = [m for m in summary.index if m not in (*BASELINES, ORACLE)]
    order = [*models, *(m for m in (LINEAR, "population_mean", ORACLE) if m in summary.index)]
    linear = summary.loc[LINEAR, "ssim_mean"] if LINEAR in summary.index else float("nan")
    rows = []
    for method in order:
        p = float("nan")
        if not tests.empty:
            hit = tests[(tests["model"] == method) & (tests["baseline"] == LINEAR) & (tests["metric"] == "ssim")]
            p = float(hit["p_value"].iloc[0]) if len(hit) else p
        rows.append({"method": method, "SSIM": f"{summary.loc[method, 'ssim_mean']:.4f}",
                     "SSIM − linear map": "" if method == LINEAR else f"{summary.loc[method, 'ssim_mean'] - linear:+.4f}",
                     "p (Wilcoxon)": "" if pd.isna(p) else f"{p:.2g}",
                     "PSNR dB": f"{summary.loc[method, 'psnr_mean']:.2f}", "MAE": f"{summary.loc[method, 'mae_mean']:.4f}",
                     "n": int(summary.loc[method, "n_subjects"])})
    return pd.DataFrame(rows)


def _auc(row: pd.Series) -> str:
    return f"{row['auc_pooled']:.3f} [{row['auc_lo']:.2f}, {row['auc_hi']:.2f}]"


def auc_table(results: Path) -> pd.DataFrame | None:
    """Per task and classifier: AUC [95% CI] with MRI only, with the best imputed PET, and the bound."""
    csv = results / "summary" / "scenarios.csv"
    if not csv.exists():
        return None
    table = pd.read_csv(csv)
    rows = []
    for (task, clf), g in table.groupby(["task", "classifier"], sort=False):
        g = g.set_index("scenario")
        row = {"task": task.replace("_vs_", " vs "), "classifier": clf,
               "MRI only": _auc(g.loc[REFERENCE]) if REFERENCE in g.index else ""}
        imputed = g[g.index.str.contains("imputed_")].sort_values("auc_pooled", ascending=False)
        if len(imputed):
            best = imputed.index[0].removeprefix("mri+")
            row["+ imputed PET, best model"] = f"{_auc(imputed.iloc[0])} {best} (of {len(imputed)})"
        bound = next(((name, label) for name, label in BOUNDS if name in g.index), None)
        if bound:
            row[bound[1]] = _auc(g.loc[bound[0]])
        rows.append(row)
    return pd.DataFrame(rows).fillna("")


WHERE = (
    ("cohort", "subjects, sites, ages, raw images", "report/cohort.html"),
    ("preprocessing-qc", "QC per subject", "preprocess/qc_summary.tsv"),
    ("synthesis", "synthesis per metric, paired tests, FID/KID", "synthesis/evaluation/"),
    ("scenarios", "every classifier x scenario, all metrics, p-values", "summary/scenarios.csv"),
    ("roc-curves", "ROC curves", "summary/roc.png"),
)


def summary_section(results: str | Path) -> Section:
    results = Path(results)
    body = cohort_text(results)
    synthesis = synthesis_table(results)
    if synthesis is None:
        body += _p("<b>Synthesis</b>: not evaluated yet.")
    else:
        body += ("<p><b>Synthesis</b> (test subjects of every fold, real or hidden true PET; mean over subjects; "
                 "p: each model vs the linear map):</p>" + table_html(synthesis, index=False))
    aucs = auc_table(results)
    if aucs is None:
        body += _p("<b>Diagnosis</b>: not classified yet.")
    else:
        body += ("<p><b>Diagnosis</b>: AUC [95% bootstrap CI] of the pooled out-of-fold predictions; the best imputed "
                 "model is picked on these same predictions (optimistic).</p>" + table_html(aucs, index=False))
    links = "; ".join(f'<a href="#{anchor}">{html.escape(what)}</a> (<code>{html.escape(path)}</code>)'
                      for anchor, what, path in WHERE)
    body += f'<p class="note">Details: {links}; files under {html.escape(str(results.resolve()))}.</p>'
    return Section("Summary", body)
