"""Point and polygon annotations: QuPath GeoJSON, Labelme JSON, CSV points, instance label maps.

Coordinates are always pixel ``(x, y)`` = (column, row) of the image, as in QuPath, Labelme and
GeoJSON; label maps are indexed ``[y, x]``. One small type, :class:`Annotation`, carries every
shape between formats.

Example:
    >>> import numpy as np
    >>> labels = np.zeros((20, 20), np.int32); labels[2:8, 3:9] = 1; labels[10:18, 10:15] = 2
    >>> shapes = label_map_to_polygons(labels)
    >>> [a.label for a in shapes], int((polygons_to_label_map(shapes, labels.shape) == labels).mean() > 0.9)
    (['1', '2'], 1)
"""
from __future__ import annotations

import csv
import json
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError, UnsupportedFormatError
from biomedai.io._files import existing_file
from biomedai.utils import write_json_atomic, write_text_atomic

logger = logging.getLogger(__name__)

GEOMETRIES = ("point", "polygon", "rectangle", "polyline")
OBJECT_TYPES = ("annotation", "detection")


@dataclass
class Annotation:
    """One shape in pixel coordinates.

    Attributes
    ----------
        geometry: ``"point"``, ``"polygon"``, ``"rectangle"`` (two opposite corners) or ``"polyline"``.
        coordinates: ``(n, 2)`` float array of ``(x, y)``; one row for a point. Polygons are open
            (the first vertex is not repeated).
        label: class name (QuPath classification, Labelme label, CSV label), or None.
        properties: anything else (measurements, ``group_id``, ``holes``...).
        object_type: QuPath's ``"annotation"`` or ``"detection"``.
        color: RGB of the class, or None.
    """

    geometry: str
    coordinates: np.ndarray
    label: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    object_type: str = "annotation"
    color: tuple[int, int, int] | None = None

    def __post_init__(self) -> None:
        if self.geometry not in GEOMETRIES:
            raise InvalidInputError(f"geometry must be one of {GEOMETRIES}, got {self.geometry!r}")
        if self.object_type not in OBJECT_TYPES:
            raise InvalidInputError(f"object_type must be one of {OBJECT_TYPES}, got {self.object_type!r}")
        coords = np.asarray(self.coordinates, dtype=float).reshape(-1, 2) if np.size(self.coordinates) else \
            np.zeros((0, 2))
        if not np.all(np.isfinite(coords)):
            raise InvalidInputError("annotation coordinates must be finite numbers")
        minimum = {"point": 1, "polygon": 3, "rectangle": 2, "polyline": 2}[self.geometry]
        if len(coords) < minimum:
            raise InvalidInputError(f"a {self.geometry} needs at least {minimum} (x, y) vertices, got {len(coords)}")
        if self.geometry == "polygon" and len(coords) > 3 and np.allclose(coords[0], coords[-1]):
            coords = coords[:-1]
        self.coordinates = coords
        if self.color is not None:
            self.color = tuple(int(c) for c in self.color)[:3]  # type: ignore[assignment]

    def as_polygon(self) -> np.ndarray:
        """Vertices ``(n, 2)`` of the area this shape covers (rectangles become 4 corners)."""
        if self.geometry == "rectangle":
            (x0, y0), (x1, y1) = self.coordinates[0], self.coordinates[-1]
            return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)
        return self.coordinates

    @property
    def centroid(self) -> tuple[float, float]:
        """Mean vertex ``(x, y)`` (the point itself for points)."""
        x, y = self.as_polygon().mean(axis=0)
        return float(x), float(y)


def read_annotations(path: str | Path) -> list[Annotation]:
    """Read GeoJSON, Labelme JSON or CSV points, chosen by content."""
    from biomedai.io.formats import detect_format
    from biomedai.io.limits import check_decoded_bytes

    fmt = detect_format(path)
    check_decoded_bytes(Path(path).stat().st_size, path, "annotation file")
    readers = {"geojson": read_geojson, "labelme": read_labelme, "csv": read_points_csv}
    if fmt not in readers:
        raise UnsupportedFormatError(f"{fmt} is not an annotation format (GeoJSON, Labelme JSON, CSV)", path)
    return readers[fmt](path)


