"""Materialise the phantom cohort: images at the manifest's paths, the hidden truth, and the manifest.

Layout, relative to the manifest's folder: ``<raw_dir>/sub-0001/ses-M00/anat/sub-0001_ses-M00_T1w.nii.gz``
and ``.../pet/sub-0001_ses-M00_trc-FDG_pet.nii.gz`` for subjects that keep their PET; the same
``sub-*/ses-*/pet/...`` tree under ``<truth_dir>`` for the true PET of the others, and
``<truth_dir>/latents.csv`` (severity and the other latents; ``true_pet`` relative to ``truth_dir``,
empty for subjects whose PET is in the manifest).
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import nibabel as nib
from tqdm import tqdm

from mrisynth.errors import InputError
from mrisynth.io.atomic import atomic_dir, atomic_path, write_text
from mrisynth.io.bids import bids_name, subject_dir
from mrisynth.phantom.cohort import SubjectSpec, cohort_specs
from mrisynth.phantom.simulate import simulate_subject
from mrisynth.phantom.template_space import template_space

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = ["participant_id", "session_id", "diagnosis", "age", "sex", "site", "t1w", "pet"]
LATENTS_FILE = "latents.csv"


def image_path(root: str | Path, spec: SubjectSpec, modality: str) -> Path:
    """BIDS raw path of a subject's ``'t1w'`` or ``'pet'`` image under ``root``."""
    folder = subject_dir(root, spec.participant_id, spec.session_id)
    if modality == "t1w":
        return folder / "anat" / bids_name(spec.participant_id, spec.session_id, "T1w")
    return folder / "pet" / bids_name(spec.participant_id, spec.session_id, "pet", trc="FDG")


def manifest_rows(specs: list[SubjectSpec], phantom: dict) -> list[dict[str, str]]:
    """The manifest as text cells, exactly as written (paths relative to the manifest's folder)."""
    raw = phantom["raw_dir"]
    return [
        {
            "participant_id": s.participant_id,
            "session_id": s.session_id,
            "diagnosis": s.diagnosis,
            "age": f"{s.age:.1f}",
            "sex": s.sex,
            "site": s.site,
            "t1w": image_path(raw, s, "t1w").as_posix(),
            "pet": image_path(raw, s, "pet").as_posix() if s.has_pet else "",
        }
        for s in specs
    ]


def _csv_text(rows: list[dict], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def nifti_gz_bytes(img: nib.Nifti1Image) -> bytes:
    """Byte-deterministic .nii.gz content (no gzip time stamp or name) that keeps the image's scl_slope.

    Level 1: noisy int16 images compress almost as well as at level 6, four times faster.
    """
    return gzip.compress(img.to_bytes(), compresslevel=1, mtime=0)


def write_nifti_gz(img: nib.Nifti1Image, path: Path) -> None:
    """Write :func:`nifti_gz_bytes` atomically."""
    payload = nifti_gz_bytes(img)
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)


def check_manifest(path: Path, expected: list[dict[str, str]], config_name: str) -> None:
    """Raise InputError listing how the manifest at ``path`` differs from what the config produces."""
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        columns, found = list(reader.fieldnames or []), list(reader)
    problems = []
    if columns != MANIFEST_COLUMNS:
        problems.append(f"columns are {columns}, the phantom writes {MANIFEST_COLUMNS}")
    else:
        for number, (have, want) in enumerate(zip(found, expected), start=1):
            problems += [
                f"row {number} ({want['participant_id']}), column {col}: manifest has {have[col]!r}, the config gives {want[col]!r}"
                for col in MANIFEST_COLUMNS
                if have[col] != want[col]
            ]
    if problems:
        shown = problems[:10] + ([f"... and {len(problems) - 10} more"] if len(problems) > 10 else [])
        raise InputError(
            f"manifest {path} is not the phantom cohort that {config_name} produces with {len(found)} subjects. "
            f"Write a new one with `mrisynth phantom --config {config_name} --manifest {path} --n-subjects N`, "
            "or set `cohort: manifest` to use it as your own data",
            shown,
        )


def _write_subject(spec: SubjectSpec, phantom: dict, seed: int, work, raw: Path, truth: Path) -> dict:
    """Simulate one subject, write its images, return its row of hidden latents (runs in a worker process)."""
    subject = simulate_subject(spec, phantom, seed, work)
    write_nifti_gz(subject.t1w, raw / image_path(".", spec, "t1w"))
    write_nifti_gz(subject.pet, (raw if spec.has_pet else truth) / image_path(".", spec, "pet"))
    return {
        "participant_id": spec.participant_id,
        "session_id": spec.session_id,
        "diagnosis": spec.diagnosis,
        "age": f"{spec.age:.1f}",
        "sex": spec.sex,
        "site": spec.site,
        "has_pet": int(spec.has_pet),
        "true_pet": "" if spec.has_pet else image_path(".", spec, "pet").as_posix(),
        **subject.latents,
    }


def simulate_all(write, specs: list, workers: int) -> list[dict]:
    """``write(spec)`` for every subject (its latents), in ``workers`` processes, with a progress bar; the
    results are in ``specs`` order whatever the number of workers."""
    progress = partial(tqdm, total=len(specs), desc="phantom subjects", unit="subject")
    if workers > 1:
        with ProcessPoolExecutor(min(workers, len(specs))) as pool:
            return list(progress(pool.map(write, specs)))
    return [write(spec) for spec in progress(specs)]


def build_cohort(config: dict, manifest: str | Path, n_subjects: int | None = None, config_name: str = "the config",
                 workers: int = 1) -> list[SubjectSpec]:
    """Write the phantom cohort of ``config`` for ``manifest`` (see the module doc); return its subjects.

    With ``n_subjects``, or when ``manifest`` does not exist, a new manifest is written (its size:
    ``n_subjects`` or the configured groups). Otherwise the existing manifest must be exactly the one the
    config produces for its number of rows (else InputError), and its images are (re)written.
    ``workers`` processes simulate the subjects; each subject depends only on its spec and the seed, so the
    bytes written do not depend on ``workers``.
    """
    manifest = Path(manifest)
    phantom, seed = config["phantom"], int(config["seed"])
    root = manifest.parent
    check_only = n_subjects is None and manifest.exists()
    if check_only:
        with open(manifest, newline="") as fh:
            n_rows = sum(1 for _ in csv.DictReader(fh))
        specs = cohort_specs(phantom, seed, n_rows) if n_rows >= 4 else []
        check_manifest(manifest, manifest_rows(specs, phantom), config_name)
        if not specs:
            raise InputError(f"manifest {manifest} has {n_rows} rows; a phantom cohort has at least 4")
    else:
        specs = cohort_specs(phantom, seed, n_subjects)
    rows = manifest_rows(specs, phantom)

    work = template_space(phantom["work_spacing_mm"])
    started = time.perf_counter()
    with atomic_dir(root / phantom["truth_dir"]) as truth:
        write = partial(_write_subject, phantom=phantom, seed=seed, work=work, raw=root / phantom["raw_dir"], truth=truth)
        latents = simulate_all(write, specs, workers)
        write_text(truth / LATENTS_FILE, _csv_text(latents, list(latents[0])))
    elapsed = time.perf_counter() - started
    log.info("phantom: %d subjects in %.1f s (%.2f s per subject)", len(specs), elapsed, elapsed / len(specs))
    if not check_only:
        write_text(manifest, _csv_text(rows, MANIFEST_COLUMNS))
    return specs
