"""The cohort manifest: read, validate (schema + every file it names), normalise, write.

The row schema is ``workflow/schemas/manifest.schema.yaml``. Validation collects **every** problem
before failing, one line each, so that a user fixes a manifest in one pass. Rows are numbered as data
rows from 1 (the header is not a row); the file line number is given too.

The normalised table has the columns of ``COLUMNS`` (then any extra columns, as text), ids and labels
as text, ``age`` as float, and absolute ``t1w`` / ``pet`` paths; ``pet`` is ``""`` when absent.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import jsonschema
import pandas as pd
from tqdm import tqdm

from mrisynth.config import load_schema
from mrisynth.errors import InputError
from mrisynth.io.atomic import atomic_path
from mrisynth.io.bids import bids_label
from mrisynth.io.nifti import check_nifti

SCHEMA_NAME = "manifest.schema.yaml"
COLUMNS = ("participant_id", "session_id", "diagnosis", "age", "sex", "site", "t1w", "pet")
FILE_COLUMNS = ("t1w", "pet")
DIAGNOSES = ("NC", "sMCI", "pMCI", "AD")


class _Problems:
    """Problems keyed by data row (0 = the file or its header), reported in row order."""

    def __init__(self) -> None:
        self.items: list[tuple[int, str]] = []

    def add(self, row: int, line: int | None, column: str | None, message: str, file: str | None = None) -> None:
        where = [f"row {row} (line {line})" if row else "header"]
        if column:
            where.append(f"column {column}")
        if file:
            where.append(f"file {file}")
        self.items.append((row, f"{', '.join(where)}: {message}"))

    def lines(self) -> list[str]:
        return [text for _, text in sorted(self.items, key=lambda item: item[0])]


def _read_table(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (line number, cells) of each non-blank data line; InputError if not a readable CSV."""
    if not path.exists():
        raise InputError(f"manifest {path}: file does not exist")
    if path.is_dir():
        raise InputError(f"manifest {path}: is a directory, expected a CSV file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"manifest {path}: not a readable UTF-8 text file ({exc})") from None
    rows: list[tuple[int, list[str]]] = []
    try:
        reader = csv.reader(text.splitlines())
        for cells in reader:
            if any(cell.strip() for cell in cells):
                rows.append((reader.line_num, [cell.strip() for cell in cells]))
    except csv.Error as exc:
        raise InputError(f"manifest {path}: not a valid CSV file ({exc})") from None
    if not rows:
        raise InputError(f"manifest {path}: empty manifest (no header, no rows)")
    (_, header), *data = rows
    return header, data


def _schema_value(column: str, cell: str, schema: dict) -> object:
    """The cell as the schema types it: numbers for ``type: number`` when finite, else the text."""
    if schema["properties"].get(column, {}).get("type") == "number":
        try:
            number = float(cell)
        except ValueError:
            return cell
        return number if math.isfinite(number) else cell
    return cell


def _schema_message(error: jsonschema.ValidationError, schema: dict) -> tuple[str | None, str]:
    column = str(error.path[0]) if error.path else None
    message = error.message
    if column and error.validator in ("pattern", "enum", "minLength"):
        hint = schema["properties"].get(column, {}).get("description")
        if hint:
            message += f" ({hint})"
    return column, message


def _resolve(cell: str, base: Path) -> Path:
    path = Path(os.path.expanduser(cell))
    return Path(os.path.abspath(path if path.is_absolute() else base / path))


def read_manifest(path: str | os.PathLike, *, check_files: bool = True) -> pd.DataFrame:
    """Validate the manifest at ``path`` and return the normalised table.

    Raises ``InputError`` listing every problem (schema, duplicates, and with ``check_files`` every
    file it names, via ``check_nifti``). ``check_files=False`` suits an already validated manifest.
    """
    path = Path(path)
    schema = load_schema(SCHEMA_NAME)
    required = list(schema["required"])
    problems = _Problems()
    header, data = _read_table(path)

    seen_cols: set[str] = set()
    for name in header:
        if not name:
            problems.add(0, None, None, "a column has an empty name")
        elif name in seen_cols:
            problems.add(0, None, name, "column appears twice")
        seen_cols.add(name)
    missing = [col for col in required if col not in header]
    if missing:
        problems.add(0, None, None, f"missing required column(s): {', '.join(missing)} (expected {', '.join(COLUMNS)})")
    if not data:
        problems.add(0, None, None, "empty manifest: a header but no data rows")

    validator = jsonschema.Draft202012Validator(schema)
    records: list[dict] = []
    keys: dict[tuple[str, str], int] = {}
    files: dict[Path, tuple[int, str]] = {}
    to_check: list[tuple[int, int, str, Path]] = []
    for row, (line, cells) in enumerate(data, start=1):
        if len(cells) != len(header):
            problems.add(row, line, None, f"has {len(cells)} fields, the header has {len(header)}")
            continue
        record = dict(zip(header, cells))
        instance = {}
        for column, cell in record.items():
            if cell == "" and column in required:
                if column not in missing:
                    problems.add(row, line, column, "empty, a value is required")
            elif column in schema["properties"]:
                instance[column] = _schema_value(column, cell, schema)
        bad_columns = set()
        for error in validator.iter_errors(instance):
            if error.validator == "required":
                continue  # reported above, as a missing column or an empty cell
            column, message = _schema_message(error, schema)
            bad_columns.add(column)
            problems.add(row, line, column, message)

        pid, sid = record.get("participant_id", ""), record.get("session_id", "")
        if pid and sid and not bad_columns & {"participant_id", "session_id"}:
            key = (bids_label(pid, "sub"), bids_label(sid, "ses"))
            if key in keys:
                problems.add(row, line, "participant_id+session_id",
                             f"duplicate of row {keys[key]} (participant {key[0]}, session {key[1]})")
            else:
                keys[key] = row

        for column in FILE_COLUMNS:
            cell = record.get(column, "")
            if not cell:
                continue
            resolved = _resolve(cell, path.parent)
            record[column] = str(resolved)
            if resolved in files:
                first_row, first_col = files[resolved]
                problems.add(row, line, column, f"same file as row {first_row} column {first_col}", str(resolved))
                continue
            files[resolved] = (row, column)
            if check_files and column not in bad_columns:
                to_check.append((row, line, column, resolved))
        records.append(record)

    for row, line, column, file in tqdm(to_check, desc="checking files", unit="file", disable=len(to_check) < 20):
        for message in check_nifti(file):
            problems.add(row, line, column, message, str(file))

    if problems.items:
        lines = problems.lines()
        raise InputError(
            f"manifest {path}: {len(lines)} problem(s) (rows are data rows numbered from 1; "
            f"lines are lines of the file)",
            lines,
        )
    return _normalise(records, header)


def _normalise(records: list[dict], header: list[str]) -> pd.DataFrame:
    extras = [col for col in header if col not in COLUMNS]
    table = pd.DataFrame(records, columns=[*COLUMNS, *extras], dtype=object).fillna("")
    table["age"] = table["age"].astype(float)
    for column in [c for c in table.columns if c != "age"]:
        table[column] = table[column].astype(str)
    return table


def write_manifest(table: pd.DataFrame, out: str | os.PathLike) -> Path:
    """Write a normalised table atomically (ages without trailing zeros, empty ``pet`` as empty cells)."""
    out = Path(out)
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False, float_format="%.10g")
    return out
