"""``describe_file``: what a file is, for ``biomedai info`` (whole slides and videos are not read whole).

Example:
    >>> from pydicom.data import get_testdata_file
    >>> facts = describe_file(get_testdata_file("CT_small.dcm", download=False))
    >>> facts["format"], facts["shape"], facts["spacing_unit"]
    ('dicom', [128, 128], 'mm')
"""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

from biomedai.io.formats import detect_format

logger = logging.getLogger(__name__)

#: Metadata keys shown in the summary (the rest are counted, not listed).
SUMMARY_KEYS = 24


def describe_file(path: str | Path) -> dict[str, Any]:
    """A JSON-ready description: format, shape, dtype, spacing, unit and a metadata summary.

    Raises the same errors as the readers for missing, empty, corrupt or unsupported files.
    """
    path = Path(path)
    fmt = detect_format(path)
    facts: dict[str, Any] = {"path": str(path), "format": fmt,
                             "size_bytes": path.stat().st_size if path.is_file() else _dir_size(path)}
    if fmt == "video":
        from biomedai.io.video import video_info

        facts.update(video_info(path))
        facts["format"] = "video"
        facts["shape"] = [facts["n_frames"], facts["height"], facts["width"], 3]
        facts["dtype"] = "uint8"
        return facts
    if fmt in ("geojson", "labelme", "csv"):
        from biomedai.io.annotations import read_annotations

        annotations = read_annotations(path)
        facts["n_annotations"] = len(annotations)
        facts["geometries"] = dict(Counter(a.geometry for a in annotations))
        facts["labels"] = dict(Counter(a.label or "" for a in annotations).most_common(SUMMARY_KEYS))
        return facts
    if fmt == "wsi" or (fmt == "tiff" and _tiff_levels(path) > 1):
        return _describe_wsi(path, facts)
    from biomedai.io import read_image

    image = read_image(path)
    summary = image.summary()
    metadata = summary.pop("metadata")
    facts.update(summary)
    keys = list(metadata)
    facts["metadata"] = {k: metadata[k] for k in keys[:SUMMARY_KEYS]}
    if len(keys) > SUMMARY_KEYS:
        facts["metadata_more_keys"] = len(keys) - SUMMARY_KEYS
    return facts


def _describe_wsi(path: Path, facts: dict[str, Any]) -> dict[str, Any]:
    from biomedai.io.wsi import open_wsi

    with open_wsi(path) as slide:
        info = slide.info()
        width, height = slide.dimensions
    facts["format"] = "wsi"
    facts.update(info)
    facts["shape"] = [height, width, 3]
    facts["dtype"] = "uint8"
    facts["spacing"] = [info["mpp"][1], info["mpp"][0]] if info["mpp"] else None
    facts["spacing_unit"] = "um" if info["mpp"] else "pixel"
    return facts


def _tiff_levels(path: Path) -> int:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            return len(tif.series[0].levels) if tif.series else 0
    except Exception:  # noqa: BLE001 - the reader reports the problem properly
        return 0


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
