"""Resource limits every reader obeys, checked from the header before any pixel is allocated.

A file's header can promise anything: 65535 x 65535 pixels in 7.8 KB of RLE, a PNG of 100,000
rows in 4.9 KB, a gzip bomb. Readers call :func:`check_array_size` (and :func:`check_frames`)
with the shape the header declares *before* decoding, and refuse with
:class:`~biomedai.errors.InvalidInputError` naming the file and the limit. The limits are on by
default and can be changed for the process (:func:`set_default_limits`, or the environment
variables ``BIOMEDAI_MAX_PIXELS``, ``BIOMEDAI_MAX_BYTES``, ``BIOMEDAI_MAX_FRAMES``) or for one
block of code (:func:`read_limits`, a context manager local to the thread or task).

``allow_external_data`` governs detached headers (NRRD ``data file:``, MetaImage
``ElementDataFile``): by default they may only name data files inside the header's own folder.
It has no environment variable on purpose: only the command line's ``--allow-external-data``
turns it on, and the web service and its workers never do.

Example:
    >>> with read_limits(max_pixels=100):
    ...     check_array_size((20, 20), 1, "big.png")
    Traceback (most recent call last):
    ...
    biomedai.errors.InvalidInputError: big.png: image declares 400 values (shape 20 x 20), more than the limit of 100 (max_pixels; raise it with BIOMEDAI_MAX_PIXELS or read_limits(max_pixels=...))
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import logging
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from biomedai.errors import ConfigError, InvalidInputError

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ReadLimits:
    """What one read may cost.

    Attributes
    ----------
        max_pixels: array elements one image may hold (pixels x channels x frames/slices).
        max_bytes: bytes one decoded image (or one decompressed stream) may take in memory.
        max_frames: frames, pages, slices or data files one file may declare.
        sniff_bytes: bytes read from the start of a file to tell its format.
        allow_external_data: let detached headers read data files outside their own folder.
    """

    max_pixels: int = 1 << 30
    max_bytes: int = 4 << 30
    max_frames: int = 100_000
    sniff_bytes: int = 1 << 20
    allow_external_data: bool = False

    def __post_init__(self) -> None:
        for name in ("max_pixels", "max_bytes", "max_frames", "sniff_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"read limit {name} must be a positive integer, got {value!r}")


_ENV = {"max_pixels": "BIOMEDAI_MAX_PIXELS", "max_bytes": "BIOMEDAI_MAX_BYTES", "max_frames": "BIOMEDAI_MAX_FRAMES"}


def _from_environment() -> ReadLimits:
    changes = {}
    for name, variable in _ENV.items():
        text = os.environ.get(variable, "").strip()
        if text:
            try:
                changes[name] = int(float(text))
            except ValueError:
                raise ConfigError(f"{variable}={text!r} is not a number") from None
    return ReadLimits(**changes)


_default: ReadLimits | None = None
_override: contextvars.ContextVar[ReadLimits | None] = contextvars.ContextVar("biomedai_read_limits", default=None)


def current_limits() -> ReadLimits:
    """The limits in force here: the innermost :func:`read_limits` block, else the process default."""
    global _default
    override = _override.get()
    if override is not None:
        return override
    if _default is None:
        _default = _from_environment()
    return _default


def set_default_limits(**changes: int | bool) -> ReadLimits:
    """Change the process-wide limits (e.g. ``max_pixels=2**32``); returns the new limits."""
    global _default
    _default = dataclasses.replace(_default or _from_environment(), **changes)
    return _default


@contextlib.contextmanager
def read_limits(**changes: int | bool) -> Iterator[ReadLimits]:
    """Run a block under changed limits (local to the thread or asyncio task)."""
    token = _override.set(dataclasses.replace(current_limits(), **changes))
    try:
        yield _override.get()  # type: ignore[misc]
    finally:
        _override.reset(token)


def _hint(name: str) -> str:
    variable = _ENV.get(name)
    how = f"{variable} or read_limits({name}=...)" if variable else f"read_limits({name}=...)"
    return f"({name}; raise it with {how})"


def check_array_size(shape: Sequence[int], itemsize: int, path: str | Path | None, what: str = "image") -> int:
    """Refuse a declared array shape that is empty, negative or beyond the limits; returns its element count.

    Call it with the header's numbers before decoding anything.
    """
    dims = [int(n) for n in shape]
    shown = " x ".join(str(n) for n in dims)
    if not dims or any(n <= 0 for n in dims):
        raise InvalidInputError(f"{what} declares an empty or negative size (shape {shown or '()'})", path)
    limits = current_limits()
    count = math.prod(dims)
    if count > limits.max_pixels:
        raise InvalidInputError(f"{what} declares {count} values (shape {shown}), more than the limit of "
                                f"{limits.max_pixels} {_hint('max_pixels')}", path)
    size = count * max(1, int(itemsize))
    if size > limits.max_bytes:
        raise InvalidInputError(f"{what} would take {size} bytes in memory (shape {shown}), more than the limit "
                                f"of {limits.max_bytes} {_hint('max_bytes')}", path)
    return count


def check_frames(n: int, path: str | Path | None, what: str = "frames") -> None:
    """Refuse a declared number of frames/pages/slices/files beyond ``max_frames``."""
    limits = current_limits()
    if int(n) > limits.max_frames:
        raise InvalidInputError(f"file declares {int(n)} {what}, more than the limit of {limits.max_frames} "
                                f"{_hint('max_frames')}", path)


def check_decoded_bytes(n: int, path: str | Path | None, what: str = "decompressed data") -> None:
    """Refuse a stream once it has produced more than ``max_bytes`` bytes."""
    limits = current_limits()
    if int(n) > limits.max_bytes:
        raise InvalidInputError(f"{what} passes {limits.max_bytes} bytes {_hint('max_bytes')} "
                                "(a decompression bomb or a file too large to read whole)", path)
