"""What a user looks at: contour overlays, the per-nucleus table (CSV), QuPath GeoJSON and label TIFFs."""
from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.utils import write_text_atomic

NUCLEUS_COLUMNS = ("id", "centroid_x", "centroid_y", "area", "perimeter", "eccentricity", "mean_haematoxylin",
                   "mean_eosin", "mean_red", "mean_green", "mean_blue")


def contour_overlay(rgb: np.ndarray, labels: np.ndarray, color: tuple[int, int, int] = (0, 255, 0),
                    truth: np.ndarray | None = None) -> np.ndarray:
    """RGB uint8 picture with predicted contours (green) and, when given, true contours (yellow)."""
    from skimage.segmentation import find_boundaries

    out = np.array(rgb[..., :3], dtype=np.uint8, copy=True)
    if truth is not None:
        out[find_boundaries(truth, mode="inner")] = (255, 255, 0)
    out[find_boundaries(labels, mode="inner")] = color
    return out


def nucleus_table(labels: np.ndarray, rgb: np.ndarray, offset: tuple[float, float] = (0.0, 0.0),
                  scale: float = 1.0, first_id: int = 1) -> list[dict[str, Any]]:
    """One row per nucleus: id, centroid (x, y in output pixels: ``(local + offset) * scale``), area and
    perimeter (in output pixels too: times ``scale`` squared and ``scale``), eccentricity, mean haematoxylin/eosin (Ruifrok-Johnston deconvolution,
    optical density) and mean R, G, B."""
    from skimage.color import rgb2hed
    from skimage.measure import regionprops

    if not np.any(labels):
        return []
    hed = rgb2hed(rgb[..., :3])
    rows = []
    lab = labels.astype(np.int64, copy=False)
    for k, region in enumerate(regionprops(lab), start=first_id):
        rr, cc = region.coords[:, 0], region.coords[:, 1]
        cy, cx = region.centroid
        colours = rgb[rr, cc, :3].astype(np.float64).mean(axis=0)
        rows.append({
            "id": k, "centroid_x": round((cx + offset[0]) * scale, 2), "centroid_y": round((cy + offset[1]) * scale, 2),
            "area": int(region.area) if scale == 1 else round(float(region.area) * scale ** 2, 2),
            "perimeter": round(float(region.perimeter) * scale, 2),
            "eccentricity": round(float(region.eccentricity), 4),
            "mean_haematoxylin": round(float(hed[rr, cc, 0].mean()), 5),
            "mean_eosin": round(float(hed[rr, cc, 1].mean()), 5),
            "mean_red": round(float(colours[0]), 2), "mean_green": round(float(colours[1]), 2),
            "mean_blue": round(float(colours[2]), 2), "_label": int(region.label),
        })
    return rows


def write_nucleus_csv(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(NUCLEUS_COLUMNS), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_text_atomic(path, buffer.getvalue())


def nucleus_annotations(labels: np.ndarray, rows: Sequence[dict[str, Any]], offset: tuple[float, float] = (0.0, 0.0),
                        scale: float = 1.0) -> list[Any]:
    """QuPath detections in output pixel coordinates, with measurements: one polygon per nucleus (the
    largest piece when a nucleus is in several)."""
    from biomedai.io.annotations import label_map_to_polygons

    by_label = {r["_label"]: r for r in rows}
    largest: dict[int, Any] = {}  # one polygon per nucleus: its largest piece
    for ann in label_map_to_polygons(labels.astype(np.int64, copy=False), object_type="detection"):
        key = ann.properties.get("instance_id")
        if key not in largest or _area(ann.coordinates) > _area(largest[key].coordinates):
            largest[key] = ann
    annotations = []
    for key, ann in sorted(largest.items()):
        row = by_label.get(key)
        if row is None:
            continue
        ann.coordinates = (ann.coordinates + np.asarray(offset)) * scale
        ann.label = "Nucleus"
        ann.color = (0, 200, 0)
        ann.properties = {"measurements": {k: row[k] for k in NUCLEUS_COLUMNS if k != "id"},
                          "nucleus_id": row["id"]}
        annotations.append(ann)
    return annotations


def _area(xy: np.ndarray) -> float:
    x, y = xy[:, 0], xy[:, 1]
    return abs(0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def metrics_table_html(rows: Sequence[dict[str, Any]], title: str, path: Path,
                       figures: Sequence[tuple[str, str]] = ()) -> Path:
    from biomedai.htmlpage import HtmlPage

    page = HtmlPage(title)
    page.table(rows)
    if figures:
        page.heading("Overlays (green: prediction, yellow: ground truth)").figures(figures)
    return page.write(path)
