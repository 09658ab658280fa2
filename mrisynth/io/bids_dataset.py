"""A BIDS raw dataset with longitudinal diagnoses (Clinica's convention) -> the cohort manifest.

What is read (with pybids' ``BIDSLayout``; JSON sidecars are not needed and not indexed):

- ``participants.tsv``: ``participant_id``, ``sex`` (M/F), optional ``site`` and ``age``;
- ``sub-<id>/sub-<id>_sessions.tsv``: ``session_id`` (``ses-M<months from baseline>``, ``M00`` or ``M000``
  style), ``diagnosis``, optional ``age``;
- ``sub-<id>/ses-<s>/anat/*_T1w.nii[.gz]`` and ``pet/*_trc-18FFDG_pet.nii[.gz]`` (or ``trc-FDG``); with
  several runs the first (no run entity, then run 1, 2, ...).

The label rule (:func:`label_subject`), from the baseline session = the smallest month:
``CN`` -> NC; ``AD`` / ``Dementia`` -> AD; ``MCI`` / ``EMCI`` / ``LMCI`` -> pMCI if a later session at
month <= horizon (months counted from the baseline session) says AD/Dementia; sMCI if no later session
ever says AD/Dementia or CN and some later session at month >= horizon has a diagnosis; otherwise the
subject is excluded, with the first reason that applies of ``converted after horizon``, ``reverted to
CN``, ``follow-up shorter than horizon``. A visit without a usable diagnosis (empty, ``n/a``, ``SMC``, ...)
counts as not there, except at baseline, which excludes the subject (``no usable baseline diagnosis``),
as does a baseline without T1w (``no baseline T1w``) and missing demographics. Every excluded subject is
listed with its reason and its visits in a sidecar TSV; nothing is dropped silently.

A dataset that is not BIDS, or whose tables are unreadable or lack a required column, raises
``InputError`` naming every file and problem (the command exits 2 and writes nothing).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mrisynth.errors import InputError
from mrisynth.io.atomic import atomic_path, write_text
from mrisynth.io.manifest import COLUMNS, DIAGNOSES, read_manifest

HORIZON_MONTHS = 36
#: the visit diagnoses Clinica writes (matched without regard to case); anything else is no usable label
VISIT_DIAGNOSES = {"CN": "CN", "MCI": "MCI", "EMCI": "MCI", "LMCI": "MCI", "AD": "AD", "DEMENTIA": "AD"}
PET_TRACERS = ("18FFDG", "FDG")
NIFTI = [".nii", ".nii.gz"]
SESSION = re.compile(r"^ses-M(\d+)$")
MISSING = {"", "n/a", "na", "nan"}

NO_BASELINE_DX = "no usable baseline diagnosis"
NO_BASELINE_T1W = "no baseline T1w"
CONVERTED_LATE = "converted after horizon"
REVERTED = "reverted to CN"
SHORT_FOLLOW_UP = "follow-up shorter than horizon"
NO_SESSIONS = "no sessions.tsv"
NOT_IN_PARTICIPANTS = "not in participants.tsv"
NO_SEX = "no sex (M/F) in participants.tsv"
NO_AGE = "no age (baseline session or participants.tsv)"
#: every reason, in the order they are checked and reported
REASONS = (NO_SESSIONS, NO_BASELINE_DX, NO_BASELINE_T1W, CONVERTED_LATE, REVERTED, SHORT_FOLLOW_UP,
           NOT_IN_PARTICIPANTS, NO_SEX, NO_AGE)
EXCLUDED_COLUMNS = ["participant_id", "session_id", "reason", "visits"]
UNKNOWN_SITE = "unknown"
#: pybids indexes a file in ~1 ms of CPU, so only what the rule reads is indexed: the T1w and PET images and the
#: tables, not other datatypes, JSON sidecars or other anat/pet images (measured on a 1700-subject skeleton of
#: 32k files, a third of them elsewhere: 22.9 s CPU instead of 27.8 s)
_NOT_INDEXED = (
    re.compile(r"^/(code|models|sourcedata|stimuli)"),  # pybids' own default
    re.compile(r"^/sub-[^/]+/ses-[^/]+/(?!(anat|pet)(/|$))"),
    re.compile(r"/anat/(?![^/]*_T1w\.nii(\.gz)?$)[^/]*$"),
    re.compile(r"/pet/(?![^/]*_pet\.nii(\.gz)?$)[^/]*$"),
)


@dataclass(frozen=True)
class Visit:
    """One row of a sessions.tsv: months from the dataset's month 0, the diagnosis as written, the age."""

    session_id: str
    month: int
    diagnosis: str
    age: str = ""

    @property
    def dx(self) -> str | None:
        """``CN``, ``MCI`` or ``AD``; None for a visit without a usable diagnosis."""
        return VISIT_DIAGNOSES.get(self.diagnosis.strip().upper())


