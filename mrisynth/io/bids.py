"""BIDS-style names for derivatives: ``sub-<id>_ses-<s>[_<key>-<value>...]_<suffix>.nii.gz``.

Labels must be letters and digits (BIDS forbids ``_`` and ``-`` inside a label, they separate
entities); a leading ``sub-`` / ``ses-`` on the id is accepted and dropped, so ``sub-01`` and ``01``
name the same subject.
"""

from __future__ import annotations

import re
from pathlib import Path

LABEL = re.compile(r"^[A-Za-z0-9]+$")


def bids_label(value: object, prefix: str) -> str:
    """The bare label of ``value`` (``'sub-01'`` -> ``'01'`` for prefix ``'sub'``); ValueError if invalid."""
    text = str(value).strip()
    if text.startswith(f"{prefix}-"):
        text = text[len(prefix) + 1 :]
    if not LABEL.match(text):
        raise ValueError(f"{prefix} label {value!r} must be letters and digits only (BIDS), e.g. '01' or 'bl'")
    return text


def bids_name(participant_id: object, session_id: object, suffix: str, ext: str = ".nii.gz", **entities: object) -> str:
    """File name ``sub-<id>_ses-<s>_<key>-<value>..._<suffix><ext>`` (entities in the order given)."""
    parts = [f"sub-{bids_label(participant_id, 'sub')}", f"ses-{bids_label(session_id, 'ses')}"]
    for key, value in entities.items():
        if not LABEL.match(key):
            raise ValueError(f"entity key {key!r} must be letters and digits only")
        parts.append(f"{key}-{bids_label(value, key)}")
    if not LABEL.match(suffix):
        raise ValueError(f"suffix {suffix!r} must be letters and digits only, e.g. 'T1w' or 'pet'")
    return "_".join(parts) + f"_{suffix}{ext}"


def subject_dir(root: str | Path, participant_id: object, session_id: object) -> Path:
    """``root/sub-<id>/ses-<s>``: the per-session folder of a stage's results."""
    return Path(root) / f"sub-{bids_label(participant_id, 'sub')}" / f"ses-{bids_label(session_id, 'ses')}"
