"""Shared checks for readers and writers: the file exists and is not empty, third-party errors become ours."""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import BiomedaiError, InvalidInputError, UnsupportedFormatError

logger = logging.getLogger(__name__)


def existing_file(path: str | Path) -> Path:
    """Return ``path`` as a :class:`Path` if it is a non-empty regular file, else raise InvalidInputError."""
    path = Path(path)
    if not path.exists():
        raise InvalidInputError("file does not exist", path)
    if path.is_dir():
        raise InvalidInputError("is a directory, not a file", path)
    if path.stat().st_size == 0:
        raise InvalidInputError("file is empty (0 bytes)", path)
    return path


def read_head(path: Path, n: int = 512) -> bytes:
    """The first ``n`` bytes of a file (fewer if the file is shorter)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(n)
    except OSError as exc:
        raise InvalidInputError(f"cannot open file: {exc.strerror or exc}", path) from exc


@contextlib.contextmanager
def reading(path: Path, what: str) -> Iterator[None]:
    """Turn any third-party exception raised inside the block into ``InvalidInputError`` naming ``path``.

    Our own errors pass through unchanged; ``MemoryError`` is not hidden.
    """
    try:
        yield
    except BiomedaiError:
        raise
    except MemoryError as exc:
        if not isinstance(exc, OSError) and type(exc).__module__.split(".")[0] != "av":
            raise  # a real allocation failure: not hidden
        # a library's own ENOMEM refusal (FFmpeg's allocation cap on an absurd header field)
        raise InvalidInputError(f"not a readable {what} file: its decoder refused to allocate what the "
                                f"header asks for ({_short_message(exc, path)})", path) from exc
    except Exception as exc:  # noqa: BLE001 - third-party libraries raise anything
        message = _short_message(exc, path)
        raise InvalidInputError(f"not a readable {what} file (corrupt, truncated or wrong type): {message}",
                                path) from exc


@contextlib.contextmanager
def writing(path: Path, what: str) -> Iterator[None]:
    """Like :func:`reading` for writers: third-party errors become ``InvalidInputError`` naming ``path``."""
    try:
        yield
    except (BiomedaiError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001
        message = _short_message(exc, path)
        raise InvalidInputError(f"cannot write {what}: {message}", path) from exc


#: Set by the command line (without ``-v``): C++ libraries' own stderr lines (ITK's MetaIO) are captured
#: during a read and logged at debug level, so that a refusal stays one line. Off in servers.
CAPTURE_NATIVE_STDERR = False


@contextlib.contextmanager
def native_stderr_captured() -> Iterator[None]:
    """Send file descriptor 2 to a temporary file for the block (when :data:`CAPTURE_NATIVE_STDERR` is on)."""
    if not CAPTURE_NATIVE_STDERR:
        yield
        return
    import os
    import sys
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace").strip()
            if text:
                logger.debug("native library output: %s", text)


def _short_message(exc: BaseException, path: Path) -> str:
    """First line of a third-party message, without repeating the full path we already name."""
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    chosen = next((line for line in lines if "ERROR:" in line), lines[0])  # SimpleITK puts the reason there
    return chosen.replace(str(path), path.name)


def as_image(image: Any) -> Any:
    """Accept an :class:`~biomedai.io.image.Image` or a bare array (wrapped with unit spacing)."""
    from biomedai.io.image import Image

    if isinstance(image, Image):
        return image
    if isinstance(image, np.ndarray):
        return Image(image)
    raise InvalidInputError(f"expected a biomedai Image or a numpy array, got {type(image).__name__}")


def check_writable(image: Any, path: Path) -> None:
    """Reject arrays no file should hold: zero-size, all-NaN, object or complex dtypes."""
    array = image.array
    if array.size == 0:
        raise InvalidInputError(f"cannot write an empty array (shape {array.shape})", path)
    if array.dtype.kind not in "biuf":
        raise InvalidInputError(f"cannot write arrays of dtype {array.dtype}; use bool, integer or float",
                                path)
    if array.dtype.kind == "f" and not np.isfinite(array).any():
        raise InvalidInputError("cannot write an array with no finite value (all NaN/inf)", path)


def check_pixels(array: np.ndarray, path: Path) -> np.ndarray:
    """Refuse what a reader decoded but no method can use: no values at all, or no finite value."""
    if array.size == 0:
        raise InvalidInputError(f"image is empty (shape {tuple(array.shape)})", path)
    if array.dtype.kind in "fc" and not np.isfinite(array).any():
        raise InvalidInputError("image holds no finite value (all NaN or infinity)", path)
    return array


def check_gzip_complete(path: Path, offset: int = 0) -> None:
    """Refuse a gzip stream (from ``offset``) that is cut short or corrupt.

    Readers of ``.nii.gz`` read only as many bytes as the header asks for, so a lost trailer (a
    file truncated by one byte) went unnoticed. The stream is inflated once to its end in 4 MB
    pieces that are counted, not kept (bounded by the ``max_bytes`` read limit); zlib checks the
    trailer's CRC.
    """
    import zlib

    from biomedai.io.limits import check_decoded_bytes

    size = path.stat().st_size
    with open(path, "rb") as handle:
        handle.seek(offset)
        inflater, produced = zlib.decompressobj(31), 0
        try:
            while not inflater.eof:
                block = inflater.unconsumed_tail or handle.read(1 << 20)
                if not block:
                    break
                produced += len(inflater.decompress(block, 1 << 22))
                check_decoded_bytes(produced, path, "gzip data")
        except zlib.error as exc:
            raise InvalidInputError(f"gzip data are corrupt ({exc})", path) from None
    if not inflater.eof:
        raise InvalidInputError(f"gzip data are truncated (the stream ends before its end marker; {size} bytes)",
                                path)


def lower_suffix(path: Path) -> str:
    """The suffix in lower case, with ``.nii.gz`` kept whole."""
    name = path.name.lower()
    if name.endswith(".nii.gz"):
        return ".nii.gz"
    return path.suffix.lower()


def unsupported_suffix(path: Path, allowed: list[str], what: str) -> UnsupportedFormatError:
    return UnsupportedFormatError(
        f"cannot write {what} with suffix {lower_suffix(path) or '(none)'!r}; use one of {', '.join(allowed)}",
        path)
