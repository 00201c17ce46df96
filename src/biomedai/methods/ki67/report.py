"""What a user looks at: three-value colour maps, cell overlays, heat maps, CSV tables and QuPath GeoJSON."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.utils import write_text_atomic

from .config import CLASS_COLOURS
from .ihc import CellTable

POSITIVE_OUTLINE = (255, 40, 0)
NEGATIVE_OUTLINE = (0, 200, 255)
#: QuPath's built-in class names and colours for positive cell detection
QUPATH_CLASSES = {True: ("Positive", (200, 50, 50)), False: ("Negative", (112, 112, 225))}


def class_map_to_rgb(class_map: np.ndarray) -> np.ndarray:
    """The paper's three-value colour map: positive brown, negative blue, background white."""
    palette = np.asarray(CLASS_COLOURS, np.uint8)
    return palette[np.asarray(class_map, np.intp)]


def upsample_map(class_map: np.ndarray, shape: tuple[int, int], stride: int, patch: int) -> np.ndarray:
    """Paint each FCN map position over the centre ``stride x stride`` block of its window."""
    out = np.full(shape, 2, np.uint8)
    offset = (patch - stride) // 2
    rows, cols = class_map.shape
    block = np.repeat(np.repeat(class_map, stride, 0), stride, 1)
    h, w = min(shape[0] - offset, rows * stride), min(shape[1] - offset, cols * stride)
    out[offset:offset + h, offset:offset + w] = block[:h, :w]
    return out


def cell_overlay(rgb: np.ndarray, labels: np.ndarray, cells: CellTable) -> np.ndarray:
    """Nucleus outlines over the image: positive red-orange, negative cyan."""
    from skimage.segmentation import find_boundaries

    out = rgb.copy()
    if len(cells) == 0:
        return out
    lookup = np.zeros(int(labels.max()) + 1, np.int8)
    lookup[cells.ids] = np.where(cells.positive, 1, -1)
    edges = find_boundaries(labels, mode="inner")
    kind = lookup[labels]
    out[edges & (kind == 1)] = POSITIVE_OUTLINE
    out[edges & (kind == -1)] = NEGATIVE_OUTLINE
    return out


def heatmap_rgb(values: np.ndarray) -> np.ndarray:
    """A 0..1 map as an RGB heat map (matplotlib's 'inferno'); NaN shows black."""
    from matplotlib import colormaps

    rgba = colormaps["inferno"](np.clip(np.nan_to_num(values, nan=0.0), 0, 1))
    return (rgba[..., :3] * 255).round().astype(np.uint8)


def rows_to_csv(rows: Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    """Write dict rows as CSV (columns from the first row), atomically."""
    rows = list(rows)
    buffer = io.StringIO()
    fields = list(rows[0]) if rows else ["empty"]
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return write_text_atomic(path, buffer.getvalue())


def cells_geojson(labels: np.ndarray, cells: CellTable, path: str | Path) -> Path:
    """QuPath detections, one polygon per nucleus, classified Positive/Negative, with mean DAB OD."""
    from biomedai.io.annotations import label_map_to_polygons, write_geojson

    by_id = {int(i): (bool(p), float(d)) for i, p, d in zip(cells.ids, cells.positive, cells.mean_dab)}
    shapes = label_map_to_polygons(labels, object_type="detection")
    for shape in shapes:
        positive, dab = by_id.get(shape.properties["instance_id"], (False, 0.0))
        shape.label, shape.color = QUPATH_CLASSES[positive]
        shape.properties["measurements"] = {"DAB: Nucleus: Mean (rgb2hed OD)": round(dab, 5)}
    return write_geojson(shapes, path)
