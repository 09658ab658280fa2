"""The phantom cohort as a BIDS raw dataset with longitudinal diagnoses, the input of ``mrisynth bids-manifest``.

The subjects and their images are exactly the phantom's (same specs, same bytes); what is added is a
follow-up history per subject in ``sub-*/sub-*_sessions.tsv`` that the 36-month label rule of
:mod:`mrisynth.io.bids_dataset` turns back into the subject's label, except for a few MCI subjects whose
history the rule must exclude: reverters to CN and late converters among the sMCI (stable within the
horizon, so consistent with their latent severity), short follow-ups among the pMCI (lost before their
conversion was seen). Visits carry diagnoses only; images exist at baseline. Layout under the dataset root::

    dataset_description.json, participants.tsv (participant_id, sex, site, age)
    sub-0001/sub-0001_sessions.tsv (session_id, diagnosis, age)
    sub-0001/ses-M00/anat/sub-0001_ses-M00_T1w.nii.gz
    sub-0001/ses-M00/pet/sub-0001_ses-M00_trc-18FFDG_pet.nii.gz   (subjects that keep their PET)
    derivatives/phantom_truth/   the hidden true PET of the others (same layout) and latents.csv

BIDS tools (pybids included) ignore ``derivatives/`` when reading the raw dataset, so the pipeline never
sees the truth; ``latents.csv`` also records the outcome the label rule must give (``expected``).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from mrisynth import __version__
from mrisynth.errors import InputError
from mrisynth.io.atomic import atomic_dir
from mrisynth.io.bids_dataset import CONVERTED_LATE, REVERTED, SHORT_FOLLOW_UP
from mrisynth.phantom.build import simulate_all, write_nifti_gz
from mrisynth.phantom.cohort import SubjectSpec, cohort_specs
from mrisynth.phantom.simulate import simulate_subject
from mrisynth.phantom.template_space import template_space

log = logging.getLogger(__name__)

GENERATOR = "mrisynth phantom"
TRUTH = Path("derivatives") / "phantom_truth"
#: ADNI-like visit months after baseline; histories use a prefix of them
FOLLOW_UP = (6, 12, 24, 36, 48)
#: share of each MCI group given a history the rule excludes, per reason (at least one while one subject is
#: left with the group's label: sMCI groups of 3 or more, pMCI groups of 2 or more)
EXCLUDED_SHARE = 0.1
MCI_NAMES = ("MCI", "EMCI", "LMCI")


@dataclass(frozen=True)
class History:
    """A subject's visits as (months from baseline, diagnosis as written) and what the label rule must make of
    them: the subject's label, or the reason it is excluded."""

    visits: tuple[tuple[int, str], ...]
    expected: str


def _n_excluded(n: int, reasons: int) -> int:
    return max(1, round(EXCLUDED_SHARE * n)) if n > reasons else 0


def _history(dx: str, j: int, n: int) -> History:
    """The history of the ``j``-th of ``n`` subjects of group ``dx`` (the specs' order is already random)."""
    mci = MCI_NAMES[j % len(MCI_NAMES)]
    k = _n_excluded(n, reasons=2 if dx == "sMCI" else 1)
    if dx == "NC":  # CN throughout, 36 or 48 months; now and then a visit without a diagnosis
        visits = [(m, "n/a" if (j % 3 == 2 and m == 6) else "CN") for m in (0, *FOLLOW_UP[: 4 + j % 2])]
        return History(tuple(visits), "NC")
    if dx == "AD":  # demented from baseline; AD patients are often followed for two years only
        return History(((0, "AD"), *((m, "Dementia") for m in FOLLOW_UP[:3])), "AD")
    if dx == "sMCI":
        if j < k:  # improves to CN at 12 months
            return History(((0, mci), (6, mci), (12, "CN"), (24, "CN"), (36, "CN")), REVERTED)
        if j < 2 * k:  # stable through the horizon, converts at 48 months
            return History(((0, mci), *((m, mci) for m in FOLLOW_UP[:4]), (48, "Dementia")), CONVERTED_LATE)
        # stable through 36 or 48 months; every fourth misses its 36-month diagnosis and has one at 48
        visits = [(m, "" if (j % 4 == 3 and m == 36) else mci) for m in (0, *FOLLOW_UP[: 4 + j % 2])]
        return History(tuple(visits), "sMCI")
    if j < k:  # pMCI lost to follow-up after a year, before the conversion was seen
        return History(((0, mci), (6, mci), (12, mci)), SHORT_FOLLOW_UP)
    convert = (12, 24, 36)[j % 3]  # 36: exactly at the horizon
    visits = [(m, mci if m < convert else "Dementia") for m in (0, *FOLLOW_UP)]
    if j % 3 == 1:  # diagnosed MCI again at the visit after the conversion: still pMCI
        after = next(i for i, (m, _) in enumerate(visits) if m > convert)
        visits[after] = (visits[after][0], "MCI")
    return History(tuple(visits), "pMCI")