@dataclass(frozen=True)
class Outcome:
    """A subject's label (NC, sMCI, pMCI, AD) or, when it has none, the reason it is excluded."""

    label: str | None
    reason: str | None = None


def label_subject(visits: list[Visit], horizon: int = HORIZON_MONTHS) -> Outcome:
    """The label rule of the module doc, on the visits of one subject (any order, at least one)."""
    visits = sorted(visits, key=lambda v: v.month)
    baseline = visits[0]
    if baseline.dx is None:
        return Outcome(None, NO_BASELINE_DX)
    if baseline.dx == "CN":
        return Outcome("NC")
    if baseline.dx == "AD":
        return Outcome("AD")
    later = [(v.month - baseline.month, v.dx) for v in visits[1:] if v.dx is not None]
    conversions = [month for month, dx in later if dx == "AD"]
    if any(month <= horizon for month in conversions):
        return Outcome("pMCI")
    if conversions:
        return Outcome(None, CONVERTED_LATE)
    if any(dx == "CN" for _, dx in later):
        return Outcome(None, REVERTED)
    if any(month >= horizon for month, _ in later):
        return Outcome("sMCI")
    return Outcome(None, SHORT_FOLLOW_UP)


def _missing(value: str) -> bool:
    return value.strip().lower() in MISSING


def _read_tsv(path: Path, required: tuple[str, ...], problems: list[str]) -> list[dict[str, str]] | None:
    """Rows of a TSV as text; None (and a problem per fault) if unreadable or a required column is missing."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: not a readable UTF-8 text file ({exc})")
        return None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        problems.append(f"{path}: empty file, expected a header with {', '.join(required)}")
        return None
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter="\t")
    header, *data = [[cell.strip() for cell in row] for row in reader]
    missing = [col for col in required if col not in header]
    if missing:
        problems.append(f"{path}: missing column(s) {', '.join(missing)} (tab-separated header: {header})")
        return None
    rows, bad = [], False
    for number, cells in enumerate(data, start=1):
        if len(cells) != len(header):
            problems.append(f"{path}: row {number} has {len(cells)} fields, the header has {len(header)}")
            bad = True
        rows.append(dict(zip(header, cells)))
    return None if bad else rows


def _read_visits(path: Path, problems: list[str]) -> list[Visit] | None:
    rows = _read_tsv(path, ("session_id", "diagnosis"), problems)
    if rows is None:
        return None
    visits, months, start = [], {}, len(problems)
    for number, row in enumerate(rows, start=1):
        match = SESSION.match(row["session_id"])
        if not match:
            problems.append(f"{path}: row {number}: session_id {row['session_id']!r} is not ses-M<months>, e.g. ses-M000")
            continue
        month = int(match.group(1))
        if month in months:
            problems.append(f"{path}: row {number}: {row['session_id']} is month {month} again (row {months[month]})")
        months[month] = number
        visits.append(Visit(row["session_id"], month, row["diagnosis"], row.get("age", "")))
    if not visits and len(problems) == start:
        problems.append(f"{path}: no sessions listed")
    return visits if len(problems) == start else None


def _layout(bids_dir: Path):
    from bids import BIDSLayout, BIDSLayoutIndexer
    from bids.exceptions import BIDSValidationError

    if not bids_dir.is_dir():
        raise InputError(f"BIDS dataset {bids_dir}: not a directory")
    try:
        indexer = BIDSLayoutIndexer(validate=True, index_metadata=False, ignore=list(_NOT_INDEXED))
        return BIDSLayout(bids_dir, validate=True, indexer=indexer)
    except (BIDSValidationError, ValueError, OSError) as exc:
        raise InputError(f"BIDS dataset {bids_dir}: not a BIDS dataset ({str(exc).splitlines()[0]})") from None


def _first_run(files) -> str:
    """The path of the first run: no run entity (0), then run 1, 2, ..."""
    return min(files, key=lambda f: (int(f.entities.get("run", 0)), f.path)).path


def _images(layout, suffix: str, datatype: str, **filters) -> dict[tuple[str, str], str]:
    """(subject, session) -> the first run's path, for every image of that suffix in the dataset."""
    groups: dict[tuple[str, str], list] = {}
    for f in layout.get(suffix=suffix, datatype=datatype, extension=NIFTI, **filters):
        key = (f.entities.get("subject"), f.entities.get("session"))
        groups.setdefault(key, []).append(f)
    return {key: _first_run(files) for key, files in groups.items()}


