"""Readers of the OSIPI DCE/DSC-MRI code collection's test-data CSVs (array cells are space-separated numbers),
and the tolerances its tests use; for tests and benchmarks that check our fits against the community's."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

#: (atol, rtol) of the upstream tests, per quantity (``../shared/data/dce_osipi/README.md``)
TOLERANCES = {"Ktrans": (0.005, 0.1), "PS": (0.005, 0.1), "ve": (0.05, 0.0), "vp": (0.025, 0.0),
              "delay": (1.0, 0.0), "R1": (0.05, 0.05), "conc": (1e-5, 1e-5), "aif": (1e-4, 0.01),
              "aif_delay": (0.1, 0.1)}


def within_tolerance(measured: Any, reference: Any, quantity: str) -> np.ndarray:
    """``|measured - reference| <= atol + rtol |reference|`` with the OSIPI tolerance of ``quantity``."""
    atol, rtol = TOLERANCES[quantity]
    m, r = np.asarray(measured, float), np.asarray(reference, float)
    return np.abs(m - r) <= atol + rtol * np.abs(r)


def read_osipi_csv(path: str | Path) -> list[dict[str, Any]]:
    """Rows of an OSIPI CSV; cells holding several numbers become float arrays, one number a float."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError("file not found", path)
    rows = []
    with open(path, newline="", encoding="utf-8-sig") as fh:
        for raw in csv.DictReader(fh):
            row: dict[str, Any] = {}
            for key, cell in raw.items():
                key = key.strip()
                parts = cell.split()
                try:
                    values = np.array(parts, float)
                except ValueError:
                    row[key] = cell
                    continue
                row[key] = values if len(parts) > 1 else (float(values[0]) if len(parts) else np.nan)
            rows.append(row)
    return rows


def delayed_dro_rows(rows: list[dict[str, Any]], shift: int) -> list[dict[str, Any]]:
    """Delayed copies of DRO rows as upstream makes them: ``C`` shifted later by ``shift`` samples (zeros
    prepended, tail dropped); reference delay ``t[shift]``; label suffix ``_delayed``."""
    out = []
    for row in rows:
        new = dict(row)
        c = np.asarray(row["C"], float)
        new["C"] = np.concatenate([np.zeros(shift), c[:-shift]])
        new["arterialdelay"] = float(row["t"][shift])
        new["label"] = f"{row['label']}_delayed"
        out.append(new)
    return out
