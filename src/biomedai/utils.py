"""Small helpers shared by every layer: atomic writes, hashing, logging set-up, progress bars."""
from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import json
import logging
import os
import sys
import tempfile
import types
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place only if the block succeeds.

    A crash half-way never leaves a truncated file where the old one was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON (numpy values converted) atomically."""
    return write_text_atomic(path, json.dumps(obj, indent=2, default=json_default) + "\n")


def json_default(value: Any) -> Any:
    """``json.dumps`` fallback for numpy scalars/arrays, paths and dataclasses."""
    import dataclasses

    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_path(path: str | Path) -> str:
    """SHA-256 of a file, or of a directory's files (names and contents, sorted)."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(item.relative_to(path)).encode())
        digest.update(sha256_file(item).encode())
    return digest.hexdigest()


def progress(iterable: Iterable[T], desc: str = "", total: int | None = None, disable: bool | None = None,
             **kwargs: Any) -> Iterable[T]:
    """The one progress bar helper (tqdm); hidden when output is not a terminal unless forced."""
    from tqdm.auto import tqdm

    if disable is None:
        disable = os.environ.get("BIOMEDAI_PROGRESS", "auto") == "off"
    return tqdm(iterable, desc=desc, total=total, disable=disable, leave=False, **kwargs)


def configure_logging(level: int | str = logging.INFO) -> None:
    """Configure the root ``biomedai`` logger once, for the CLI."""
    logger = logging.getLogger("biomedai")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
    logger.setLevel(level)


def write_csv_atomic(path: str | Path, rows: Iterable[dict[str, Any]], columns: list[str] | None = None,
                     float_format: str | None = None) -> Path:
    """Write dict rows as a CSV table atomically; columns default to every key in first-seen order.

    Example:
        >>> import tempfile
        >>> p = write_csv_atomic(Path(tempfile.mkdtemp()) / "t.csv", [{"a": 1, "b": 0.5}], float_format=".3g")
        >>> p.read_text().splitlines()
        ['a,b', '1,0.5']
    """
    import csv

    rows = list(rows)
    if columns is None:
        columns = []
        for row in rows:
            columns += [c for c in row if c not in columns]
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            if float_format:
                row = {k: (format(v, float_format) if isinstance(v, float) else v) for k, v in row.items()}
            writer.writerow(row)
    return Path(path)


def file_named_by_table(folder: str | Path, name: str | None, table: str | Path, column: str,
                        where: str = "the cohort folder", must_exist: bool = True) -> Path | None:
    """The file that a table's ``column`` names, relative to ``folder``; None for an empty name.

    A table never makes us read a file outside its own folder: a name that resolves (links included)
    outside ``folder`` raises :class:`~biomedai.errors.InvalidInputError` naming ``table``, and (with
    ``must_exist``) a missing file one naming the file.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp()); _ = (d / "a.txt").write_text("x")
        >>> file_named_by_table(d, "a.txt", d / "labels.csv", "file").name
        'a.txt'
        >>> file_named_by_table(d, "../etc/passwd", d / "labels.csv", "file")
        Traceback (most recent call last):
        biomedai.errors.InvalidInputError: ...: file '../etc/passwd' points outside the cohort folder
    """
    from biomedai.errors import InvalidInputError

    name = (name or "").strip()
    if not name:
        return None
    folder = Path(folder)
    path = (folder / name).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise InvalidInputError(f"{column} {name!r} points outside {where}", table)
    if must_exist and not path.exists():
        raise InvalidInputError(f"{column} file not found", path)
    return path


def plain_name(name: str, what: str, source: str | Path) -> str:
    """``name`` when it can be one file or folder name (an id used as a path), else one clear error.

    Example:
        >>> plain_name("P001", "patient_id", "clinical.csv")
        'P001'
        >>> plain_name("../P001", "patient_id", "clinical.csv")
        Traceback (most recent call last):
        biomedai.errors.InvalidInputError: ...: patient_id '../P001' cannot be a file name ...
    """
    from biomedai.errors import InvalidInputError

    if not name or name in (".", "..") or any(c in name for c in "/\\\0") or name != name.strip():
        raise InvalidInputError(f"{what} {name!r} cannot be a file name (no '/', '\\', '..' or outer spaces)",
                                source)
    return name