# --------------------------------------------------------------------------------------------- GeoJSON
def _load_json(path: str | Path, what: str) -> Any:
    path = existing_file(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"not valid {what} JSON (corrupt or truncated): {exc}", path) from exc


def read_geojson(path: str | Path) -> list[Annotation]:
    """Read a (QuPath) GeoJSON FeatureCollection, a single Feature or a list of Features.

    Multi-geometries are split into one annotation per part; polygon holes go to
    ``properties["holes"]``; QuPath's ``classification`` gives ``label`` and ``color``.
    """
    data = _load_json(path, "GeoJSON")
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        features = data.get("features")
    elif isinstance(data, dict) and data.get("type") == "Feature":
        features = [data]
    elif isinstance(data, list):
        features = data
    else:
        raise InvalidInputError("not GeoJSON: expected a FeatureCollection, a Feature or a list of Features", path)
    if not isinstance(features, list):
        raise InvalidInputError("GeoJSON 'features' is not a list", path)
    annotations: list[Annotation] = []
    for index, feature in enumerate(features):
        try:
            annotations.extend(_feature_to_annotations(feature))
        except (InvalidInputError, KeyError, TypeError, ValueError, IndexError) as exc:
            raise InvalidInputError(f"feature {index} is not valid GeoJSON: {exc}", path) from exc
    return annotations


def _feature_to_annotations(feature: dict[str, Any]) -> list[Annotation]:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise ValueError("not a Feature object")
    properties = dict(feature.get("properties") or {})
    classification = properties.pop("classification", None) or {}
    label = classification.get("name") if isinstance(classification, dict) else str(classification)
    color = None
    if isinstance(classification, dict):
        color = classification.get("color", classification.get("colorRGB"))
    if color is not None and not isinstance(color, list):  # QuPath 0.2 stored a packed (A)RGB int
        packed = int(color) & 0xFFFFFF
        color = [(packed >> 16) & 255, (packed >> 8) & 255, packed & 255]
    object_type = properties.pop("objectType", None) or "annotation"
    object_type = object_type if object_type in OBJECT_TYPES else "annotation"
    if feature.get("id") is not None:
        properties["id"] = feature["id"]
    geometry = feature["geometry"]
    kind, coords = geometry["type"], geometry["coordinates"]
    common = dict(label=label, object_type=object_type, color=color)
    if kind == "Point":
        return [Annotation("point", [coords[:2]], properties=properties, **common)]
    if kind == "MultiPoint":
        return [Annotation("point", [c[:2]], properties=dict(properties), **common) for c in coords]
    if kind == "LineString":
        return [Annotation("polyline", [c[:2] for c in coords], properties=properties, **common)]
    if kind == "MultiLineString":
        return [Annotation("polyline", [c[:2] for c in line], properties=dict(properties), **common)
                for line in coords]
    if kind == "Polygon":
        return [_polygon(coords, properties, common)]
    if kind == "MultiPolygon":
        return [_polygon(rings, dict(properties), common) for rings in coords]
    raise ValueError(f"unsupported geometry type {kind!r}")


def _polygon(rings: list[Any], properties: dict[str, Any], common: dict[str, Any]) -> Annotation:
    if len(rings) > 1:
        properties["holes"] = [[list(map(float, c[:2])) for c in ring] for ring in rings[1:]]
    return Annotation("polygon", [c[:2] for c in rings[0]], properties=properties, **common)


