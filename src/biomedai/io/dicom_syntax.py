"""DICOM transfer syntaxes: what can be decoded and written here, transcoding and frame extraction.

Native syntaxes (Explicit/Implicit VR Little Endian, Deflated Explicit VR Little Endian) are written
by pydicom itself; compressed pixel data are decoded and encoded by pydicom's pixel plugins: RLE
Lossless natively, JPEG 2000 through ``pylibjpeg`` + ``pylibjpeg-openjpeg`` (MIT, OpenJPEG BSD-2),
JPEG baseline through Pillow, JPEG-LS when ``pyjpegls`` is installed. Only *lossless* targets are
offered for encoding, so transcoding never loses information that the stored instance has.

Example:
    >>> from pydicom.data import get_testdata_file
    >>> import pydicom
    >>> ds = pydicom.dcmread(get_testdata_file("MR_small.dcm", download=False))
    >>> rle = pydicom.dcmread(__import__("io").BytesIO(transcode(ds, RLE_LOSSLESS)))
    >>> str(rle.file_meta.TransferSyntaxUID) == RLE_LOSSLESS, bool((rle.pixel_array == ds.pixel_array).all())
    (True, True)
"""
from __future__ import annotations

import copy
import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import UnsupportedFormatError

logger = logging.getLogger(__name__)

__all__ = [
    "DEFLATED_LE",
    "EXPLICIT_LE",
    "IMPLICIT_LE",
    "JPEG2000_LOSSLESS",
    "NATIVE",
    "RLE_LOSSLESS",
    "can_decode",
    "can_encode",
    "frames",
    "transcode",
    "writable_syntaxes",
]

EXPLICIT_LE, IMPLICIT_LE, DEFLATED_LE = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.1.99"
RLE_LOSSLESS, JPEG2000_LOSSLESS, JPEGLS_LOSSLESS = "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.90", \
    "1.2.840.10008.1.2.4.80"
#: pixel data stored uncompressed (little endian): written by pydicom itself
NATIVE = (EXPLICIT_LE, IMPLICIT_LE, DEFLATED_LE)
#: compressed syntaxes offered as transcoding targets: lossless ones only
LOSSLESS_TARGETS = (RLE_LOSSLESS, JPEG2000_LOSSLESS, JPEGLS_LOSSLESS)


def can_decode(syntax: str) -> bool:
    """Whether pixel data in ``syntax`` can be decoded here (native: always)."""
    if syntax in NATIVE:
        return True
    from pydicom.pixels import get_decoder

    try:
        return bool(get_decoder(syntax).is_available)
    except (NotImplementedError, ValueError):
        return False


def can_encode(syntax: str) -> bool:
    """Whether pixel data can be written in ``syntax`` here (native, or a lossless target with its encoder)."""
    if syntax in NATIVE:
        return True
    if syntax not in LOSSLESS_TARGETS:
        return False
    from pydicom.pixels import get_encoder

    try:
        return bool(get_encoder(syntax).is_available)
    except (NotImplementedError, ValueError):
        return False


def writable_syntaxes() -> list[str]:
    """Every syntax :func:`transcode` can write here."""
    return [s for s in NATIVE + LOSSLESS_TARGETS if can_encode(s)]


def _dataset(source: Any) -> Any:
    import pydicom

    if isinstance(source, (str, Path)):
        return pydicom.dcmread(source)
    return copy.deepcopy(source)


def _stored(ds: Any) -> str:
    meta = getattr(ds, "file_meta", None)
    return str(getattr(meta, "TransferSyntaxUID", "") or EXPLICIT_LE)