def read_csv_rows(path: str | Path, required: Iterable[str] = (),
                  max_bytes: int = 256 * 1024 * 1024) -> list[dict[str, str]]:
    """The rows of a CSV table as dicts of strings (header row first; a UTF-8 byte-order mark is dropped).

    A missing file, one over ``max_bytes``, text that is not UTF-8, a malformed CSV (a field
    over the csv module's limit) or a header without one of the ``required`` columns raises
    :class:`~biomedai.errors.InvalidInputError` naming the file.

    Example:
        >>> import tempfile
        >>> p = write_csv_atomic(Path(tempfile.mkdtemp()) / "t.csv", [{"a": 1, "b": 0.5}])
        >>> read_csv_rows(p, required=["a"])
        [{'a': '1', 'b': '0.5'}]
    """
    import csv

    from biomedai.errors import InvalidInputError

    path = Path(path)
    if not path.is_file():
        raise InvalidInputError("CSV file not found", path)
    size = path.stat().st_size
    if size > max_bytes:
        raise InvalidInputError(f"CSV file of {size / 2**20:.0f} MiB is over the {max_bytes / 2**20:.0f} MiB limit",
                                path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in required if c not in (reader.fieldnames or ())]
            if missing:
                raise InvalidInputError(f"CSV lacks the column(s) {', '.join(missing)}", path)
            return list(reader)
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"not UTF-8 text (byte {exc.start}); save the table as UTF-8 CSV", path) from None
    except csv.Error as exc:
        raise InvalidInputError(f"not a readable CSV: {exc}", path) from None


class LazyModule(types.ModuleType):
    """A stand-in for a module that is imported on first attribute access (see :func:`lazy_import`)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__dict__["_lazy_target"] = name

    def _load(self) -> types.ModuleType:
        return importlib.import_module(self.__dict__["_lazy_target"])

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._load(), attr)

    def __setattr__(self, attr: str, value: Any) -> None:
        setattr(self._load(), attr, value)

    def __dir__(self) -> list[str]:
        return dir(self._load())

    def __repr__(self) -> str:
        return f"<lazy module {self.__dict__['_lazy_target']!r}>"


def lazy_import(name: str, package: str | None = None) -> types.ModuleType:
    """The project's one way to import a heavy module lazily: a module-level name, imported on first use.

    Use it where an eager import would pull torch (or another heavy dependency) into ``biomedai list``
    or ``--help``, e.g. a method's ``pipeline.py`` reaching its network module. Every attribute access
    is forwarded to the real module, so monkeypatching the real module is seen through the proxy.

    Parameters
    ----------
    name : str
        Absolute module name, or relative (``".model"``) together with ``package``.
    package : str, optional
        The package a relative ``name`` is resolved against (pass ``__package__``).

    Returns
    -------
    types.ModuleType
        The module itself when it is already imported, else a proxy that imports it on first use.

    Examples
    --------
    >>> fractions = lazy_import("fractions")
    >>> fractions.Fraction(1, 3) * 3
    Fraction(1, 1)
    """
    absolute = importlib.util.resolve_name(name, package) if name.startswith(".") else name
    loaded = sys.modules.get(absolute)
    return loaded if loaded is not None else LazyModule(absolute)


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for a package whose public names load from submodules on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : dict of str to str
        Public name -> submodule (relative to ``package``) that defines it.

    Returns
    -------
    tuple of callables
        Assign them to the package's module-level ``__getattr__`` and ``__dir__`` (PEP 562).
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__


def read_mapping_file(path: str | Path, what: str = "settings") -> dict[str, Any]:
    """A JSON (``.json``) or YAML (anything else) file whose top level is a mapping.

    Raises ``InvalidInputError`` naming the file when it is missing, does not parse or is not a mapping.

    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "a.yaml"; _ = f.write_text("rows: 3")
    >>> read_mapping_file(f)
    {'rows': 3}
    """
    from .errors import InvalidInputError

    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{what} file not found", path)
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - any parser error becomes one clear message
        raise InvalidInputError(f"{what} file is not valid JSON/YAML ({exc})", path) from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"{what} file must hold a mapping", path)
    return data
