"""The scenario table: every classifier x scenario x task, metrics as mean +- sd over folds, 95% bootstrap
CIs on the pooled out-of-fold predictions, and paired bootstrap p-values against ``mri_only`` (same
classifier, same task, on the subjects both scenarios predicted: for ``mri+real_pet`` the test subjects
with a real PET) and, for every ``mri+imputed_<model>``, against ``mri+imputed_linear`` (is the model's
imputation worth more than the voxelwise linear T1 map?). Plus ROC curves of the pooled predictions and a
forest plot of the pooled AUCs with their CIs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mrisynth.cohort.table import TASKS
from mrisynth.classify.multiple import comparison_table, is_multi, pooled_row
from mrisynth.classify.multiple import markdown as multiple_markdown
from mrisynth.classify.scenarios import IMPUTED_LINEAR, IMPUTED_PREFIX
from mrisynth.errors import InputError
from mrisynth.metrics.classification import METRICS, binary_metrics, bootstrap_ci, fold_summary, paired_bootstrap_pvalue

REFERENCE = "mri_only"
KEY = ["task", "classifier", "scenario"]


def read_predictions(paths: list[str | Path]) -> pd.DataFrame:
    need = {"participant_id", "task", "label", "prob", "fold", "scenario", "classifier"}
    frames = []
    for p in paths:
        if not Path(p).exists():
            raise InputError(f"predictions {p} do not exist")
        df = pd.read_csv(p, dtype={"participant_id": str})
        if need - set(df.columns):
            raise InputError(f"predictions {p} lack column(s) {sorted(need - set(df.columns))}")
        frames.append(df)
    if not frames:
        raise InputError("summarize: no prediction files given")
    return pd.concat(frames, ignore_index=True)


def _scenario_order(names) -> list[str]:
    base = ["mri_only", "mri+real_pet", "mri+zero_fill", "mri+mean_pet"]
    return [n for n in base if n in names] + sorted(n for n in names if n not in base and n != "mri+true_pet") + (
        ["mri+true_pet"] if "mri+true_pet" in names else [])


def scenario_table(pred: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    """One row per (task, classifier, scenario): n, folds, and per metric mean, sd, pooled, lo, hi, p."""
    rows = []
    for (task, clf), group in pred.groupby(["task", "classifier"], sort=False):
        ref = group[group["scenario"] == REFERENCE].set_index(["fold", "participant_id"])
        linear = group[group["scenario"] == IMPUTED_LINEAR].set_index(["fold", "participant_id"])
        for scen in _scenario_order(group["scenario"].unique()):
            g = group[group["scenario"] == scen]
            if is_multi(scen):  # K imputations pooled with Rubin's rules
                rows.append({"task": task, "classifier": clf, "scenario": scen, **pooled_row(g, n_boot, seed)})
                continue
            row = {"task": task, "classifier": clf, "scenario": scen, "n": len(g), "n_pos": int(g["label"].sum()),
                   "folds": g["fold"].nunique()}
            per_fold = [binary_metrics(f["label"], f["prob"]) for _, f in g.groupby("fold")]
            summary = fold_summary(per_fold) if len(per_fold) > 1 else {k: (v, np.nan) for k, v in per_fold[0].items()}
            ci = bootstrap_ci(g["label"], g["prob"], n_boot=n_boot, seed=seed)
            pvals = {}
            if scen != REFERENCE and len(ref):
                both = g.set_index(["fold", "participant_id"]).join(ref["prob"].rename("ref"), how="inner")
                pvals = paired_bootstrap_pvalue(both["label"], both["prob"], both["ref"], n_boot=n_boot, seed=seed)
                row["n_paired"] = len(both)
            vs_linear = {}
            if scen.startswith(IMPUTED_PREFIX) and scen != IMPUTED_LINEAR and len(linear):
                both = g.set_index(["fold", "participant_id"]).join(linear["prob"].rename("ref"), how="inner")
                vs_linear = paired_bootstrap_pvalue(both["label"], both["prob"], both["ref"], n_boot=n_boot, seed=seed)
            for m in METRICS:
                row[f"{m}_mean"], row[f"{m}_sd"] = summary[m]
                row[f"{m}_pooled"], row[f"{m}_lo"], row[f"{m}_hi"] = ci[m]
                row[f"{m}_p"] = pvals[m][1] if m in pvals else np.nan
                row[f"{m}_p_linear"] = vs_linear[m][1] if m in vs_linear else np.nan
            rows.append(row)
    order = {t: i for i, t in enumerate(TASKS)}
    table = pd.DataFrame(rows)
    return table.sort_values(["task", "classifier"], key=lambda s: s.map(order) if s.name == "task" else s,
                             kind="stable").reset_index(drop=True)


def _fmt(x: float, digits: int = 3) -> str:
    return "n/a" if pd.isna(x) else f"{x:.{digits}f}"


NOTE = (f"Metrics: mean ± sd over folds [95% percentile bootstrap CI on the pooled out-of-fold predictions]; "
        f"threshold 0.5 on the predicted probability (the networks' probabilities are calibrated on the validation "
        f"subjects). p: two-sided paired bootstrap test against {REFERENCE} "
        f"(same classifier and task, on the subjects both scenarios predicted); p vs linear: the same test of each "
        f"mri+imputed_<model> against {IMPUTED_LINEAR} (PET imputed by the voxelwise linear T1 map). mri+real_pet is trained and "
        "evaluated on the subjects with a real PET only (n shows how many); every other scenario evaluates all "
        "test subjects of the task. mri+true_pet (phantom only) uses the hidden true PET: the upper bound.")


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """Readable strings: per metric 'mean ± sd [pooled 95% CI]', then the paired p of AUC and BAC."""
    out = table[["task", "classifier", "scenario", "n"]].copy()
    for m in METRICS:
        out[m.upper()] = [f"{_fmt(r[f'{m}_mean'])} ± {_fmt(r[f'{m}_sd'])} [{_fmt(r[f'{m}_lo'], 2)}, {_fmt(r[f'{m}_hi'], 2)}]"
                          for _, r in table.iterrows()]
    out["p AUC"] = table["auc_p"].map(_fmt)
    out["p BAC"] = table["bac_p"].map(_fmt)
    if "auc_p_linear" in table:
        out["p AUC vs linear"] = table["auc_p_linear"].map(_fmt)
    return out


def markdown_table(table: pd.DataFrame) -> str:
    shown = display_table(table)
    lines = ["| " + " | ".join(shown.columns) + " |", "|" + "---|" * len(shown.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in shown.itertuples(index=False)]
    multi = multiple_markdown(comparison_table(table)) if "imputations" in table else ""
    return "\n".join(lines) + "\n\n" + NOTE + "\n" + ("\n" + multi if multi else "")


def plot_roc(pred: pd.DataFrame, path: str | Path) -> None:
    """ROC curves of the pooled out-of-fold predictions: one panel per task x classifier, two panels per row
    (the report shows the figure at most ~1150 px wide: the legend's 9 pt stay legible), one colour per
    scenario in every panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_auc_score, roc_curve

    from mrisynth.io.atomic import save_figure

    panels = [(t, c) for t in TASKS for c in sorted(pred["classifier"].unique())
              if ((pred["task"] == t) & (pred["classifier"] == c)).any()]
    scenarios = _scenario_order(pred["scenario"].unique())
    colours = {scen: plt.get_cmap("tab10" if len(scenarios) <= 10 else "tab20")(i) for i, scen in enumerate(scenarios)}
    cols = min(2, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.6 * cols, 5.0 * rows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (task, clf) in zip(axes.flat, panels):
        g = pred[(pred["task"] == task) & (pred["classifier"] == clf)]
        for scen in _scenario_order(g["scenario"].unique()):
            s = g[g["scenario"] == scen]
            if s["label"].nunique() < 2:
                continue
            fpr, tpr, _ = roc_curve(s["label"], s["prob"])
            ax.plot(fpr, tpr, label=f"{scen} ({roc_auc_score(s['label'], s['prob']):.2f})", color=colours[scen],
                    linestyle="--" if scen in (REFERENCE, "mri+true_pet") else "-")
        ax.plot([0, 1], [0, 1], color="grey", linewidth=0.5)
        ax.set(title=f"{task.replace('_vs_', ' vs ')}, {clf}", xlabel="1 - specificity", ylabel="sensitivity")
        ax.legend(fontsize=9, loc="lower right", framealpha=0.85)
    save_figure(fig, path, dpi=100)


def plot_forest(table: pd.DataFrame, path: str | Path) -> None:
    """Per task, the pooled AUC and its 95% CI of every classifier x scenario, grouped by classifier
    (Rubin-pooled rows of multiple imputation included); dotted line: chance, dashed: each classifier's
    mri_only AUC."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mrisynth.io.atomic import save_figure

    tasks = [t for t in TASKS if (table["task"] == t).any()]
    n_rows = max(len(table[table["task"] == t]) + table[table["task"] == t]["classifier"].nunique() for t in tasks)
    fig, axes = plt.subplots(1, len(tasks), figsize=(6.2 * len(tasks), 0.24 * n_rows + 1.2), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, task in zip(axes[0], tasks):
        t = table[table["task"] == task]
        y, ticks, labels = 0, [], []
        for ci, (clf, g) in enumerate(t.groupby("classifier", sort=True)):
            order = {s: i for i, s in enumerate(_scenario_order(g["scenario"].unique()))}
            g = g.sort_values("scenario", key=lambda s: s.map(order))
            colour = colours[ci % len(colours)]
            ref = g.loc[g["scenario"] == REFERENCE, "auc_pooled"]
            top = y
            for r in g.itertuples():
                ax.errorbar(r.auc_pooled, -y, xerr=[[r.auc_pooled - r.auc_lo], [r.auc_hi - r.auc_pooled]], fmt="o",
                            color=colour, markersize=4, capsize=2, linewidth=1)
                ticks.append(-y)
                labels.append(f"{clf}: {r.scenario}")
                y += 1
            if len(ref) and pd.notna(ref.iloc[0]):
                ax.plot([ref.iloc[0]] * 2, [-top + 0.4, -(y - 1) - 0.4], color=colour, linestyle="--", linewidth=0.8)
            y += 1
        ax.axvline(0.5, color="grey", linestyle=":", linewidth=0.8)
        ax.set_yticks(ticks, labels, fontsize=7)
        ax.set_xlim(0.2, 1.0)
        ax.set(xlabel="pooled out-of-fold AUC [95% bootstrap CI]", title=task.replace("_vs_", " vs "))
        ax.grid(axis="x", linewidth=0.3)
    save_figure(fig, path, dpi=90)


def summarize(paths: list[str | Path], out_dir: str | Path, n_boot: int, seed: int) -> pd.DataFrame:
    from mrisynth.io.atomic import atomic_path, write_text

    pred = read_predictions(paths)
    table = scenario_table(pred, n_boot, seed)
    out_dir = Path(out_dir)
    with atomic_path(out_dir / "scenarios.csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    write_text(out_dir / "scenarios.md", markdown_table(table))
    with atomic_path(out_dir / "predictions.csv") as tmp:
        pred.to_csv(tmp, index=False, float_format="%.6f")
    plot_roc(pred[~pred["scenario"].map(is_multi)], out_dir / "roc.png")  # one curve per scenario, not per imputation
    plot_forest(table, out_dir / "forest.png")
    return table
