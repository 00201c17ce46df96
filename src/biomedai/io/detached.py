r"""Detached headers: the data files a NRRD or MetaImage header names, kept inside the header's folder.

A NRRD ``data file:`` field or a MetaImage ``ElementDataFile`` line may name any file, a list of
files (``LIST``) or a numbered pattern (``slice%03d.raw 1 40 1``). Left alone, SimpleITK reads
whatever they name as pixels: ``/srv/biomedai/biomedai-workflow.db`` or ``../../secret.key``
come back as an image. :func:`check_detached_data_files` reads the header text itself (a bounded
prefix, never the pixels) and refuses, before SimpleITK opens anything, every named file whose
real path (symlinks followed) is not inside the header's own folder, unless the limits allow
external data (the command line's ``--allow-external-data``; never the web service).

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.mhd").write_text("NDims = 2\nDimSize = 2 2\nElementType = MET_UCHAR\n"
    ...                                   "ElementDataFile = /etc/hostname\n")
    >>> check_detached_data_files(folder / "a.mhd", "metaimage")
    Traceback (most recent call last):
    ...
    biomedai.errors.InvalidInputError: ...: header names the data file '/etc/hostname', which is outside the header's folder; ...
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from biomedai.errors import InvalidInputError
from biomedai.io.limits import check_frames, current_limits

logger = logging.getLogger(__name__)

#: Bytes of a header read to find its data file references (a LIST of names must fit).
MAX_HEADER_BYTES = 4 << 20


def data_file_references(path: Path, fmt: str) -> list[str]:
    """Every file name the header of ``path`` points at (patterns expanded); [] for attached data."""
    with open(path, "rb") as handle:
        raw = handle.read(MAX_HEADER_BYTES + 1)
    if fmt == "nrrd":
        return _nrrd_references(raw, path)
    return _metaimage_references(raw, path)


def _lines(raw: bytes) -> list[str]:
    return raw.decode("latin-1").splitlines()


def _metaimage_references(raw: bytes, path: Path) -> list[str]:
    lines = _lines(raw)
    for index, line in enumerate(lines):
        key, sep, value = line.partition("=")
        if not sep or key.strip().lower() != "elementdatafile":
            continue
        value = value.strip()
        if value.upper() == "LOCAL":
            return []
        if value.upper().startswith("LIST"):
            rest = "\n".join(lines[index + 1:])
            _require_complete(raw, path)
            return rest.split()
        return _with_pattern(value, path)
    return []


def _nrrd_references(raw: bytes, path: Path) -> list[str]:
    lines = _lines(raw)
    for index, line in enumerate(lines[1:], start=1):
        if not line.strip():
            return []  # the blank line ends the header: attached data
        if line.startswith("#") or ":=" in line:
            continue
        key, sep, value = line.partition(":")
        if not sep or key.strip().lower() not in ("data file", "datafile"):
            continue
        value = value.strip()
        if value.upper().startswith("LIST"):
            _require_complete(raw, path)
            return [name.strip() for name in lines[index + 1:] if name.strip()]
        return _with_pattern(value, path)
    return []


def _require_complete(raw: bytes, path: Path) -> None:
    if len(raw) > MAX_HEADER_BYTES:
        raise InvalidInputError(f"detached header with a LIST of data files is longer than {MAX_HEADER_BYTES} "
                                "bytes", path)


def _with_pattern(value: str, path: Path) -> list[str]:
    """The name itself, each of its words, and the files a ``pattern min max step`` names."""
    names = [value, *value.split()]
    words = value.split()
    if len(words) >= 4 and "%" in words[0]:
        try:
            first, last, step = int(words[1]), int(words[2]), int(words[3])
        except ValueError:
            raise InvalidInputError(f"data file pattern {value!r} needs integer min, max and step", path) from None
        if step == 0 or (last - first) * step < 0:
            raise InvalidInputError(f"data file pattern {value!r} has an impossible min/max/step", path)
        count = (last - first) // step + 1
        check_frames(count, path, "data files")
        try:
            names += [words[0] % number for number in range(first, last + (1 if step > 0 else -1), step)]
        except (TypeError, ValueError, OverflowError):
            raise InvalidInputError(f"data file pattern {words[0]!r} is not a printf-style number pattern",
                                    path) from None
    return names


def check_detached_data_files(path: str | Path, fmt: str) -> list[Path]:
    """Refuse a header naming data files outside its own folder; returns the (inside) files it names.

    ``fmt`` is ``"nrrd"`` or ``"metaimage"``. Absolute names, ``..`` and symbolic links that lead
    out of the folder are all refused unless :func:`~biomedai.io.limits.current_limits` allows
    external data.
    """
    path = Path(path)
    references = data_file_references(path, fmt)
    if not references:
        return []
    folder = Path(os.path.abspath(path)).parent
    real_folder = folder.resolve()
    allowed = current_limits().allow_external_data
    inside: list[Path] = []
    for name in dict.fromkeys(references):
        if "\x00" in name:
            raise InvalidInputError("header names a data file with a NUL character", path)
        target = (folder / name).resolve()
        if target == real_folder or real_folder in target.parents:
            inside.append(target)
            continue
        if allowed:
            logger.warning("%s: reading the data file %s outside the header's folder (allowed by "
                           "--allow-external-data)", path, target)
            continue
        raise InvalidInputError(
            f"header names the data file {name!r}, which is outside the header's folder; detached headers "
            "may only read data files next to them (on the command line, --allow-external-data permits "
            "others for files you trust)", path)
    return inside
