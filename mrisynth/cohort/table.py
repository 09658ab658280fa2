"""The cohort table: one row per participant (the first session listed, i.e. baseline), labels per task.

Labels: positive = the converting / demented group (pMCI, AD), negative = sMCI, NC. The primary task is
pMCI vs sMCI; AD vs NC is the secondary task, evaluated on the AD and NC test subjects of the same folds.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mrisynth.errors import InputError

#: task name -> (positive diagnosis, negative diagnosis)
TASKS = {"pMCI_vs_sMCI": ("pMCI", "sMCI"), "AD_vs_NC": ("AD", "NC")}
POSITIVE = {"pMCI", "AD"}
#: disease stage by diagnosis, NC -0.5 .. AD +0.5: what the synthesis severity path s learns to read from the MRI.
#: Centred so that in PET = map0 + s * map1 map0 is the mid-stage PET and s * map1 varies around it: with s on
#: [0, 1] both maps move the NC-heavy output alike, which slows learning their difference
DISEASE_STAGE = {"NC": -0.5, "sMCI": -1 / 6, "pMCI": 1 / 6, "AD": 0.5}


def read_cohort(manifest_path: str | Path) -> pd.DataFrame:
    """participant_id, session_id, diagnosis, has_pet, label, task: one row per participant."""
    path = Path(manifest_path)
    if not path.exists():
        raise InputError(f"manifest {path} does not exist")
    table = pd.read_csv(path, dtype={"participant_id": str, "session_id": str, "pet": str})
    missing = {"participant_id", "session_id", "diagnosis", "pet"} - set(table.columns)
    if missing:
        raise InputError(f"manifest {path} lacks column(s) {sorted(missing)}")
    cohort = table.groupby("participant_id", sort=True).first().reset_index()
    cohort["has_pet"] = cohort["pet"].fillna("").astype(str).str.strip() != ""
    cohort["label"] = cohort["diagnosis"].isin(POSITIVE).astype(int)
    task_of = {dx: task for task, pair in TASKS.items() for dx in pair}
    unknown = sorted(set(cohort["diagnosis"]) - set(task_of))
    if unknown:
        raise InputError(f"manifest {path}: unknown diagnosis {unknown}; expected one of {sorted(task_of)}")
    cohort["task"] = cohort["diagnosis"].map(task_of)
    return cohort[["participant_id", "session_id", "diagnosis", "has_pet", "label", "task"]]
