"""The HTML report from a tiny real run: landmarks, classifiers, summary, benchmarks -> index.html."""

import base64
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


@pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"headless Chromium not installed ({CHROMIUM})")
def test_report_renders_in_headless_chromium(report_html, tmp_path):
    shot = tmp_path / "shot.png"
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", report_html.as_uri()],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert dom.count("<table") >= 5 and dom.count("<img") == 4
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1200,3000", report_html.as_uri()], capture_output=True, timeout=60, check=True)
    assert shot.stat().st_size > 10000


def test_tiny_config_runs_on_eight_subjects(make_cohort):
    """configs/tiny.yaml's split and classify sections work on the workflow test's 8-subject cohort."""
    import yaml

    from mrisynth.classify.splits import write_splits

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
