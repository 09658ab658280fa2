"""The HTML report from a tiny real run: landmarks, classifiers, summary, benchmarks -> index.html."""

import base64
import json
import re
from pathlib import Path
import shutil
import subprocess
from html.parser import HTMLParser

import pandas as pd
import pytest

from mrisynth.cli import main
from mrisynth.report.index import stage_times

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self.images, self.h2, self._in_h2 = 0, [], [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tables += tag == "table"
        if tag == "img":
            self.images.append(attrs["src"])
        self._in_h2 = tag == "h2"

    def handle_data(self, data):
        if self._in_h2:
            self.h2.append(data)
            self._in_h2 = False


@pytest.fixture
def report_html(make_cohort):
    c = make_cohort(k=2)
    cfg = str(c["config"])
    preds = []
    for fold in range(2):
        assert main(["landmarks", "--fold", str(fold), "--config", cfg]) == 0
        for scen in ("mri_only", "mri+real_pet"):
            assert main(["classify", "--fold", str(fold), "--scenario", scen, "--classifier", "regional", "--config", cfg]) == 0
            preds.append(str(c["results"] / "classify" / "regional" / scen / f"fold-{fold}" / "predictions.csv"))
    assert main(["summarize", "--predictions", *preds, "--out-dir", str(c["results"] / "summary"), "--config", cfg]) == 0
    # rule logs end with the CLI's usage line (progress output before it, as in real logs)
    logs = c["results"] / "logs"
    for name, line in (("preprocess/sub-01_ses-bl.log", "mrisynth preprocess: 7.2 s wall, 6.5 s CPU, peak RSS 200 MiB"),
                       ("preprocess/sub-02_ses-bl.log", "mrisynth preprocess: 5.3 s wall, 4.0 s CPU, peak RSS 250 MiB"),
                       ("classify/x/fold-0.log", "mrisynth classify: 12.5 s wall, 19.5 s CPU, peak RSS 300 MiB")):
        (logs / name).parent.mkdir(parents=True, exist_ok=True)
        (logs / name).write_text(f"INFO training\rtrain: 50%\r\n{line}\n")
    # a phantom run's effective config: the report scores the landmarks against the atrophy regions
    (c["results"] / "config").mkdir()
    (c["results"] / "config" / "effective.yaml").write_text(
        "cohort: phantom\nphantom: {atrophy: {regions: [hippocampus_L, hippocampus_R]}}\n")
    assert main(["report", "--config", cfg]) == 0
    return c["results"] / "report" / "index.html"


def test_report_holds_tables_and_embedded_images(report_html):
    text = report_html.read_text()
    page = _Page()
    page.feed(text)
    for title in ("Cohort", "Preprocessing QC", "Synthesis", "Scenarios", "ROC curves", "Landmarks", "Time per stage"):
        assert title in page.h2
    # cohort tables (2), scenario table, landmark table, time table
    assert page.tables >= 5
    assert len(page.images) == 2 + 2  # forest plot, ROC + one landmark figure per fold
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "mri+real_pet" in text and "pMCI_vs_sMCI" in text
    assert text.index("pooled AUC per classifier and scenario") < text.index("<td>mri+real_pet</td>")  # forest on top
    # the planted hippocampal atrophy: each fold's strongest landmarks lie in the hippocampi
    assert "Landmark precision on the phantom (top 12)" in text and text.count("<td>fold-") == 2
    assert "<td>preprocess</td>" in text and "<td>classify</td>" in text
    time_table = stage_times(report_html.parents[1]).set_index("command")
    # the classify/landmarks/summarize commands run above in this process log no usage line (main() prints it
    # to stderr, captured by pytest): only the three log files count
    assert time_table.loc["preprocess", "jobs"] == 2 and time_table.loc["preprocess", "CPU s"] == pytest.approx(10.5)
    assert time_table.loc["preprocess", "max RSS MiB"] == 250 and time_table.loc["classify", "wall s"] == 12.5
    assert time_table.loc["all", "CPU s"] == pytest.approx(30.0) and time_table.loc["classify", "CPU share %"] == 65.0
    assert "does not exist" in text  # QC and synthesis were not run here and the page says so


def _write_qc_and_synthesis(results: Path) -> None:
    """Stage outputs the classify fixture lacks, at the demo's size: a 40-session QC table made by the QC
    summariser (one failure, one outlier) and a synthesis evaluation of four models, two baselines and an oracle."""
    from mrisynth.config import load_config
    from mrisynth.preprocess import qc
    from mrisynth.preprocess.outputs import qc_summary_paths

    records = [{"participant_id": f"{i:04d}", "session_id": "M00", "resolution_mm": 3.0,
                "ncc_template": 0.91 + 0.001 * (i % 7), "dice_brain_mask": 0.97 + 0.001 * (i % 5),
                "t1_registration_metric": -1.3 - 0.01 * (i % 3), "has_pet": i % 2 == 0,
                "pet_registration_metric": -1.05 if i % 2 == 0 else float("nan"),
                "pet_t1_mutual_information": 0.48 if i % 2 == 0 else float("nan")} for i in range(40)]
    records[3]["ncc_template"] = 0.2  # fails the NCC threshold
    records[8]["t1_registration_metric"] = -0.4  # an outlier
    table = qc.summarise(records, load_config(None)["preprocess"]["qc"])
    tsv = qc_summary_paths(results)["tsv"]
    tsv.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(tsv, sep="\t", index=False, float_format="%.4f")
    folder = results / "synthesis" / "evaluation"
    folder.mkdir(parents=True)
    ssim = {"fgan": 0.9594, "fgan_nofc": 0.9595, "pix2pix": 0.9594, "cyclegan": 0.9572, "linear_regression": 0.9596,
            "population_mean": 0.9521, "oracle": 0.9712}
    pd.DataFrame([{"method": m, "mae_mean": 0.05, "mae_std": 0.01, "psnr_mean": 27.5, "psnr_std": 1.0, "ssim_mean": v,
                   "ssim_std": 0.01, "n_subjects": 80} for m, v in ssim.items()]).to_csv(folder / "summary.csv", index=False)
    pd.DataFrame([{"model": m, "baseline": "linear_regression", "metric": "ssim", "n": 80, "p_value": 0.0123}
                  for m in ("fgan", "fgan_nofc", "pix2pix", "cyclegan")]).to_csv(folder / "tests.csv", index=False)


def test_summary_headline_numbers(report_html):
    from mrisynth.report.summary import auc_table, synthesis_table

    results = report_html.parents[1]
    _write_qc_and_synthesis(results)
    synthesis = synthesis_table(results).set_index("method")
    assert list(synthesis.index) == ["fgan", "fgan_nofc", "pix2pix", "cyclegan", "linear_regression", "population_mean",
                                     "oracle"]
    assert synthesis.loc["cyclegan", "SSIM − linear map"] == "-0.0024" and synthesis.loc["oracle", "SSIM − linear map"] == "+0.0116"
    assert synthesis.loc["fgan", "p (Wilcoxon)"] == "0.012" and synthesis.loc["linear_regression", "SSIM − linear map"] == ""
    scenarios = pd.read_csv(results / "summary" / "scenarios.csv").set_index(["task", "classifier", "scenario"])
    aucs = auc_table(results).set_index("task")
    ref = scenarios.loc[("pMCI_vs_sMCI", "regional", "mri_only")]
    assert aucs.loc["pMCI vs sMCI", "MRI only"] == f"{ref['auc_pooled']:.3f} [{ref['auc_lo']:.2f}, {ref['auc_hi']:.2f}]"
    real = scenarios.loc[("AD_vs_NC", "regional", "mri+real_pet")]
    assert aucs.loc["AD vs NC", "+ real PET (complete cases)"].startswith(f"{real['auc_pooled']:.3f} [")
    assert main(["report", "--results", str(results), "--out", str(report_html)]) == 0
    text = report_html.read_text()
    assert text.index('id="summary"') < text.index('id="cohort"')
    assert "32 subjects (NC 8, sMCI 8, pMCI 8, AD 8) from 1 site(s); 16 with FDG-PET" in text
    assert "QC: 1 failed a check (0 excluded), 2 outlier(s) kept." in text  # the failure is an outlier too
    # QC: the flagged sessions and the statistics shown, the 40 rows folded
    qc = text[text.index('id="preprocessing-qc"'):text.index('id="synthesis"')]
    assert "<td>0003</td>" in qc.split("<details>")[0] and "<td>0008</td>" in qc.split("<details>")[0]
    assert "<td>0004</td>" not in qc.split("<details>")[0] and "<summary>All 40 sessions</summary>" in qc


# Runs in the page: where the summary ends, with every <details> opened whether the page or any table or
# image is wider than the window, written into the DOM that --dump-dom prints.
_LAYOUT_JS = """
const summary = document.getElementById("summary").getBoundingClientRect();
document.querySelectorAll("details").forEach(d => d.open = true);
const width = document.documentElement.clientWidth;
const right = Math.max(...[...document.querySelectorAll("table, img, pre")].map(e => e.getBoundingClientRect().right));
document.body.insertAdjacentHTML("beforeend", "<pre id=layout>" + JSON.stringify({summary_bottom: summary.bottom,
  height: window.innerHeight, width: width, scroll_width: document.documentElement.scrollWidth, right: right}) + "</pre>");
"""


def _layout(page: Path, tmp_path: Path, width: int, height: int) -> dict:
    probe = tmp_path / f"layout-{width}x{height}.html"
    probe.write_text(page.read_text().replace("</body>", f"<script>{_LAYOUT_JS}</script>\n</body>"))
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={width},{height}",
                          "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=60, check=True).stdout
    return json.loads(re.findall(r"<pre id=\"?layout\"?>(\{.*?\})</pre>", dom)[-1])


@pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"headless Chromium not installed ({CHROMIUM})")
def test_report_renders_in_headless_chromium(report_html, tmp_path):
    shot = tmp_path / "shot.png"
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", report_html.as_uri()],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert dom.count("<table") >= 5 and dom.count("<img") == 4
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1200,3000", report_html.as_uri()], capture_output=True, timeout=60, check=True)
    assert shot.stat().st_size > 10000
    # with every section filled at the demo's size: the summary on the first screen of a 1280x800 window (a
    # laptop), and nothing wider than the window, down to 800 px (the full QC table opened)
    _write_qc_and_synthesis(report_html.parents[1])
    assert main(["report", "--results", str(report_html.parents[1]), "--out", str(report_html)]) == 0
    for width, height in ((1280, 800), (800, 800)):
        box = _layout(report_html, tmp_path, width, height)
        assert box["scroll_width"] <= box["width"] and box["right"] <= box["width"], box
        if width == 1280:
            assert 0 < box["summary_bottom"] <= box["height"], box


