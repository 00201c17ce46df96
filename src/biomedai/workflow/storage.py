"""Path-traversal-proof file storage under one root folder.

Every name that comes from outside (an upload's file name, a zip member, a URL path) goes
through :func:`safe_relative_path` before it touches the disk: absolute paths, drive letters,
backslashes, ``..`` components, NUL and control characters are refused with
:class:`~biomedai.errors.InvalidInputError`; :meth:`FileStorage.resolve` then checks that the
resolved path (symlinks followed) stays inside the root.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from ..errors import InvalidInputError

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._+-]")


def safe_relative_path(name: str) -> PurePosixPath:
    """``name`` as a relative POSIX path with no way out of its folder, or InvalidInputError.

    Example:
        >>> str(safe_relative_path("series/1.dcm"))
        'series/1.dcm'
        >>> safe_relative_path("../etc/passwd")
        Traceback (most recent call last):
        ...
        biomedai.errors.InvalidInputError: '../etc/passwd': path leaves its folder ('..' component)
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError("empty file name")
    shown = repr(name)
    if _CONTROL.search(name):
        raise InvalidInputError(f"{shown}: control characters in a file name")
    if "\\" in name:
        raise InvalidInputError(f"{shown}: backslashes are not allowed in file names")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or name.startswith("~"):
        raise InvalidInputError(f"{shown}: absolute paths are not allowed")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise InvalidInputError(f"{shown}: path leaves its folder ('..' component)")
    if not parts:
        raise InvalidInputError(f"{shown}: no file name")
    return PurePosixPath(*parts)


def safe_file_name(name: str) -> str:
    """A plain file name for storage: the last component of a checked name, odd characters replaced."""
    last = safe_relative_path(name).name
    cleaned = _UNSAFE_CHARS.sub("_", last).lstrip(".") or "file"
    return cleaned[:120]


def sha256_bytes_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


class FileStorage:
    """Files kept under ``root``; every path handed out or accepted is relative and checked."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def resolve(self, relative: str | PurePosixPath) -> Path:
        """The absolute path of a stored relative path; refuses anything outside the root."""
        rel = safe_relative_path(str(relative))
        path = (self.root / Path(*rel.parts)).resolve()
        if path != self.root and self.root not in path.parents:
            raise InvalidInputError(f"{str(relative)!r}: resolves outside the storage folder")
        return path

    def relative(self, path: Path) -> str:
        """A path under the root as the relative string stored in the database."""
        return Path(path).resolve().relative_to(self.root).as_posix()

    def put_file(self, source: Path, relative: str, move: bool = False) -> Path:
        """Copy (or move) ``source`` to ``relative`` atomically; returns the stored path."""
        target = self.resolve(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".incoming-", dir=target.parent)
        os.close(fd)
        try:
            if move:
                shutil.move(str(source), tmp)
            else:
                shutil.copyfile(source, tmp)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return target

    def remove_tree(self, relative: str) -> None:
        path = self.resolve(relative)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink()

    def files_under(self, relative: str) -> Iterable[str]:
        base = self.resolve(relative)
        for path in sorted(base.rglob("*")):
            if path.is_file() and not path.is_symlink():
                yield self.relative(path)
