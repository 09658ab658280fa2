"""Who is in the phantom cohort: group, latent severity, age, sex, site, and whether the PET is kept.

Everything here is cheap and comes from ``(config, seed, n)`` alone, so the manifest can be regenerated
and compared without simulating a single image. Subject ``i`` draws from its own random stream
``(seed, i)``, the cohort-level choices (group order, who loses the PET) from ``(seed, COHORT_STREAM)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mrisynth.errors import InputError

GROUPS = ("NC", "sMCI", "pMCI", "AD")
COHORT_STREAM = 1_000_003  # stream id of cohort-level draws; subject streams are 1..n


@dataclass(frozen=True)
class SubjectSpec:
    """The latent and reported variables of one phantom subject (one session)."""

    index: int  # 1-based, also the subject's random stream
    participant_id: str
    session_id: str
    diagnosis: str
    severity: float  # latent disease severity, 0 (healthy) .. 1 (advanced AD); never in the manifest
    age: float
    sex: str
    site: str
    has_pet: bool


def group_counts(groups: dict[str, int], n: int) -> dict[str, int]:
    """Scale the configured group sizes to ``n`` subjects (largest remainder), each group at least one."""
    if n < len(GROUPS):
        raise InputError(f"--n-subjects must be at least {len(GROUPS)} so that every group ({', '.join(GROUPS)}) is present, got {n}")
    total = sum(groups[g] for g in GROUPS)
    if total == n:
        return {g: int(groups[g]) for g in GROUPS}
    exact = {g: groups[g] * n / total for g in GROUPS}
    counts = {g: max(1, math.floor(exact[g])) for g in GROUPS}
    # hand out (or take back) the rest by largest fractional part, ties in group order
    order = sorted(GROUPS, key=lambda g: (-(exact[g] - math.floor(exact[g])), GROUPS.index(g)))
    i = 0
    while sum(counts.values()) != n:
        g = order[i % len(order)]
        step = 1 if sum(counts.values()) < n else -1
        if counts[g] + step >= 1:
            counts[g] += step
        i += 1
    return counts


def cohort_specs(phantom: dict, seed: int, n: int | None = None) -> list[SubjectSpec]:
    """The subjects of the cohort defined by the ``phantom`` config section, the seed and the size."""
    n = sum(phantom["groups"][g] for g in GROUPS) if n is None else int(n)
    counts = group_counts(phantom["groups"], n)
    rng = np.random.default_rng([seed, COHORT_STREAM])
    diagnoses = rng.permutation(np.repeat(GROUPS, [counts[g] for g in GROUPS]))
    missing_pet = np.zeros(n, bool)
    for g in GROUPS:
        members = np.flatnonzero(diagnoses == g)
        k = math.ceil(phantom["pet_missing_fraction"] * len(members) - 0.5)  # round half down: keep PET on ties
        missing_pet[rng.choice(members, size=k, replace=False)] = True
    sev, age, sites = phantom["severity"], phantom["age"], phantom["sites"]
    specs = []
    for i, dx in enumerate(diagnoses, start=1):
        srng = np.random.default_rng([seed, i])
        severity = float(np.clip(sev["mean"][dx] + sev["sd"] * srng.standard_normal(), 0.0, 1.0))
        years = float(np.clip(age["mean"][dx] + age["sd"] * srng.standard_normal(), age["min"], age["max"]))
        sex = "M" if srng.random() < phantom["male_fraction"] else "F"
        site = sites[int(srng.integers(len(sites)))]["name"]
        specs.append(
            SubjectSpec(
                index=i,
                participant_id=f"sub-{i:04d}",
                session_id=f"ses-{phantom['session']}",
                diagnosis=str(dx),
                severity=round(severity, 4),
                age=round(years, 1),
                sex=sex,
                site=site,
                has_pet=not missing_pet[i - 1],
            )
        )
    return specs