def test_tiny_config_runs_on_eight_subjects(make_cohort):
    """configs/tiny.yaml's split and classify sections work on the workflow test's 8-subject cohort."""
    import yaml

    from mrisynth.cohort.splits import write_splits

    tiny = yaml.safe_load((Path(__file__).resolve().parents[2] / "configs" / "tiny.yaml").read_text())
    c = make_cohort(n_per_group=2, k=tiny["split"]["k"], classify=tiny["classify"])
    write_splits(c["manifest"], c["results"] / "splits", tiny["split"]["k"], 42, tiny["split"]["val_fraction"])
    cfg = str(c["config"])
    preds = []
    for fold in range(1):  # one fold keeps the test short; the other is the same code
        assert main(["landmarks", "--fold", str(fold), "--config", cfg]) == 0
        for clf in ("landmark", "regional"):
            for scen in tiny["classify"]["scenarios"]:
                assert main(["classify", "--fold", str(fold), "--scenario", scen, "--classifier", clf, "--config", cfg]) == 0
                preds.append(str(c["results"] / "classify" / clf / scen / f"fold-{fold}" / "predictions.csv"))
    assert main(["summarize", "--predictions", *preds, "--out-dir", str(c["results"] / "summary"), "--config", cfg]) == 0
    table = pd.read_csv(c["results"] / "summary" / "scenarios.csv")
    assert len(table) == 2 * 2 * len(tiny["classify"]["scenarios"]) and (table["n"] == 2).all()
