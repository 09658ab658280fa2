"""Subject-level stratified folds: partition, disjointness, determinism, hard errors on leaks."""

import json

import pandas as pd
import pytest

from mrisynth.cohort.splits import load_split, write_splits
from mrisynth.cli import main
from mrisynth.errors import InputError


def _manifest(tmp_path, n_per_group=8):
    rows = []
    for dx in ("NC", "sMCI", "pMCI", "AD"):
        for i in range(n_per_group):
            pid = f"{dx}{i:02d}"
            rows.append({"participant_id": pid, "session_id": "bl", "diagnosis": dx, "age": 70, "sex": "F",
                         "site": "A", "t1w": f"/x/{pid}_T1w.nii.gz", "pet": f"/x/{pid}_pet.nii.gz" if i % 2 else ""})
    # a second session of one subject must stay with its subject
    rows.append({**rows[0], "session_id": "m12"})
    path = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_folds_partition_subjects_and_stratify(tmp_path):
    manifest = _manifest(tmp_path)
    paths = write_splits(manifest, tmp_path / "splits", k=4, seed=3, val_fraction=0.25)
    assert [p.name for p in paths] == [f"fold-{k}.json" for k in range(4)]
    splits = [load_split(p) for p in paths]
    all_test = [s for sp in splits for s in sp.test]
    assert sorted(all_test) == sorted(pd.read_csv(manifest)["participant_id"].unique())  # a partition
    for sp in splits:
        assert len(set(sp.train) | set(sp.val) | set(sp.test)) == 32
        # 8 per group over 4 folds -> exactly 2 of each diagnosis in every test split
        assert sorted(pid[:-2] for pid in sp.test) == sorted(["AD", "AD", "NC", "NC", "pMCI", "pMCI", "sMCI", "sMCI"])
        # 6 remaining per group, 25 % validation -> 6 val subjects, at least one of each group
        assert len(sp.val) == 6 and {pid[:-2] for pid in sp.val} == {"AD", "NC", "pMCI", "sMCI"}
    doc = json.loads(paths[0].read_text())
    assert doc["seed"] == 3 and len(doc["content_hash"]) == 64 and len(doc["manifest_sha256"]) == 64


def test_splits_are_deterministic_and_seed_dependent(tmp_path):
    manifest = _manifest(tmp_path)
    a = write_splits(manifest, tmp_path / "a", k=3, seed=1, val_fraction=0.2)
    b = write_splits(manifest, tmp_path / "b", k=3, seed=1, val_fraction=0.2)
    c = write_splits(manifest, tmp_path / "c", k=3, seed=2, val_fraction=0.2)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    assert [load_split(p).test for p in a] != [load_split(p).test for p in c]


def test_leak_between_splits_is_a_hard_error(tmp_path):
    manifest = _manifest(tmp_path)
    path = write_splits(manifest, tmp_path / "s", k=3, seed=1, val_fraction=0.2)[0]
    doc = json.loads(path.read_text())
    doc["val"].append(doc["test"][0])
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="in both val and test"):
        load_split(path)
    doc["val"].pop()
    doc["train"] = doc["train"][1:]  # content no longer matches its hash
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="content hash"):
        load_split(path)


def test_split_cli(tmp_path, capsys):
    manifest = _manifest(tmp_path)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("seed: 5\nsplit: {k: 3}\n")
    assert main(["split", "--manifest", str(manifest), "--out-dir", str(tmp_path / "s"), "--config", str(cfg)]) == 0
    assert load_split(tmp_path / "s" / "fold-2.json").seed == 5
    assert main(["split", "--manifest", str(tmp_path / "nope.csv"), "--out-dir", str(tmp_path / "t")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()


def test_split_leaves_out_subjects_excluded_by_qc(tmp_path):
    manifest = _manifest(tmp_path)
    qc = tmp_path / "qc_summary.json"
    qc.write_text(json.dumps({"subjects": [
        {"participant_id": "AD03", "session_id": "bl", "excluded": True},
        {"participant_id": "NC01", "session_id": "bl", "excluded": False},
    ]}))
    assert main(["split", "--manifest", str(manifest), "--out-dir", str(tmp_path / "s"), "--qc-summary", str(qc)]) == 0
    folds = [load_split(tmp_path / "s" / f"fold-{k}.json") for k in range(5)]
    everyone = {p for f in folds for p in f.train + f.val + f.test}
    assert "AD03" not in everyone and "NC01" in everyone and len(everyone) == 31
    assert json.loads((tmp_path / "s" / "fold-0.json").read_text())["excluded"] == ["AD03"]