def to_geojson(annotations: list[Annotation]) -> dict[str, Any]:
    """QuPath-compatible FeatureCollection (rectangles become polygons, polygons are closed)."""
    features = []
    for ann in annotations:
        props = {k: v for k, v in ann.properties.items() if k not in ("holes", "id")}
        props["objectType"] = ann.object_type
        if ann.label is not None:
            classification: dict[str, Any] = {"name": ann.label}
            if ann.color is not None:
                classification["color"] = list(ann.color)
            props["classification"] = classification
        coords = ann.as_polygon().tolist()
        if ann.geometry == "point":
            geometry = {"type": "Point", "coordinates": coords[0]}
        elif ann.geometry == "polyline":
            geometry = {"type": "LineString", "coordinates": coords}
        else:
            rings = [coords + [coords[0]]]
            for hole in ann.properties.get("holes", []):
                rings.append(list(hole) + [list(hole[0])])
            geometry = {"type": "Polygon", "coordinates": rings}
        features.append({"type": "Feature", "id": str(ann.properties.get("id") or uuid.uuid4()),
                         "geometry": geometry, "properties": props})
    return {"type": "FeatureCollection", "features": features}


def write_geojson(annotations: list[Annotation], path: str | Path) -> Path:
    """Write annotations as a QuPath-compatible GeoJSON FeatureCollection, atomically."""
    return write_json_atomic(path, to_geojson(annotations))


# --------------------------------------------------------------------------------------------- Labelme
_LABELME_TO_OURS = {"polygon": "polygon", "rectangle": "rectangle", "point": "point", "line": "polyline",
                    "linestrip": "polyline"}
_OURS_TO_LABELME = {"polygon": "polygon", "rectangle": "rectangle", "point": "point", "polyline": "linestrip"}


def read_labelme(path: str | Path) -> list[Annotation]:
    """Read a Labelme JSON file: polygons, rectangles, points, lines (circles become 32-gons).

    ``imagePath``, ``imageHeight``/``imageWidth`` go to each annotation's ``properties`` under ``image``.
    """
    data = _load_json(path, "Labelme")
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise InvalidInputError("not a Labelme file: no 'shapes' list", path)
    image = {k: data.get(k) for k in ("imagePath", "imageHeight", "imageWidth")}
    annotations = []
    for index, shape in enumerate(data["shapes"]):
        try:
            kind = shape.get("shape_type") or "polygon"
            points = np.asarray(shape["points"], dtype=float)
            properties = {"image": image}
            if shape.get("group_id") is not None:
                properties["group_id"] = shape["group_id"]
            if shape.get("flags"):
                properties["flags"] = shape["flags"]
            if kind == "circle":
                centre, edge = points[0], points[1]
                radius = float(np.hypot(*(edge - centre)))
                angles = np.linspace(0, 2 * np.pi, 32, endpoint=False)
                points = centre + radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
                kind = "polygon"
            if kind not in _LABELME_TO_OURS:
                raise ValueError(f"unsupported shape_type {kind!r}")
            annotations.append(Annotation(_LABELME_TO_OURS[kind], points, label=shape.get("label"),
                                          properties=properties))
        except (InvalidInputError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidInputError(f"shape {index} is not valid Labelme: {exc}", path) from exc
    return annotations


def write_labelme(annotations: list[Annotation], path: str | Path, image_path: str = "",
                  image_shape: tuple[int, int] | None = None) -> Path:
    """Write a Labelme JSON file (``image_shape`` is ``(height, width)``), atomically."""
    shapes = []
    for ann in annotations:
        shapes.append({"label": ann.label or "", "points": ann.coordinates.tolist(),
                       "group_id": ann.properties.get("group_id"), "description": "",
                       "shape_type": _OURS_TO_LABELME[ann.geometry], "flags": ann.properties.get("flags", {})})
    data = {"version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": image_path, "imageData": None,
            "imageHeight": int(image_shape[0]) if image_shape else None,
            "imageWidth": int(image_shape[1]) if image_shape else None}
    return write_json_atomic(path, data)


# --------------------------------------------------------------------------------------------- CSV
def read_points_csv(path: str | Path) -> list[Annotation]:
    """Read points from a CSV with a header holding ``x`` and ``y`` (and optionally ``label``).

    Other columns go to ``properties`` (as strings).
    """
    path = existing_file(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"not a text CSV file: {exc}", path) from exc
    reader = csv.DictReader(text.splitlines())
    fields = [f.strip().lower() for f in (reader.fieldnames or [])]
    if "x" not in fields or "y" not in fields:
        raise InvalidInputError(f"CSV points need 'x' and 'y' columns, found {reader.fieldnames}", path)
    annotations = []
    for line, row in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
        try:
            x, y = float(row.pop("x")), float(row.pop("y"))
            label = row.pop("label", None) or None
            annotations.append(Annotation("point", [[x, y]], label=label, properties=row))
        except (InvalidInputError, ValueError) as exc:
            raise InvalidInputError(f"line {line}: x and y must be numbers ({exc})", path) from exc
    return annotations


def write_points_csv(annotations: list[Annotation], path: str | Path) -> Path:
    """Write the centroid of each annotation as ``x,y,label`` rows, atomically."""
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["x", "y", "label"])
    for ann in annotations:
        x, y = ann.centroid
        writer.writerow([repr(x), repr(y), ann.label or ""])
    return write_text_atomic(path, buffer.getvalue())


