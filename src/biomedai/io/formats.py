"""Which format a file is, from its first bytes (signature) and its suffix.

The signature wins; a suffix that promises another format is an error (a PNG named ``.dcm`` is
rejected rather than guessed at), and so is a suffix whose format has a signature the file lacks
(a text file named ``.png``).

Format names: ``png``, ``jpeg``, ``tiff``, ``gif``, ``bmp``, ``dicom``, ``dicom-series``, ``nifti``,
``nrrd``, ``metaimage``, ``mrc``, ``wsi``, ``video``, ``geojson``, ``labelme``, ``csv``.
"""
from __future__ import annotations

import gzip
import json
import struct
import zlib
from pathlib import Path

from biomedai.errors import InvalidInputError, UnsupportedFormatError
from biomedai.io._files import lower_suffix, read_head

SUFFIX_FORMATS: dict[str, str] = {
    ".png": "png",
    ".jpg": "jpeg", ".jpeg": "jpeg", ".jpe": "jpeg",
    ".tif": "tiff", ".tiff": "tiff", ".btf": "tiff", ".tf8": "tiff",
    ".gif": "gif", ".bmp": "bmp",
    ".dcm": "dicom", ".dicom": "dicom", ".ima": "dicom",
    ".nii": "nifti", ".nii.gz": "nifti", ".hdr": "nifti",
    ".nrrd": "nrrd", ".nhdr": "nrrd",
    ".mha": "metaimage", ".mhd": "metaimage",
    ".mrc": "mrc", ".map": "mrc", ".rec": "mrc", ".mrcs": "mrc", ".st": "mrc", ".ali": "mrc",
    ".svs": "wsi", ".ndpi": "wsi", ".scn": "wsi", ".bif": "wsi", ".mrxs": "wsi", ".vms": "wsi",
    ".vmu": "wsi", ".qptiff": "wsi",
    ".mp4": "video", ".m4v": "video", ".mov": "video", ".avi": "video", ".mkv": "video",
    ".webm": "video", ".mpg": "video", ".mpeg": "video", ".ogv": "video",
    ".geojson": "geojson", ".json": "json", ".csv": "csv",
}

#: Formats whose files always start with a recognisable signature.
SIGNED_FORMATS = {"png", "jpeg", "tiff", "gif", "bmp", "nrrd", "nifti"}

#: Formats :func:`biomedai.io.read_image` turns into an :class:`~biomedai.io.image.Image`.
IMAGE_FORMATS = {"png", "jpeg", "tiff", "gif", "bmp", "dicom", "dicom-series", "nifti", "nrrd", "metaimage",
                 "mrc", "wsi"}

_COMPATIBLE = {("tiff", "wsi"): "wsi"}  # (signature, suffix) pairs that agree


