"""STAR files (RELION / Warp / Dynamo particle lists) and CSV particle coordinates.

A STAR file holds named data blocks (``data_NAME``); each is either a ``loop_`` table (columns
``_rlnCoordinateX #1`` ...) or key-value pairs. :func:`read_star` returns every block as a dict of
columns (lists of int/float/str); :func:`write_star` writes the same structure back.
:func:`read_particle_coordinates` reads x, y, z voxel coordinates (and an optional class name per
particle) from a STAR file (``rlnCoordinateX/Y/Z``, optional ``rlnClassName``/``rlnClassNumber``)
or a CSV with ``x, y, z`` columns (optional ``class``).

Example:
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "particles.star"
    >>> _ = write_star(p, {"particles": {"rlnCoordinateX": [1.0, 2.0], "rlnCoordinateY": [3.0, 4.0],
    ...                                   "rlnCoordinateZ": [5.0, 6.0], "rlnClassName": ["a", "b"]}})
    >>> read_star(p)["particles"]["rlnClassName"]
    ['a', 'b']
    >>> read_particle_coordinates(p)[0].tolist()
    [[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]]
"""
from __future__ import annotations

import csv
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.io._files import existing_file
from biomedai.io.limits import check_decoded_bytes
from biomedai.utils import write_text_atomic

__all__ = ["read_particle_coordinates", "read_star", "write_particle_coordinates", "write_star"]


def _value(token: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(token)
        except ValueError:
            pass
    return token


def read_star(path: str | Path) -> dict[str, dict[str, list[Any]]]:
    """Read every data block of a STAR file into ``{block: {column: [values]}}``.

    Key-value blocks become one-row tables. Numbers are converted to int/float.
    """
    path = existing_file(path)
    check_decoded_bytes(path.stat().st_size, path, "STAR file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise InvalidInputError("not a text STAR file", path) from None
    blocks: dict[str, dict[str, list[Any]]] = {}
    block: dict[str, list[Any]] | None = None
    columns: list[str] = []
    in_loop = False
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("data_"):
            block = blocks.setdefault(line[5:], {})
            columns, in_loop = [], False
            continue
        if block is None:
            raise InvalidInputError(f"line {number}: content before the first data_ block", path)
        if line == "loop_":
            columns, in_loop = [], True
            continue
        if line.startswith("_"):
            parts = line.split()
            name = parts[0][1:]
            if in_loop and (len(parts) == 1 or parts[1].startswith("#")):
                columns.append(name)
                block[name] = []
            else:
                in_loop = False
                block[name] = [_value(" ".join(parts[1:]).strip("'\""))] if len(parts) > 1 else [""]
            continue
        if not in_loop or not columns:
            raise InvalidInputError(f"line {number}: data row outside a loop_: {line[:60]!r}", path)
        try:
            tokens = shlex.split(line, comments=False) if ('"' in line or "'" in line) else line.split()
        except ValueError as exc:  # an unterminated quote
            raise InvalidInputError(f"line {number}: {exc} in {line[:60]!r}", path) from None
        if len(tokens) != len(columns):
            raise InvalidInputError(f"line {number}: {len(tokens)} values for {len(columns)} columns", path)
        for name, token in zip(columns, tokens):
            block[name].append(_value(token))
    if not blocks:
        raise InvalidInputError("no data_ block found; not a STAR file", path)
    return blocks


def _format(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6f}"
    text = str(value)
    return f'"{text}"' if (not text or any(c.isspace() for c in text)) else text


def write_star(path: str | Path, blocks: Mapping[str, Mapping[str, Sequence[Any]]]) -> Path:
    """Write ``{block: {column: values}}`` as loop_ tables (atomically); columns must have equal length."""
    path = Path(path)
    out = ["# written by biomedai", ""]
    for name, table in blocks.items():
        lengths = {len(v) for v in table.values()}
        if len(lengths) > 1:
            raise InvalidInputError(f"block {name!r}: columns have different lengths {sorted(lengths)}", path)
        out += [f"data_{name}", "", "loop_"]
        out += [f"_{col} #{i}" for i, col in enumerate(table, start=1)]
        for row in zip(*table.values()):
            out.append(" ".join(_format(v) for v in row))
        out.append("")
    return write_text_atomic(path, "\n".join(out) + "\n")


def read_particle_coordinates(path: str | Path) -> tuple[np.ndarray, list[str] | None]:
    """``(xyz [n, 3] float voxel coordinates, class names or None)`` from a STAR or CSV file."""
    path = existing_file(path)
    if path.suffix.lower() == ".star":
        table = next((t for t in read_star(path).values() if "rlnCoordinateX" in t), None)
        if table is None:
            raise InvalidInputError("no block with rlnCoordinateX/Y/Z columns", path)
        missing = [c for c in ("rlnCoordinateY", "rlnCoordinateZ") if c not in table]
        if missing:
            raise InvalidInputError(f"missing column {missing[0]}", path)
        cols = [table["rlnCoordinateX"], table["rlnCoordinateY"], table["rlnCoordinateZ"]]
        names = table.get("rlnClassName") or table.get("rlnClassNumber")
    elif path.suffix.lower() in (".csv", ".txt"):
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        if not rows:
            raise InvalidInputError("CSV has no particle rows", path)
        header = {k.strip().lower(): k for k in rows[0] if k is not None}
        missing = [c for c in ("x", "y", "z") if c not in header]
        if missing:
            raise InvalidInputError(f"CSV needs columns x, y, z; missing {missing[0]!r}", path)
        cols = [[r[header[c]] for r in rows] for c in ("x", "y", "z")]
        names = [r[header["class"]] for r in rows] if "class" in header else None
    else:
        raise InvalidInputError("coordinates must be a .star or .csv file", path)
    try:
        xyz = np.array(cols, dtype=float).T.reshape(-1, 3)
    except ValueError:
        raise InvalidInputError("coordinates are not all numbers", path) from None
    if not np.all(np.isfinite(xyz)):
        raise InvalidInputError("coordinates contain NaN or infinity", path)
    return xyz, ([str(n) for n in names] if names is not None else None)


def write_particle_coordinates(path: str | Path, xyz: np.ndarray, classes: Sequence[str] | None = None,
                               extra: Mapping[str, Sequence[Any]] | None = None) -> Path:
    """Write particle coordinates (x, y, z voxels) as STAR (``.star``) or CSV (``.csv``)."""
    path = Path(path)
    xyz = np.asarray(xyz, dtype=float).reshape(-1, 3)
    table: dict[str, Sequence[Any]] = {"rlnCoordinateX": xyz[:, 0].tolist(), "rlnCoordinateY": xyz[:, 1].tolist(),
                                       "rlnCoordinateZ": xyz[:, 2].tolist()}
    if classes is not None:
        table["rlnClassName"] = list(classes)
    table.update(extra or {})
    if path.suffix.lower() == ".star":
        return write_star(path, {"particles": table})
    header = ["x", "y", "z"] + (["class"] if classes is not None else []) + list(extra or {})
    rows = [",".join(header)]
    values = list(table.values())
    for row in zip(*values):
        rows.append(",".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in row))
    return write_text_atomic(path, "\n".join(rows) + "\n")
