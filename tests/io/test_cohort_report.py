"""cohort-report: exact cohort tables, one mosaic subject per diagnosis, a self-contained page."""

import base64
import io
import re

import matplotlib.image
import pytest

from mrisynth.cli import main
from mrisynth.io.manifest import read_manifest, write_manifest
from mrisynth.report.cohort import counts_by_site, demographics, pick_subjects
from mrisynth.report.html import Section, render_page


@pytest.fixture
def validated(tiny_cohort, tmp_path):
    return write_manifest(read_manifest(tiny_cohort), tmp_path / "results" / "manifest" / "manifest.csv")


def test_cohort_tables(validated):
    table = read_manifest(validated, check_files=False)
    counts = counts_by_site(table)
    assert counts.index.tolist() == ["NC", "sMCI", "pMCI", "AD", "all"]
    assert counts.to_dict(orient="list") == {"A": [1, 1, 0, 0, 2], "B": [0, 0, 1, 2, 3], "all": [1, 1, 1, 2, 5]}
    demo = demographics(table)
    assert demo.loc["AD"].tolist() == [2, "79.0 ± 1.4", "1/1", "1 (50%)"]
    assert demo.loc["sMCI"].tolist() == [1, "72.5", "0/1", "0 (0%)"]
    assert demo.loc["all"].tolist() == [5, "75.1 ± 4.0", "3/2", "3 (60%)"]
    # AD has sub-04 first but without PET: the one with PET is shown
    assert pick_subjects(table)["participant_id"].tolist() == ["sub-01", "sub-02", "sub-03", "sub-05"]


def test_cli_writes_self_contained_page_and_mosaic(validated, tmp_path):
    html, mosaic = tmp_path / "report" / "cohort.html", tmp_path / "report" / "cohort_mosaic.png"
    assert main(["cohort-report", "--manifest", str(validated), "--html", str(html), "--mosaic", str(mosaic)]) == 0
    page = html.read_text()
    assert "<h2>Cohort</h2>" in page and "<h2>Raw images</h2>" in page
    assert "79.0 ± 1.4" in page
    assert "src=\"http" not in page  # nothing external
    embedded = re.search(r'src="data:image/png;base64,([^"]+)"', page).group(1)
    assert base64.b64decode(embedded) == mosaic.read_bytes()
    pixels = matplotlib.image.imread(io.BytesIO(mosaic.read_bytes()))
    height, width = pixels.shape[:2]
    assert width > height > 300  # 4 subject rows x 6 panels
    assert pixels[..., :3].std() > 0.1  # images, not a blank canvas


def test_sections_compose():
    page = render_page("t", [Section("Cohort", "<p>a</p>"), Section("Preprocessing QC", "<p>b</p>")])
    assert '<a href="#preprocessing-qc">Preprocessing QC</a>' in page
    assert page.index("<p>a</p>") < page.index("<p>b</p>")


def test_cli_bad_manifest_exits_2_without_output(tiny_cohort, tmp_path):
    tiny_cohort.write_text(tiny_cohort.read_text().replace(",NC,", ",XX,"))
    html, mosaic = tmp_path / "out" / "cohort.html", tmp_path / "out" / "cohort.png"
    assert main(["cohort-report", "--manifest", str(tiny_cohort), "--html", str(html), "--mosaic", str(mosaic)]) == 2
    assert not html.exists() and not mosaic.exists()