# --------------------------------------------------------------------------------------------- label maps
def label_map_to_polygons(label_map: np.ndarray, object_type: str = "detection",
                          label_names: dict[int, str] | None = None) -> list[Annotation]:
    """One polygon per instance (the outer contour, traced at the 0.5 level between pixel centres).

    ``label`` is the instance id as a string, or ``label_names[id]``; ``properties["instance_id"]``
    keeps the id. Instances split into several pieces give one polygon per piece.
    """
    from skimage.measure import find_contours, points_in_poly, regionprops

    label_map = np.asarray(label_map)
    if label_map.ndim != 2 or label_map.dtype.kind not in "biu":
        raise InvalidInputError(f"label map must be a 2D integer array, got {label_map.shape} {label_map.dtype}")
    annotations: list[Annotation] = []
    for region in regionprops(label_map.astype(np.int64, copy=False)):
        r0, c0, r1, c1 = region.bbox
        mask = np.pad(region.image.astype(np.uint8), 1)
        outers, holes = [], []
        for contour in find_contours(mask, 0.5):
            if len(contour) < 4:
                continue
            xy = np.stack([contour[:, 1] + c0 - 1, contour[:, 0] + r0 - 1], axis=1)
            (outers if _area(xy) > 0 else holes).append(xy)  # holes run the other way round
        name = label_names.get(region.label, str(region.label)) if label_names else str(region.label)
        pieces = [Annotation("polygon", xy, label=name, object_type=object_type,
                             properties={"instance_id": int(region.label)}) for xy in outers]
        for hole in holes:
            owner = next((p for p in pieces if points_in_poly(hole[:1], p.coordinates)[0]), None)
            if owner is not None:
                owner.properties.setdefault("holes", []).append(hole.tolist())
        annotations.extend(pieces)
    return annotations


def _area(xy: np.ndarray) -> float:
    """Signed shoelace area; find_contours traces outer boundaries one way, holes the other."""
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def polygons_to_label_map(annotations: list[Annotation], shape: tuple[int, int], use_instance_id: bool = True
                          ) -> np.ndarray:
    """Rasterise polygons/rectangles into an ``int32`` label map ``[y, x]`` (later shapes on top).

    Values are ``properties["instance_id"]`` when present (and ``use_instance_id``), else 1, 2, ...
    in order. Points and polylines are skipped. Holes are cut out.
    """
    from skimage.draw import polygon as draw_polygon

    label_map = np.zeros(tuple(int(s) for s in shape), dtype=np.int32)
    next_id = 1
    for ann in annotations:
        if ann.geometry not in ("polygon", "rectangle"):
            continue
        value = int(ann.properties["instance_id"]) if use_instance_id and "instance_id" in ann.properties \
            else next_id
        next_id = max(next_id, value) + 1
        vertices = ann.as_polygon()
        rr, cc = draw_polygon(vertices[:, 1], vertices[:, 0], shape=label_map.shape)
        mask = np.zeros(label_map.shape, dtype=bool)
        mask[rr, cc] = True
        for hole in ann.properties.get("holes", []):
            hole = np.asarray(hole, dtype=float)
            hr, hc = draw_polygon(hole[:, 1], hole[:, 0], shape=label_map.shape)
            mask[hr, hc] = False
        label_map[mask] = value
    return label_map
