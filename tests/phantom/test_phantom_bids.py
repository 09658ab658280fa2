"""The phantom as a BIDS dataset: same images as the manifest cohort, histories the label rule turns back into
each subject's label, except the MCI histories it must exclude."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from mrisynth.cli import main
from mrisynth.config import load_config
from mrisynth.io.bids_dataset import CONVERTED_LATE, REVERTED, SHORT_FOLLOW_UP, Visit, derive_manifest, label_subject
from mrisynth.phantom.bids import TRUTH, histories, image_paths
from mrisynth.phantom.cohort import cohort_specs

EXCLUSIONS = {REVERTED, CONVERTED_LATE, SHORT_FOLLOW_UP}


@pytest.mark.parametrize("n", [8, 12, 80])
def test_histories_give_the_label_or_an_mci_exclusion(n):
    specs = cohort_specs(load_config(None)["phantom"], 42, n)
    outcomes = {}
    for spec in specs:
        history = histories(specs)[spec.participant_id]
        outcome = label_subject([Visit(f"ses-M{m:02d}", m, dx) for m, dx in history.visits])
        outcomes[spec.participant_id] = outcome.label or outcome.reason
        assert outcomes[spec.participant_id] == history.expected
        assert history.expected == spec.diagnosis or (spec.diagnosis in ("sMCI", "pMCI") and history.expected in EXCLUSIONS)
    counts = Counter(outcomes.values())
    assert all(counts[reason] >= 1 for reason in EXCLUSIONS), counts
    assert all(counts[dx] >= 1 for dx in ("NC", "sMCI", "pMCI", "AD")), counts
    if n == 80:  # 10% of each MCI group per reason
        assert counts == {"NC": 20, "sMCI": 21, "pMCI": 18, "AD": 15, REVERTED: 2, CONVERTED_LATE: 2, SHORT_FOLLOW_UP: 2}


def test_bids_export_has_the_phantom_images_and_the_rule_recovers_labels(phantom_cohort, tmp_path, capsys):
    root = tmp_path / "bids"
    assert main(["phantom", "--bids", str(root), "--n-subjects", "8"]) == 0
    reference = pd.read_csv(phantom_cohort, keep_default_na=False).set_index("participant_id")
    specs = cohort_specs(load_config(None)["phantom"], 42, 8)
    truth = phantom_cohort.parent / "data" / "phantom_truth"
    for spec in specs:  # byte-identical images: T1w, PET in the dataset, or the true PET under derivatives/
        t1w, pet = image_paths(spec)
        row = reference.loc[spec.participant_id]
        assert (root / t1w).read_bytes() == (phantom_cohort.parent / row["t1w"]).read_bytes()
        if row["pet"]:
            assert (root / pet).read_bytes() == (phantom_cohort.parent / row["pet"]).read_bytes()
        else:
            assert not (root / pet).exists()
            true_pet = next((truth / spec.participant_id).rglob("*_pet.nii.gz"))
            assert (root / TRUTH / pet).read_bytes() == true_pet.read_bytes()

    manifest, excluded = derive_manifest(root)
    expected = {s.participant_id: histories(specs)[s.participant_id].expected for s in specs}
    assert dict(zip(excluded["participant_id"], excluded["reason"])) == {
        pid: what for pid, what in expected.items() if what in EXCLUSIONS}
    assert len(excluded) == 3
    got = manifest.set_index("participant_id")
    want = reference.loc[got.index]
    assert list(got["diagnosis"]) == list(want["diagnosis"]) == [expected[p] for p in got.index]
    assert list(got["session_id"]) == list(want["session_id"]) and list(got["age"]) == list(want["age"].astype(float))
    assert list(got["sex"]) == list(want["sex"]) and list(got["site"]) == list(want["site"])
    assert list(got["pet"] != "") == list(want["pet"] != "")


def test_bids_export_never_replaces_a_foreign_folder(tmp_path, capsys):
    mine = tmp_path / "my_data"
    mine.mkdir()
    (mine / "scan.nii.gz").write_bytes(b"precious")
    assert main(["phantom", "--bids", str(mine), "--n-subjects", "4"]) == 2
    assert "is not a phantom BIDS dataset" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["scan.nii.gz"]
