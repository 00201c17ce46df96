"""The clinical CSV and the cohort folder: reading, coding and checking, with the bad row named.

A cohort folder holds ``clinical.csv`` and, per patient, an image and a mask: ``images/<id>.<ext>`` and
``masks/<id>.<ext>`` (NIfTI, NRRD, MHA or a DICOM folder), or the paths in optional ``image`` / ``mask``
columns (relative to the CSV). Columns:

* required: ``id``, ``cohort`` (primary/training/train or validation/test), ``time`` (DFS, >= 0, in the
  config's time unit), ``event`` (1 = recurrence, 0 = censored);
* optional clinical variables, empty or ``NA`` when missing (complete case per analysis): ``age`` (years),
  ``sex`` (M/F, male = 1), ``cea`` (low/high or 0/1; high = > 5 ng/ml), ``grade`` (high/moderate/low
  differentiation or 1/2/3, ordinal), ``tnm`` (I-IV or 1-4, ordinal), ``ln`` (lymph-node metastasis, no/yes).
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.utils import file_named_by_table

REQUIRED = ("id", "cohort", "time", "event")
CLINICAL = ("age", "sex", "cea", "grade", "tnm", "ln")
IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")

_COHORT = {"primary": "primary", "training": "primary", "train": "primary",
           "validation": "validation", "test": "validation", "valid": "validation"}
_CODES: dict[str, dict[str, float]] = {
    "sex": {"m": 1, "male": 1, "1": 1, "f": 0, "female": 0, "0": 0},
    "cea": {"high": 1, "abnormal": 1, "1": 1, "low": 0, "normal": 0, "0": 0},
    "grade": {"high": 1, "well": 1, "1": 1, "moderate": 2, "2": 2, "low": 3, "poor": 3, "3": 3},
    "tnm": {"i": 1, "1": 1, "ii": 2, "2": 2, "iii": 3, "3": 3, "iv": 4, "4": 4},
    "ln": {"no": 0, "0": 0, "n0": 0, "yes": 1, "1": 1},
}
TNM_LABELS = ("I", "II", "III", "IV")
MISSING = ("", "na", "nan", "n/a", "none", "null", ".")


@dataclass
class Cohort:
    """Patients of one clinical CSV: ids, cohort labels, times, events and coded clinical variables."""

    path: Path
    ids: list[str]
    cohort: np.ndarray  # "primary" / "validation"
    time: np.ndarray
    event: np.ndarray
    clinical: dict[str, np.ndarray] = field(default_factory=dict)  # float, NaN = missing
    images: dict[str, Path] = field(default_factory=dict)
    masks: dict[str, Path] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)  # id -> CSV line number

    def select(self, which: str) -> np.ndarray:
        return self.cohort == which

    @property
    def n(self) -> int:
        return len(self.ids)


def _number(value: str, column: str, line: int, path: Path) -> float:
    try:
        x = float(value)
    except ValueError:
        raise InvalidInputError(f"line {line}: column {column!r} is {value!r}, not a number", path) from None
    if not math.isfinite(x):
        raise InvalidInputError(f"line {line}: column {column!r} is {value!r}, not a finite number", path)
    return x


def code_clinical_value(value: str, column: str, line: int, path: Path) -> float:
    v = value.strip().lower()
    if v in MISSING:
        return math.nan
    if column == "age":
        x = _number(v, column, line, path)
        if not 0 <= x < 130:
            raise InvalidInputError(f"line {line}: age {value!r} is outside 0-130", path)
        return x
    if column == "tnm":
        v = v.removeprefix("stage").strip()
    if v.endswith(".0"):
        v = v[:-2]
    code = _CODES[column].get(v)
    if code is None:
        allowed = sorted(set(_CODES[column]))
        raise InvalidInputError(f"line {line}: column {column!r} is {value!r}; expected one of {allowed} or empty",
                                path)
    return float(code)


def _find_file(folder: Path, stem: str) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    candidate = folder / stem
    return candidate if candidate.is_dir() else None


def read_text_table(path: Path) -> str:
    """The text of a CSV/JSON input, or ``InvalidInputError`` for a binary file (an image given by mistake)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read ({exc.strerror or exc})", path) from None
    if b"\0" in raw[:4096]:
        raise InvalidInputError("a binary file (an image?), not a clinical or features table: give a cohort "
                                "folder (clinical.csv + images/ + masks/), a clinical CSV or a features CSV/JSON",
                                path)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInputError("not UTF-8 text: a clinical or features table (CSV/JSON) is expected", path) from None