def format_from_signature(head: bytes, path: Path | None = None) -> str | None:
    """The format named by a file's first bytes, or None when they say nothing we know."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"  # first: the 128-byte preamble may itself hold a TIFF header (dual-personality files)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:2] == b"BM" and len(head) >= 26:
        return "bmp"
    if head.startswith(b"NRRD000"):
        return "nrrd"
    if _is_nifti_header(head):
        return "nifti"
    if head[:2] == b"\x1f\x8b" and path is not None:
        return "nifti" if _gzip_is_nifti(path) else None
    if len(head) >= 212 and head[208:211] == b"MAP":
        return "mrc"
    if len(head) >= 12 and (head[4:8] == b"ftyp" or (head[:4] == b"RIFF" and head[8:12] == b"AVI ")):
        return "video"
    if head[:4] in (b"\x1a\x45\xdf\xa3", b"OggS") or head[:4] == b"\x00\x00\x01\xba":
        return "video"
    if _is_metaimage_header(head):
        return "metaimage"
    return None


def _is_nifti_header(head: bytes) -> bool:
    if len(head) < 348:
        return False
    for endian in "<>":
        size = struct.unpack(endian + "i", head[:4])[0]
        if size == 348 and head[344:347] in (b"n+1", b"ni1"):
            return True
        if size == 540 and head[4:7] in (b"n+2", b"ni2"):
            return True
    return False


def _gzip_is_nifti(path: Path) -> bool:
    try:
        with gzip.open(path, "rb") as handle:
            return _is_nifti_header(handle.read(540))
    except (OSError, EOFError, zlib.error):  # zlib.error is not an OSError: a corrupt .nii.gz raised it
        return False


def _is_metaimage_header(head: bytes) -> bool:
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        text = head.split(b"\n\x00", 1)[0].decode("ascii", errors="replace")
    first = text.lstrip().split("=", 1)[0].strip()
    return first in {"ObjectType", "NDims", "Comment", "ObjectSubType", "TransformType", "DimSize"} and "=" in text


def _looks_like_dicom_without_preamble(head: bytes) -> bool:
    # Files written without the 128-byte preamble start with a group 0002 or 0008 tag (little or big endian).
    return head[:2] in (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08") and len(head) >= 8


#: Bytes of a preamble-less file that pydicom may parse (with ``force=True``) to decide whether it is DICOM.
DICOM_SNIFF_BYTES = 256 * 1024


def dicom_prefix_parses(path: Path, max_bytes: int = DICOM_SNIFF_BYTES) -> bool:
    """Last resort for files without preamble: a bounded prefix parses as a DICOM header with Rows and Columns.

    Only the first ``max_bytes`` (at most the ``sniff_bytes`` read limit) are given to pydicom, so
    300 MB of zeros named ``.dcm`` costs milliseconds, not minutes. A file starting with a zero tag
    (group 0000, which no stored DICOM object holds) is refused without parsing.
    """
    import io
    import warnings

    from biomedai.io.limits import current_limits

    head = read_head(path, min(max_bytes, current_limits().sniff_bytes))
    if len(head) < 8 or head[:4] == b"\x00\x00\x00\x00":
        return False
    try:
        import pydicom

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            header = pydicom.dcmread(io.BytesIO(head), stop_before_pixels=True, force=True)
            return "Rows" in header and "Columns" in header
    except Exception:  # noqa: BLE001 - anything pydicom cannot parse is not DICOM for us
        return False


def _parses_as_dicom_image(path: Path) -> bool:
    return dicom_prefix_parses(path)


def _json_kind(path: Path) -> str | None:
    from biomedai.io.limits import check_decoded_bytes

    check_decoded_bytes(path.stat().st_size, path, "JSON file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if isinstance(data, dict) and "shapes" in data:
        return "labelme"
    if isinstance(data, dict) and data.get("type") in ("FeatureCollection", "Feature"):
        return "geojson"
    if isinstance(data, list) and all(isinstance(f, dict) and f.get("type") == "Feature" for f in data):
        return "geojson"
    return None


def is_dicom_directory(path: Path) -> bool:
    """True when a directory holds at least one file that starts like DICOM."""
    for item in sorted(path.iterdir()):
        if item.is_file() and not item.name.startswith("."):
            head = read_head(item, 132)
            if head[128:132] == b"DICM" or (item.suffix.lower() in (".dcm", ".ima")
                                             and _looks_like_dicom_without_preamble(head)):
                return True
    return False


def detect_format(path: str | Path) -> str:
    """Name the format of ``path`` (see the module docstring for the names).

    Raises InvalidInputError for missing, empty or mislabelled files and UnsupportedFormatError when
    neither the signature nor the suffix is one we know.

    Example:
        >>> import tempfile, numpy as np
        >>> from PIL import Image as PILImage
        >>> p = Path(tempfile.mkdtemp()) / "a.png"; PILImage.fromarray(np.zeros((2, 2), np.uint8)).save(p)
        >>> detect_format(p)
        'png'
    """
    path = Path(path)
    if not path.exists():
        raise InvalidInputError("file does not exist", path)
    if path.is_dir():
        if is_dicom_directory(path):
            return "dicom-series"
        raise UnsupportedFormatError("directory holds no DICOM files (the only folder format read)", path)
    if path.stat().st_size == 0:
        raise InvalidInputError("file is empty (0 bytes)", path)
    head = read_head(path, 1024)
    suffix = lower_suffix(path)
    by_suffix = SUFFIX_FORMATS.get(suffix)
    by_signature = format_from_signature(head, path)

    if by_suffix == "json":
        kind = _json_kind(path)
        if kind is None:
            raise UnsupportedFormatError("JSON file is neither GeoJSON nor Labelme annotations", path)
        return kind
    if by_suffix in ("geojson", "csv"):
        if by_signature is not None:
            raise InvalidInputError(f"content is {by_signature.upper()} but the suffix {suffix} says "
                                    f"{by_suffix}", path)
        return by_suffix
    if by_signature is not None:
        if by_suffix is None or by_suffix == by_signature:
            return by_signature
        if (by_signature, by_suffix) in _COMPATIBLE:
            return _COMPATIBLE[(by_signature, by_suffix)]
        if by_signature == "tiff" and by_suffix == "video":
            return "video"  # some containers are not worth distinguishing further
        raise InvalidInputError(f"content is {by_signature.upper()} but the suffix {suffix} says "
                                f"{by_suffix.upper()}; rename the file or check how it was made", path)
    if by_suffix is None:
        raise UnsupportedFormatError(
            f"unknown format: suffix {suffix or '(none)'!r} and first bytes {head[:8]!r} match no reader", path)
    if by_suffix == "dicom":
        if _looks_like_dicom_without_preamble(head) or _parses_as_dicom_image(path):
            return "dicom"
        raise InvalidInputError("not a DICOM file: no 'DICM' marker at byte 128 and no DICOM tag at the start",
                                path)
    if by_suffix in SIGNED_FORMATS or by_suffix == "wsi" and suffix in (".svs", ".ndpi", ".scn", ".bif",
                                                                        ".qptiff"):
        raise InvalidInputError(f"not a {by_suffix.upper()} file: its first bytes {head[:8]!r} are not the "
                                f"{by_suffix.upper()} signature (corrupt or another format renamed)", path)
    if by_suffix == "metaimage":
        raise InvalidInputError("not a MetaImage file: the header does not start with MetaImage keys", path)
    return by_suffix  # mrc (old files lack the MAP id), video containers, .mrxs: the reader decides