def _visit_text(visits: list[Visit]) -> str:
    return ", ".join(f"{v.session_id} {v.diagnosis.strip() or 'n/a'}" for v in sorted(visits, key=lambda v: v.month))


def _age(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 < value < 130 else None


def _exclusion(outcome: Outcome, has_t1w: bool, listed: bool, sex: str, age: float | None) -> str | None:
    """The first reason of ``REASONS`` that excludes a subject with sessions.tsv, None if it has a label."""
    if outcome.reason == NO_BASELINE_DX:
        return outcome.reason
    if not has_t1w:
        return NO_BASELINE_T1W
    if outcome.reason:
        return outcome.reason
    if not listed:
        return NOT_IN_PARTICIPANTS
    if sex not in ("M", "F"):
        return NO_SEX
    return NO_AGE if age is None else None


def derive_manifest(bids_dir: str | Path, horizon: int = HORIZON_MONTHS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(manifest, excluded): one labelled row per subject (its baseline session) and one row per excluded
    subject with its reason. Image paths are absolute; ``pet`` is empty without a baseline FDG-PET."""
    if horizon < 1:
        raise InputError(f"horizon of {horizon} months: must be at least 1")
    bids_dir = Path(bids_dir).resolve()
    layout = _layout(bids_dir)
    problems: list[str] = []
    participants_tsv = bids_dir / "participants.tsv"
    participants: dict[str, dict[str, str]] = {}
    if not participants_tsv.exists():
        problems.append(f"{participants_tsv}: missing; it must list participant_id and sex")
    else:
        for number, row in enumerate(_read_tsv(participants_tsv, ("participant_id", "sex"), problems) or [], start=1):
            pid = row["participant_id"]
            if not re.match(r"^sub-[A-Za-z0-9]+$", pid):
                problems.append(f"{participants_tsv}: row {number}: participant_id {pid!r} is not sub-<letters and digits>")
            elif pid in participants:
                problems.append(f"{participants_tsv}: row {number}: {pid} is listed twice")
            participants[pid] = row
    sessions_files = {f.entities["subject"]: Path(f.path) for f in layout.get(suffix="sessions", extension=".tsv")
                      if "subject" in f.entities}
    visits = {subject: _read_visits(path, problems) for subject, path in sorted(sessions_files.items())}
    if problems:
        raise InputError(f"BIDS dataset {bids_dir}: {len(problems)} problem(s)", problems)

    t1w = _images(layout, "T1w", "anat")
    pet = _images(layout, "pet", "pet", tracer=list(PET_TRACERS))
    subjects = sorted(set(layout.get_subjects()) | {pid.removeprefix("sub-") for pid in participants})
    rows, excluded = [], []
    for subject in subjects:
        pid = f"sub-{subject}"
        subject_visits = visits.get(subject)
        if not subject_visits:
            excluded.append({"participant_id": pid, "session_id": "", "reason": NO_SESSIONS, "visits": ""})
            continue
        baseline = min(subject_visits, key=lambda v: v.month)
        session_label = baseline.session_id.removeprefix("ses-")
        outcome = label_subject(subject_visits, horizon)
        info = participants.get(pid, {})
        sex = info.get("sex", "").strip().upper()
        age = _age(baseline.age) or _age(info.get("age", ""))
        reason = _exclusion(outcome, (subject, session_label) in t1w, pid in participants, sex, age)
        if reason is not None:
            excluded.append({"participant_id": pid, "session_id": baseline.session_id, "reason": reason,
                             "visits": _visit_text(subject_visits)})
            continue
        site = info.get("site", "")
        rows.append({"participant_id": pid, "session_id": baseline.session_id, "diagnosis": outcome.label,
                     "age": age, "sex": sex, "site": UNKNOWN_SITE if _missing(site) else site.strip(),
                     "t1w": t1w[(subject, session_label)], "pet": pet.get((subject, session_label), "")})
    return pd.DataFrame(rows, columns=list(COLUMNS)), pd.DataFrame(excluded, columns=EXCLUDED_COLUMNS)


def excluded_path(out: str | Path) -> Path:
    """The exclusions sidecar next to the manifest: ``<stem>_excluded.tsv``."""
    out = Path(out)
    return out.with_name(f"{out.stem}_excluded.tsv")


def write_bids_manifest(manifest: pd.DataFrame, excluded: pd.DataFrame, out: str | Path, check_files: bool = True) -> bool:
    """Write the manifest (validated like any manifest first: schema, and with ``check_files`` every image)
    and its exclusions sidecar, atomically; on any problem InputError and nothing written. Files whose
    content would not change are left alone (so their time stamps do not re-run a pipeline); False then."""
    out = Path(out)
    if manifest.empty:
        reasons = "; ".join(f"{r} {n}" for r, n in Counter(excluded["reason"]).items())
        raise InputError(f"no subject could be labelled, so there is no manifest to write ({len(excluded)} excluded: {reasons})")
    text = manifest.to_csv(index=False, float_format="%.10g")
    side_text = excluded.to_csv(sep="\t", index=False)
    side = excluded_path(out)
    if out.exists() and side.exists() and out.read_text() == text and side.read_text() == side_text:
        return False
    with atomic_path(out) as tmp:
        tmp.write_text(text)
        try:
            read_manifest(tmp, check_files=check_files)
        except InputError as exc:
            raise InputError(f"the manifest derived for {out} is not valid", exc.problems) from None
        write_text(side, side_text)
    return True


def dataset_fingerprint(bids_dir: str | Path, horizon: int) -> str:
    """Hash of every raw file's path, size and mtime (not ``derivatives/``, ``sourcedata/``, ``code/``, dot
    files), the horizon and this module's code: equal fingerprints derive equal manifests. A walk is ~100x
    cheaper than indexing the dataset with pybids."""
    root = Path(bids_dir).resolve()
    digest = hashlib.sha256(f"{root}\n{horizon}\n".encode() + Path(__file__).read_bytes())
    for folder, dirs, files in os.walk(root):
        rel = Path(folder).relative_to(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (
            rel == Path(".") and d in ("derivatives", "sourcedata", "code", "stimuli", "models")))
        for name in sorted(f for f in files if not f.startswith(".")):
            stat = os.stat(Path(folder) / name)
            digest.update(f"{rel / name}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cached_manifest(bids_dir: str | Path, out: str | Path, horizon: int = HORIZON_MONTHS) -> tuple[list[dict], list[str]]:
    """For the pipeline, which needs the subjects when it builds its DAG: the rows of the manifest at ``out``,
    derived from ``bids_dir`` (written with its sidecar and ``<out>.json``, the dataset fingerprint) unless the
    fingerprint is that of the last derivation; and the summary lines when it was derived (else [])."""
    out = Path(out)
    stamp = out.with_suffix(".json")
    fingerprint = dataset_fingerprint(bids_dir, horizon)
    try:
        fresh = out.exists() and json.loads(stamp.read_text())["fingerprint"] == fingerprint
    except (OSError, ValueError, KeyError):
        fresh = False
    lines = []
    if not fresh:
        manifest, excluded = derive_manifest(bids_dir, horizon)
        write_bids_manifest(manifest, excluded, out, check_files=False)
        write_text(stamp, json.dumps({"bids_dir": str(Path(bids_dir).resolve()), "horizon_months": horizon,
                                      "fingerprint": fingerprint}, indent=2) + "\n")
        lines = summary_lines(manifest, excluded, horizon)
    with open(out, newline="") as fh:
        return list(csv.DictReader(fh)), lines


def summary_lines(manifest: pd.DataFrame, excluded: pd.DataFrame, horizon: int) -> list[str]:
    """What the command prints: the labelled counts, then one line per exclusion reason."""
    counts = ", ".join(f"{dx} {int((manifest['diagnosis'] == dx).sum())}" for dx in DIAGNOSES)
    n_pet = int((manifest["pet"] != "").sum())
    lines = [f"{len(manifest)} subjects labelled ({counts}; {n_pet} with FDG-PET; horizon {horizon} months), "
             f"{len(excluded)} excluded"]
    reasons = Counter(excluded["reason"])
    lines += [f"excluded, {reason}: {reasons[reason]}" for reason in REASONS if reasons[reason]]
    return lines


def add_bids_manifest_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bids-manifest",
        help="derive the cohort manifest (NC / sMCI / pMCI / AD) from a BIDS dataset with longitudinal diagnoses",
        description="Read a BIDS raw dataset in Clinica's convention (participants.tsv; sub-*/sub-*_sessions.tsv with "
        "session_id ses-M<months> and diagnosis; anat/*_T1w and pet/*_trc-18FFDG_pet images) and write one manifest "
        "row per subject at its baseline session (smallest month). Label rule: CN -> NC; AD or Dementia -> AD; MCI, "
        "EMCI or LMCI -> pMCI if a later session at month <= horizon says AD/Dementia, sMCI if no later session ever "
        "says AD/Dementia or CN and a later session at month >= horizon has a diagnosis, else excluded (converted "
        "after horizon, reverted to CN, follow-up shorter than horizon). Subjects without a usable baseline "
        "diagnosis, baseline T1w, sex or age are excluded too. Excluded subjects and their visits go to "
        "<out stem>_excluded.tsv next to the manifest; the count per reason is printed. A dataset that is not BIDS "
        "or has unreadable tables: exit 2, every file and problem named, nothing written.",
    )
    parser.add_argument("--bids-dir", required=True, type=Path, help="root of the BIDS raw dataset")
    parser.add_argument("--out", required=True, type=Path, help="manifest CSV to write (image paths absolute)")
    parser.add_argument("--horizon-months", type=int, default=HORIZON_MONTHS, metavar="N",
                        help=f"conversion horizon in months from baseline (default {HORIZON_MONTHS})")
    parser.add_argument("--no-check-files", dest="check_files", action="store_false",
                        help="check the written manifest's schema only, not every image (the pipeline's validate "
                        "rule checks them next)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    manifest, excluded = derive_manifest(args.bids_dir, args.horizon_months)
    write_bids_manifest(manifest, excluded, args.out, check_files=args.check_files)
    print(f"bids-manifest {args.bids_dir}:")
    for line in summary_lines(manifest, excluded, args.horizon_months):
        print(f"  {line}")
    print(f"wrote {args.out} and {excluded_path(args.out)}")
    return 0