def histories(specs: list[SubjectSpec]) -> dict[str, History]:
    """participant_id -> History under the default 36-month horizon; deterministic from the specs."""
    out = {}
    for dx in ("NC", "sMCI", "pMCI", "AD"):
        group = [s for s in specs if s.diagnosis == dx]
        for j, spec in enumerate(group):
            out[spec.participant_id] = _history(dx, j, len(group))
    return out


def _session_labels(session: str) -> tuple[int, int]:
    match = re.match(r"^M(\d+)$", session)
    if not match:
        raise InputError(f"phantom.session is {session!r}: a BIDS export needs Clinica's M<months> labels, e.g. M00 or M000")
    return int(match.group(1)), len(match.group(1))


def _table(rows: list[dict], columns: list[str], delimiter: str = "\t") -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, delimiter=delimiter, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def image_paths(spec: SubjectSpec) -> tuple[Path, Path]:
    """T1w and FDG-PET paths of a subject, relative to the dataset root (or to the truth folder)."""
    sub, ses = spec.participant_id, spec.session_id
    folder = Path(sub) / ses
    return folder / "anat" / f"{sub}_{ses}_T1w.nii.gz", folder / "pet" / f"{sub}_{ses}_trc-18FFDG_pet.nii.gz"


def _write_images(spec: SubjectSpec, phantom: dict, seed: int, work, root: Path) -> dict:
    """Simulate one subject, write its T1w and its PET (or true PET); return its latents (a worker process)."""
    subject = simulate_subject(spec, phantom, seed, work)
    t1w, pet = image_paths(spec)
    write_nifti_gz(subject.t1w, root / t1w)
    write_nifti_gz(subject.pet, root / pet if spec.has_pet else root / TRUTH / pet)
    return subject.latents


def _check_target(root: Path) -> None:
    """Refuse to replace a folder that is not a phantom BIDS dataset (the export rewrites it as a whole)."""
    if not root.exists() or (root.is_dir() and not any(root.iterdir())):
        return
    description = root / "dataset_description.json"
    try:
        generated = json.loads(description.read_text()).get("GeneratedBy", [{}])[0].get("Name")
    except (OSError, ValueError, AttributeError, IndexError):
        generated = None
    if generated != GENERATOR:
        raise InputError(f"{root} exists and is not a phantom BIDS dataset ({description} does not name {GENERATOR!r}); "
                         "choose a new folder")


def write_bids(config: dict, root: str | Path, n_subjects: int | None = None, workers: int = 1) -> list[SubjectSpec]:
    """Write the phantom cohort of ``config`` as a BIDS dataset at ``root`` (see the module doc)."""
    root = Path(root)
    phantom, seed = config["phantom"], int(config["seed"])
    base, width = _session_labels(phantom["session"])
    _check_target(root)
    specs = cohort_specs(phantom, seed, n_subjects)
    history = histories(specs)
    work = template_space(phantom["work_spacing_mm"])
    started = time.perf_counter()
    with atomic_dir(root) as tmp:
        latents = simulate_all(partial(_write_images, phantom=phantom, seed=seed, work=work, root=tmp), specs, workers)
        description = {"Name": "mrisynth phantom cohort", "BIDSVersion": "1.9.0", "DatasetType": "raw",
                       "GeneratedBy": [{"Name": GENERATOR, "Version": __version__}]}
        (tmp / "dataset_description.json").write_text(json.dumps(description, indent=2) + "\n")
        participants = [{"participant_id": s.participant_id, "sex": s.sex, "site": s.site, "age": f"{s.age:.1f}"} for s in specs]
        (tmp / "participants.tsv").write_text(_table(participants, ["participant_id", "sex", "site", "age"]))
        for spec in specs:
            rows = [{"session_id": f"ses-M{base + month:0{width}d}", "diagnosis": dx, "age": f"{spec.age + month / 12:.1f}"}
                    for month, dx in history[spec.participant_id].visits]
            (tmp / spec.participant_id / f"{spec.participant_id}_sessions.tsv").write_text(
                _table(rows, ["session_id", "diagnosis", "age"]))
        truth = tmp / TRUTH
        truth.mkdir(parents=True, exist_ok=True)
        (truth / "dataset_description.json").write_text(json.dumps(
            {**description, "Name": "phantom hidden truth", "DatasetType": "derivative"}, indent=2) + "\n")
        rows = [{"participant_id": s.participant_id, "diagnosis": s.diagnosis, "expected": history[s.participant_id].expected,
                 "has_pet": int(s.has_pet), "true_pet": "" if s.has_pet else image_paths(s)[1].as_posix(), **lat}
                for s, lat in zip(specs, latents)]
        (truth / "latents.csv").write_text(_table(rows, list(rows[0]), delimiter=","))
    log.info("phantom BIDS dataset: %d subjects in %.1f s", len(specs), time.perf_counter() - started)
    return specs
