"""Polyline annotations (the paper's vessel tracings): JSON, import from a binary mask, lengths, and the
overlapping square boxes generated along each polyline (the detector's training boxes, spec 4.3/4.8).

JSON layout (``biomedai-vessel-polylines`` version 1)::

    {"format": "biomedai-vessel-polylines", "version": 1, "image": "01_test.png", "image_size": [584, 565],
     "pixel_size_um": null, "polylines": [{"class": "vessel", "points": [[x0, y0], [x1, y1], ...]}, ...]}

Points are (x, y) in pixels. Classes other than ``vessel`` (``out_of_plane``, ``debris``) are kept in the
file but never counted in the length (spec 4.9, gap 4).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.utils import write_json_atomic

from .measures import skeleton_of

FORMAT = "biomedai-vessel-polylines"
CLASSES = ("vessel", "out_of_plane", "debris")


@dataclass
class Polyline:
    """One traced vessel: points as an ``(n, 2)`` array of (x, y) pixels."""

    points: np.ndarray
    label: str = "vessel"

    @property
    def length(self) -> float:
        p = np.asarray(self.points, float)
        return float(np.hypot(*np.diff(p, axis=0).T).sum()) if len(p) > 1 else 0.0


@dataclass
class PolylineSet:
    """The polylines of one image."""

    image: str
    image_size: tuple[int, int]
    polylines: list[Polyline] = field(default_factory=list)
    pixel_size_um: float | None = None

    def vessel_length_px(self) -> float:
        return float(sum(p.length for p in self.polylines if p.label == "vessel"))

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": 1, "image": self.image, "image_size": list(self.image_size),
                "pixel_size_um": self.pixel_size_um,
                "polylines": [{"class": p.label, "points": np.round(np.asarray(p.points, float), 2).tolist()}
                              for p in self.polylines]}


def write_polylines(polylines: PolylineSet, path: Path | str) -> Path:
    return write_json_atomic(Path(path), polylines.to_dict())


def read_polylines(path: Path | str) -> PolylineSet:
    """Read and check a polyline JSON file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"unreadable polyline JSON ({exc})", path) from None
    return polylines_from_dict(data, path)


def polylines_from_dict(data: Any, source: Path | str) -> PolylineSet:
    """Check parsed polyline JSON (from a file or an upload named ``source``) and build the set."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidInputError(f"not a {FORMAT} file", source)
    size = data.get("image_size")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
        raise InvalidInputError("image_size must be [height, width] in pixels", source)
    items = data.get("polylines", [])
    if not isinstance(items, list):
        raise InvalidInputError("polylines must be a list", source)
    lines = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidInputError(f"polyline {i}: not an object", source)
        label = item.get("class", "vessel")
        if label not in CLASSES:
            raise InvalidInputError(f"polyline {i}: class {label!r} is not one of {CLASSES}", source)
        try:
            pts = np.asarray(item.get("points", []), float)
        except (TypeError, ValueError):
            raise InvalidInputError(f"polyline {i}: points must be a list of [x, y] pairs", source) from None
        if pts.ndim != 2 or pts.shape[1] != 2 or not np.all(np.isfinite(pts)):
            raise InvalidInputError(f"polyline {i}: points must be a list of [x, y] pairs", source)
        lines.append(Polyline(pts, label))
    pixel = data.get("pixel_size_um")
    if pixel is not None and not (isinstance(pixel, (int, float)) and pixel > 0):
        raise InvalidInputError("pixel_size_um must be a positive number or null", source)
    return PolylineSet(str(data.get("image", "")), (size[0], size[1]), lines, pixel)


def polylines_from_mask(mask: np.ndarray, image: str = "", tolerance: float = 0.5,
                        min_length_px: float = 0.0) -> PolylineSet:
    """Trace a binary segmentation: skeletonise it and turn every skeleton branch into a polyline (skan paths),
    simplified with Douglas-Peucker at ``tolerance`` pixels (0: keep every pixel)."""
    from skan import Skeleton
    from skimage.measure import approximate_polygon


    mask = np.asarray(mask, bool)
    skel = skeleton_of(mask)
    lines: list[Polyline] = []
    if skel.sum() >= 2:
        graph = Skeleton(skel)
        for i in range(graph.n_paths):
            yx = graph.path_coordinates(i)
            xy = np.asarray(yx, float)[:, ::-1]
            if tolerance > 0 and len(xy) > 2:
                xy = approximate_polygon(xy, tolerance)
            line = Polyline(xy)
            if line.length >= min_length_px:
                lines.append(line)
    return PolylineSet(image, (int(mask.shape[0]), int(mask.shape[1])), lines)


def points_along(points: np.ndarray, step: float) -> np.ndarray:
    """Points every ``step`` pixels of arc length along a polyline, both ends included."""
    p = np.asarray(points, float)
    if len(p) < 2:
        return p.copy()
    seg = np.hypot(*np.diff(p, axis=0).T)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    total = arc[-1]
    n = max(int(np.ceil(total / step)), 1)
    s = np.linspace(0.0, total, n + 1)
    return np.stack([np.interp(s, arc, p[:, 0]), np.interp(s, arc, p[:, 1])], axis=1)


def boxes_along(polylines: PolylineSet, box_size: float, step: float) -> np.ndarray:
    """Square boxes ``(x0, y0, x1, y1)`` of side ``box_size`` centred every ``step`` px along each vessel polyline
    (boxes overlap by ``1 - step / box_size``), clipped to the image.

    Example:
        >>> s = PolylineSet("a", (50, 50), [Polyline(np.array([[5.0, 25.0], [45.0, 25.0]]))])
        >>> boxes_along(s, 10, 10).shape
        (5, 4)
    """
    h, w = polylines.image_size
    half = box_size / 2.0
    out = []
    for line in polylines.polylines:
        if line.label != "vessel":
            continue
        for x, y in points_along(line.points, step):
            out.append([max(x - half, 0), max(y - half, 0), min(x + half, w), min(y + half, h)])
    return np.asarray(out, float).reshape(-1, 4)


def rasterise(polylines: PolylineSet, width: int = 1) -> np.ndarray:
    """A boolean image of the vessel polylines (for overlays and centreline metrics)."""
    from skimage.draw import line as draw_line

    h, w = polylines.image_size
    out = np.zeros((h, w), bool)
    for pl in polylines.polylines:
        if pl.label != "vessel":
            continue
        p = np.round(np.asarray(pl.points)).astype(int)
        for (x0, y0), (x1, y1) in zip(p[:-1], p[1:]):
            rr, cc = draw_line(y0, x0, y1, x1)
            ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
            out[rr[ok], cc[ok]] = True
    if width > 1:
        from scipy import ndimage as ndi

        out = ndi.binary_dilation(out, iterations=width // 2)
    return out
