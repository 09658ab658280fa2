"""Subject-level, diagnosis-stratified cross-validation folds, written as files that every stage reads.

Each fold file ``fold-<k>.json`` holds the participant ids of its train / val / test splits, the seed, the
manifest's hash and a content hash over the split lists. Folds are numbered from 0. The test splits of
the k folds partition the subjects (StratifiedKFold); the validation split is drawn, stratified again,
from the remaining subjects. Stratification uses the diagnosis and, by default, whether the subject has
a PET, so every fold's test split holds subjects with and without real PET.

``load_split`` is called by every command that trains or evaluates: a subject in two splits of a fold,
or a file whose content does not match its hash, is a hard error.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mrisynth.errors import InputError

SPLIT_NAMES = ("train", "val", "test")


def splits_dir(results: str | Path) -> Path:
    return Path(results) / "splits"


def split_path(results: str | Path, fold: int) -> Path:
    """``<results>/splits/fold-<k>.json``: the one name of a fold file."""
    return splits_dir(results) / f"fold-{fold}.json"


@dataclass(frozen=True)
class Split:
    """One fold: disjoint lists of participant ids."""

    fold: int
    k: int
    seed: int
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    content_hash: str

    def of(self, name: str) -> tuple[str, ...]:
        return getattr(self, name)

    def split_of(self, participant_id: str) -> str | None:
        for name in SPLIT_NAMES:
            if participant_id in self.of(name):
                return name
        return None


def content_hash(splits: dict[str, list[str]]) -> str:
    """sha256 of the canonical JSON of the three id lists (order-independent)."""
    canonical = json.dumps({n: sorted(splits[n]) for n in SPLIT_NAMES}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _subjects(manifest: pd.DataFrame, stratify_pet: bool) -> pd.DataFrame:
    """One row per participant (first session) with its stratification key."""
    subj = manifest.groupby("participant_id", sort=True).first().reset_index()
    key = subj["diagnosis"].astype(str)
    if stratify_pet:
        has_pet = subj["pet"].fillna("").astype(str).str.strip() != ""
        key = key + np.where(has_pet, "+pet", "-pet")
    subj["stratum"] = key
    return subj


def make_splits(manifest: pd.DataFrame, k: int, seed: int, val_fraction: float, stratify_pet: bool = True) -> list[dict]:
    """Return ``k`` fold dicts (``fold``, ``train``, ``val``, ``test``); ids sorted within each split."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    subj = _subjects(manifest, stratify_pet)
    ids = subj["participant_id"].astype(str).to_numpy()
    strata = subj["stratum"].to_numpy()
    diagnosis = subj["diagnosis"].astype(str).to_numpy()
    # a stratum smaller than k cannot be spread over the folds; fall back to diagnosis for those subjects
    counts = pd.Series(strata).value_counts()
    small = np.isin(strata, counts[counts < k].index)
    strata = np.where(small, diagnosis, strata)
    if len(ids) < 3 * k:
        raise InputError(f"split: {len(ids)} subjects are too few for {k} folds with train/val/test")
    folds = []
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for fold, (rest_idx, test_idx) in enumerate(skf.split(ids, strata)):
        n_val = int(np.ceil(val_fraction * len(rest_idx)))
        stratify = None  # finest stratification the validation size allows
        for labels in (strata[rest_idx], diagnosis[rest_idx]):
            vc = pd.Series(labels).value_counts()
            if vc.min() >= 2 and n_val >= len(vc) and len(rest_idx) - n_val >= len(vc):
                stratify = labels
                break
        train_idx, val_idx = train_test_split(
            rest_idx, test_size=val_fraction, random_state=seed + fold, stratify=stratify
        )
        folds.append(
            {
                "fold": fold,
                "train": sorted(ids[train_idx].tolist()),
                "val": sorted(ids[val_idx].tolist()),
                "test": sorted(ids[test_idx].tolist()),
            }
        )
    return folds


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_splits(manifest_path: str | Path, out_dir: str | Path, k: int, seed: int, val_fraction: float,
                 stratify_pet: bool = True, exclude: set[str] = frozenset()) -> list[Path]:
    """Read the validated manifest, drop the participants in ``exclude`` (failed QC), make the folds and
    write ``out_dir/fold-<k>.json`` atomically."""
    from mrisynth.io.atomic import write_text

    manifest_path = Path(manifest_path)
    if not manifest_path.exists():
        raise InputError(f"split: manifest {manifest_path} does not exist")
    manifest = pd.read_csv(manifest_path, dtype={"participant_id": str, "session_id": str, "pet": str})
    missing = {"participant_id", "diagnosis", "pet"} - set(manifest.columns)
    if missing:
        raise InputError(f"split: manifest {manifest_path} lacks column(s) {sorted(missing)}")
    excluded = sorted(set(manifest["participant_id"]) & set(exclude))
    manifest = manifest[~manifest["participant_id"].isin(excluded)]
    folds = make_splits(manifest, k, seed, val_fraction, stratify_pet)
    paths = []
    for f in folds:
        splits = {n: f[n] for n in SPLIT_NAMES}
        doc = {
            "fold": f["fold"],
            "k": k,
            "seed": seed,
            "val_fraction": val_fraction,
            "stratify_pet": stratify_pet,
            "manifest": str(manifest_path.resolve()),
            "manifest_sha256": _file_sha256(manifest_path),
            **splits,
            "excluded": excluded,
            "content_hash": content_hash(splits),
        }
        path = Path(out_dir) / f"fold-{f['fold']}.json"
        write_text(path, json.dumps(doc, indent=1) + "\n")
        paths.append(path)
    return paths


def load_split(path: str | Path) -> Split:
    """Read one fold file; hard error if a subject is in two splits or the content hash does not match."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"split file {path} does not exist (run `mrisynth split` first)")
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"split file {path} is not valid JSON: {exc}") from None
    missing = [key for key in ("fold", "k", "seed", "content_hash", *SPLIT_NAMES) if key not in doc]
    if missing:
        raise InputError(f"split file {path} lacks key(s) {missing}")
    problems = []
    for i, a in enumerate(SPLIT_NAMES):
        if len(set(doc[a])) != len(doc[a]):
            problems.append(f"{a} lists a subject twice")
        for b in SPLIT_NAMES[i + 1:]:
            both = sorted(set(doc[a]) & set(doc[b]))
            if both:
                problems.append(f"subject(s) {both} in both {a} and {b}")
    if problems:
        raise InputError(f"split file {path}: subjects leak between splits of fold {doc['fold']}", problems)
    actual = content_hash(doc)
    if actual != doc["content_hash"]:
        raise InputError(f"split file {path}: content hash {actual[:12]} does not match the stored "
                         f"{str(doc['content_hash'])[:12]} (edited by hand?); rerun `mrisynth split`")
    return Split(
        fold=int(doc["fold"]), k=int(doc["k"]), seed=int(doc["seed"]),
        train=tuple(doc["train"]), val=tuple(doc["val"]), test=tuple(doc["test"]),
        content_hash=doc["content_hash"],
    )