def read_clinical_csv(path: str | Path, *, require_images: bool = False) -> Cohort:
    """Read and check a clinical CSV; every problem raises ``InvalidInputError`` naming the file and line."""
    path = Path(path)
    if path.is_dir():
        path = path / "clinical.csv"
    if not path.is_file():
        raise InvalidInputError("clinical CSV not found", path)
    text = read_text_table(path)  # a binary file (an image given by mistake) gets one clear line
    try:
        reader = csv.DictReader(text.splitlines())
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise InvalidInputError(f"missing column(s) {missing}; the header is {header}", path)
        raw_rows = [{(k or "").strip().lower(): (v or "").strip() for k, v in row.items()} for row in reader]
    except csv.Error as exc:
        raise InvalidInputError(f"not a readable CSV ({exc})", path) from None
    if not raw_rows:
        raise InvalidInputError("no patients (the CSV has a header only)", path)
    ids, cohorts, times, events, rows = [], [], [], [], {}
    clinical = {c: [] for c in CLINICAL if c in header}
    images, masks = {}, {}
    for i, row in enumerate(raw_rows):
        line = i + 2
        pid = row["id"]
        if not pid:
            raise InvalidInputError(f"line {line}: empty id", path)
        if pid in rows:
            raise InvalidInputError(f"line {line}: id {pid!r} repeats line {rows[pid]}", path)
        cohort = _COHORT.get(row["cohort"].lower())
        if cohort is None:
            raise InvalidInputError(f"line {line}: cohort {row['cohort']!r} is not primary/training or "
                                    "validation/test", path)
        t = _number(row["time"], "time", line, path)
        if t < 0:
            raise InvalidInputError(f"line {line}: negative time {row['time']!r}", path)
        e = row["event"].removesuffix(".0")
        if e not in ("0", "1"):
            raise InvalidInputError(f"line {line}: event {row['event']!r} must be 0 (censored) or 1 (event)", path)
        for c in clinical:
            clinical[c].append(code_clinical_value(row.get(c, ""), c, line, path))
        for col, store, sub in (("image", images, "images"), ("mask", masks, "masks")):
            if row.get(col):
                store[pid] = file_named_by_table(path.parent, row[col], path, f"line {line}: {col}",
                                                 where="the clinical CSV's folder", must_exist=False)
            else:
                found = _find_file(path.parent / sub, pid)
                if found is not None:
                    store[pid] = found
            if require_images and (pid not in store or not store[pid].exists()):
                raise InvalidInputError(f"line {line}: no {col} for id {pid!r} (looked for {col} column or "
                                        f"{sub}/{pid}{{{','.join(IMAGE_SUFFIXES)}}})", path)
        ids.append(pid)
        cohorts.append(cohort)
        times.append(t)
        events.append(int(e))
        rows[pid] = line
    cohort_arr = np.asarray(cohorts)
    if not np.any(cohort_arr == "primary"):
        raise InvalidInputError("no patient in the primary (training) cohort", path)
    return Cohort(path, ids, cohort_arr, np.asarray(times, float), np.asarray(events, int),
                  {c: np.asarray(v, float) for c, v in clinical.items()}, images, masks, rows)


def write_clinical_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write rows (dicts with the columns above) as a clinical CSV."""
    from biomedai.utils import write_csv_atomic

    return write_csv_atomic(path, rows)