def _recode(ds: Any, syntax: str, where: str) -> Any:
    """``ds`` (a copy, changed in place) with its pixel data in ``syntax``; UnsupportedFormatError when not here."""
    stored = _stored(ds)
    if syntax == stored:
        return ds
    if not can_encode(syntax):
        raise UnsupportedFormatError(f"cannot write transfer syntax {syntax} here (writable: "
                                     f"{', '.join(writable_syntaxes())})", where)
    has_pixels = "PixelData" in ds
    if has_pixels and stored not in NATIVE:
        if not can_decode(stored):
            raise UnsupportedFormatError(f"pixel data in {stored} cannot be decoded here (install pylibjpeg and "
                                         "pylibjpeg-openjpeg for JPEG 2000)", where)
        try:
            ds.decompress()
        except Exception as exc:  # noqa: BLE001 - a decoder's own error, said in one line
            raise UnsupportedFormatError(f"pixel data in {stored} could not be decoded ({exc})", where) from None
    if has_pixels and syntax not in NATIVE:
        try:
            ds.compress(syntax)
        except Exception as exc:  # noqa: BLE001 - e.g. a bit depth the encoder does not take
            raise UnsupportedFormatError(f"pixel data cannot be encoded as {syntax} ({exc})", where) from None
    ds.file_meta.TransferSyntaxUID = syntax
    return ds


def transcode(source: Any, syntax: str, where: str = "DICOM instance") -> bytes:
    """A Part 10 file (bytes) of ``source`` (a path or a dataset, not changed) in transfer syntax ``syntax``.

    Compressed pixel data are decoded, and re-encoded when ``syntax`` is a compressed one; lossy
    stored data keep their Lossy Image Compression attributes. Raises UnsupportedFormatError when
    the stored syntax cannot be decoded or ``syntax`` cannot be written here.
    """
    ds = _recode(_dataset(source), syntax, where)
    out = io.BytesIO()
    if syntax in NATIVE:
        ds.save_as(out, implicit_vr=syntax == IMPLICIT_LE, little_endian=True, enforce_file_format=True)
    else:
        ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _native_frames(ds: Any, numbers: Sequence[int], count: int, where: str) -> list[bytes]:
    bits = int(ds.BitsAllocated)
    stored = _stored(ds)
    if stored in NATIVE and bits % 8 == 0:
        size = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1)) * bits // 8
        data = ds.PixelData
        return [bytes(data[(n - 1) * size:n * size]) for n in numbers]
    if not can_decode(stored):
        raise UnsupportedFormatError(f"frames stored as {stored} cannot be decoded here", where)
    try:
        array = ds.pixel_array
    except Exception as exc:  # noqa: BLE001 - a decoder's own error, said in one line
        raise UnsupportedFormatError(f"frames stored as {stored} could not be decoded ({exc})", where) from None
    array = array.reshape((count,) + array.shape[-(3 if int(ds.get("SamplesPerPixel", 1)) > 1 else 2):])
    if bits == 1:
        return [np.packbits(array[n - 1].astype(np.uint8).ravel(), bitorder="little").tobytes() for n in numbers]
    return [np.ascontiguousarray(array[n - 1]).astype(array.dtype.newbyteorder("<")).tobytes() for n in numbers]


def frames(source: Any, numbers: Sequence[int], syntax: str = EXPLICIT_LE, where: str = "DICOM instance"
           ) -> list[bytes]:
    """The frames ``numbers`` (from 1, all within the instance) of ``source`` in ``syntax``.

    A native ``syntax`` gives the decoded little-endian pixels of each frame; a compressed one gives
    each frame's encoded bytes (as stored, or after transcoding). IndexError names a frame the
    instance does not have; UnsupportedFormatError a syntax that cannot be read or written here.
    """
    from pydicom.encaps import get_frame

    ds = _dataset(source) if isinstance(source, (str, Path)) else source
    if "PixelData" not in ds:
        raise UnsupportedFormatError("the instance has no pixel data (no frames)", where)
    count = int(ds.get("NumberOfFrames", 1) or 1)
    bad = [n for n in numbers if n < 1 or n > count]
    if bad:
        raise IndexError(f"no frame {bad[0]}: the instance has {count} frame(s)")
    if syntax in NATIVE:
        return _native_frames(ds, numbers, count, where)
    if syntax != _stored(ds):
        ds = _recode(copy.deepcopy(ds), syntax, where)
    return [bytes(get_frame(ds.PixelData, n - 1, number_of_frames=count)) for n in numbers]
