"""BIDS dataset -> manifest: the pMCI/sMCI label rule on its edge cases, real files read by pybids, bad datasets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mrisynth.cli import main
from mrisynth.io.bids_dataset import (
    CONVERTED_LATE,
    NO_AGE,
    NO_BASELINE_DX,
    NO_BASELINE_T1W,
    NO_SESSIONS,
    REVERTED,
    SHORT_FOLLOW_UP,
    Outcome,
    Visit,
    derive_manifest,
    excluded_path,
    label_subject,
)
from mrisynth.io.nifti import save_nifti


def visits(*pairs: tuple[int, str], width: int = 3) -> list[Visit]:
    return [Visit(f"ses-M{month:0{width}d}", month, dx) for month, dx in pairs]


@pytest.mark.parametrize(
    "history, expected",
    [
        # conversion at exactly the horizon counts; one month later does not
        (((0, "MCI"), (12, "MCI"), (36, "AD")), Outcome("pMCI")),
        (((0, "MCI"), (12, "MCI"), (36, "MCI"), (48, "AD")), Outcome(None, CONVERTED_LATE)),
        (((0, "LMCI"), (37, "Dementia")), Outcome(None, CONVERTED_LATE)),
        # stable: a diagnosis at (or after) the horizon, never AD nor CN
        (((0, "EMCI"), (36, "MCI")), Outcome("sMCI")),
        (((0, "MCI"), (6, "MCI"), (24, "LMCI"), (60, "MCI")), Outcome("sMCI")),
        # MCI -> CN reverter (even when MCI again later); a conversion within the horizon wins over a reversion
        (((0, "MCI"), (12, "CN"), (36, "MCI")), Outcome(None, REVERTED)),
        (((0, "MCI"), (6, "CN"), (24, "AD")), Outcome("pMCI")),
        # AD -> MCI at a later visit: an AD baseline stays AD; an MCI that converted then went back is still pMCI
        (((0, "AD"), (12, "MCI")), Outcome("AD")),
        (((0, "MCI"), (12, "Dementia"), (24, "MCI"), (48, "MCI")), Outcome("pMCI")),
        # a missing diagnosis at one visit counts as no visit
        (((0, "MCI"), (12, "MCI"), (36, ""), (48, "MCI")), Outcome("sMCI")),
        (((0, "MCI"), (24, "MCI"), (36, "n/a")), Outcome(None, SHORT_FOLLOW_UP)),
        (((0, "MCI"), (24, "SMC"), (48, "MCI")), Outcome("sMCI")),
        (((0, ""), (12, "MCI"), (48, "AD")), Outcome(None, NO_BASELINE_DX)),
        (((0, "SMC"), (36, "CN")), Outcome(None, NO_BASELINE_DX)),
        # a single session
        (((0, "MCI"),), Outcome(None, SHORT_FOLLOW_UP)),
        (((0, "CN"),), Outcome("NC")),
        (((0, "dementia"),), Outcome("AD")),
        # the baseline is the smallest month, whatever the row order; months count from it
        (((36, "AD"), (0, "MCI")), Outcome("pMCI")),
        (((6, "MCI"), (42, "AD")), Outcome("pMCI")),
        (((6, "MCI"), (43, "AD")), Outcome(None, CONVERTED_LATE)),
    ],
)
def test_label_rule(history, expected):
    assert label_subject(visits(*history)) == expected


def test_label_rule_horizon_is_a_parameter():
    history = visits((0, "MCI"), (24, "MCI"), (48, "AD"))
    assert label_subject(history, horizon=36) == Outcome(None, CONVERTED_LATE)
    assert label_subject(history, horizon=48) == Outcome("pMCI")
    assert label_subject(visits((0, "MCI"), (24, "MCI")), horizon=24) == Outcome("sMCI")


# ---- real datasets on disk -------------------------------------------------------------------------------


def _image(path: Path, seed: int) -> None:
    volume = np.random.default_rng(seed).normal(100, 20, size=(8, 9, 7)).astype(np.float32)
    save_nifti(volume, np.diag([2.0, 2.0, 2.0, 1.0]), path)


def write_dataset(root: Path, subjects: dict, participants: str | None = None) -> Path:
    """A BIDS dataset: ``subjects`` maps an id to (sessions.tsv text or None, [image paths under sub-<id>/])."""
    root.mkdir(parents=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "test", "BIDSVersion": "1.9.0"}))
    if participants is None:
        participants = "participant_id\tsex\tsite\tage\n" + "".join(
            f"sub-{sid}\t{'MF'[i % 2]}\tS{i % 2}\t{70 + i}\n" for i, sid in enumerate(subjects))
    (root / "participants.tsv").write_text(participants)
    for i, (sid, (sessions, images)) in enumerate(subjects.items()):
        folder = root / f"sub-{sid}"
        folder.mkdir()
        if sessions is not None:
            (folder / f"sub-{sid}_sessions.tsv").write_text(sessions)
        for j, rel in enumerate(images):
            _image(folder / rel, 10 * i + j)
    return root


def sessions(*rows: str, age: bool = False) -> str:
    return ("session_id\tdiagnosis" + ("\tage" if age else "") + "\n") + "".join(r.replace(" ", "\t") + "\n" for r in rows)


@pytest.fixture
def dataset(tmp_path) -> Path:
    """Eight subjects that exercise file names (M00 / M000, runs, tracers) and every exclusion of the rule."""
    t1 = "ses-{s}/anat/sub-{p}_ses-{s}{run}_T1w.nii.gz"
    pet = "ses-{s}/pet/sub-{p}_ses-{s}_trc-{trc}_pet.nii.gz"
    return write_dataset(tmp_path / "bids", {
        # NC with three-digit months, age from the baseline session, FDG-PET with Clinica's tracer label
        "01": (sessions("ses-M000 CN 71.5", "ses-M012 CN 72.5", age=True),
               [t1.format(p="01", s="M000", run=""), pet.format(p="01", s="M000", trc="18FFDG")]),
        # pMCI with two-digit months, two T1w runs (run-01 is used), no PET at baseline (a PET at M12 is not)
        "02": (sessions("ses-M00 MCI", "ses-M12 MCI", "ses-M36 AD"),
               [t1.format(p="02", s="M00", run="_run-02"), t1.format(p="02", s="M00", run="_run-01"),
                pet.format(p="02", s="M12", trc="FDG")]),
        # sMCI whose M36 diagnosis is missing but M48 is MCI; PET with tracer trc-FDG
        "03": (sessions("ses-M000 EMCI", "ses-M036 n/a", "ses-M048 MCI"),
               [t1.format(p="03", s="M000", run=""), pet.format(p="03", s="M000", trc="FDG")]),
        "04": (sessions("ses-M000 MCI", "ses-M048 Dementia"), [t1.format(p="04", s="M000", run="")]),
        "05": (sessions("ses-M000 MCI", "ses-M012 CN", "ses-M036 MCI"), [t1.format(p="05", s="M000", run="")]),
        "06": (sessions("ses-M000 LMCI"), [t1.format(p="06", s="M000", run="")]),
        # AD at baseline but its T1w is at the wrong session; SMC at baseline; no sessions.tsv at all
        "07": (sessions("ses-M000 AD", "ses-M012 MCI"), [t1.format(p="07", s="M012", run="")]),
        "08": (sessions("ses-M000 SMC", "ses-M036 MCI"), [t1.format(p="08", s="M000", run="")]),
        "09": (None, [t1.format(p="09", s="M000", run="")]),
    })


def test_dataset_to_manifest_labels_and_files(dataset):
    manifest, excluded = derive_manifest(dataset)
    rows = manifest.set_index("participant_id")
    assert list(rows.index) == ["sub-01", "sub-02", "sub-03"]
    assert list(rows["diagnosis"]) == ["NC", "pMCI", "sMCI"]
    assert list(rows["session_id"]) == ["ses-M000", "ses-M00", "ses-M000"]
    assert rows.loc["sub-02", "t1w"] == str(dataset / "sub-02/ses-M00/anat/sub-02_ses-M00_run-01_T1w.nii.gz")
    assert rows.loc["sub-01", "pet"] == str(dataset / "sub-01/ses-M000/pet/sub-01_ses-M000_trc-18FFDG_pet.nii.gz")
    assert rows.loc["sub-03", "pet"].endswith("sub-03_ses-M000_trc-FDG_pet.nii.gz")
    assert rows.loc["sub-02", "pet"] == ""  # its only PET is at M12, not at baseline
    # age: the baseline session's, else participants.tsv; sex and site from participants.tsv
    assert list(rows["age"]) == [71.5, 71.0, 72.0]
    assert list(rows["sex"]) == ["M", "F", "M"] and list(rows["site"]) == ["S0", "S1", "S0"]
    reasons = dict(zip(excluded["participant_id"], excluded["reason"]))
    assert reasons == {"sub-04": CONVERTED_LATE, "sub-05": REVERTED, "sub-06": SHORT_FOLLOW_UP,
                       "sub-07": NO_BASELINE_T1W, "sub-08": NO_BASELINE_DX, "sub-09": NO_SESSIONS}
    assert excluded.set_index("participant_id").loc["sub-05", "visits"] == "ses-M000 MCI, ses-M012 CN, ses-M036 MCI"


def test_command_writes_validated_manifest_sidecar_and_counts(dataset, tmp_path, capsys):
    out = tmp_path / "out" / "cohort.csv"
    assert main(["bids-manifest", "--bids-dir", str(dataset), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "3 subjects labelled (NC 1, sMCI 1, pMCI 1, AD 0; 2 with FDG-PET; horizon 36 months), 6 excluded" in printed
    for reason in (NO_SESSIONS, NO_BASELINE_DX, NO_BASELINE_T1W, CONVERTED_LATE, REVERTED, SHORT_FOLLOW_UP):
        assert f"excluded, {reason}: 1\n" in printed
    # the output passes `mrisynth validate` (schema and every image)
    assert main(["validate", "--manifest", str(out)]) == 0
    side = pd.read_csv(excluded_path(out), sep="\t", keep_default_na=False)
    assert excluded_path(out).name == "cohort_excluded.tsv"
    assert list(side.columns) == ["participant_id", "session_id", "reason", "visits"] and len(side) == 6
    # a longer horizon turns the late converter into pMCI
    assert main(["bids-manifest", "--bids-dir", str(dataset), "--out", str(out), "--horizon-months", "48"]) == 0
    assert pd.read_csv(out).set_index("participant_id").loc["sub-04", "diagnosis"] == "pMCI"


def test_age_and_site_fallbacks(tmp_path):
    t1 = "ses-M00/anat/sub-{p}_ses-M00_T1w.nii.gz"
    root = write_dataset(tmp_path / "bids", {
        "A1": (sessions("ses-M00 CN"), [t1.format(p="A1")]),
        "A2": (sessions("ses-M00 AD"), [t1.format(p="A2")]),
    }, participants="participant_id\tsex\tage\nsub-A1\tf\t66\nsub-A2\tM\tn/a\n")
    manifest, excluded = derive_manifest(root)
    assert manifest.to_dict("records")[0] | {"t1w": ""} == {
        "participant_id": "sub-A1", "session_id": "ses-M00", "diagnosis": "NC", "age": 66.0, "sex": "F",
        "site": "unknown", "t1w": "", "pet": ""}
    assert excluded.to_dict("records") == [{"participant_id": "sub-A2", "session_id": "ses-M00", "reason": NO_AGE,
                                            "visits": "ses-M00 AD"}]


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda r: (r / "dataset_description.json").unlink(), "not a BIDS dataset"),
        (lambda r: (r / "sub-01" / "sub-01_sessions.tsv").write_text("session_id\tdx\nses-M000\tCN\n"),
         "sub-01_sessions.tsv: missing column(s) diagnosis"),
        (lambda r: (r / "sub-01" / "sub-01_sessions.tsv").write_text("session_id\tdiagnosis\nses-bl\tCN\n"),
         "row 1: session_id 'ses-bl' is not ses-M<months>"),
        (lambda r: (r / "sub-01" / "sub-01_sessions.tsv").write_text("session_id\tdiagnosis\nses-M0\tCN\nses-M00\tMCI\n"),
         "row 2: ses-M00 is month 0 again (row 1)"),
        (lambda r: (r / "participants.tsv").write_bytes(b"\xff\xfe\x00garbage"), "participants.tsv: not a readable UTF-8"),
        (lambda r: (r / "participants.tsv").write_text("participant_id\tsex\nsub-01\tM\textra\n"),
         "participants.tsv: row 1 has 3 fields, the header has 2"),
        (lambda r: (r / "participants.tsv").unlink(), "participants.tsv: missing"),
    ],
)
def test_bad_dataset_exits_2_naming_file_and_problem(dataset, tmp_path, capsys, breakage, message):
    breakage(dataset)
    out = tmp_path / "out" / "cohort.csv"
    assert main(["bids-manifest", "--bids-dir", str(dataset), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_no_labelled_subject_exits_2_and_writes_nothing(tmp_path, capsys):
    root = write_dataset(tmp_path / "bids", {"01": (sessions("ses-M000 MCI"), ["ses-M000/anat/sub-01_ses-M000_T1w.nii.gz"])})
    out = tmp_path / "out" / "cohort.csv"
    assert main(["bids-manifest", "--bids-dir", str(root), "--out", str(out)]) == 2
    assert "no subject could be labelled" in capsys.readouterr().err
    assert not out.exists() and not excluded_path(out).exists()
