"""The per-film annotation: a documented JSON schema, validation with clear messages, Labelme/GeoJSON import.

Schema ``biomedai-hip-annotation/1`` (one JSON object per film; coordinates are image pixels
``[x, y]``, x to the right, y down)::

    {
      "schema": "biomedai-hip-annotation/1",
      "image": "film.dcm",                 # optional: the film this belongs to
      "pixel_spacing": [0.14, 0.14],       # optional: [row, column] in mm (DICOM PixelSpacing order)
      "sides": "patient",                  # "patient": keys are the patient's right/left;
                                           # "image": keys are image_left/image_right (resolved later)
      "hips": {
        "right": {
          "acetabulum":     [[x, y], ...], # open polyline, teardrop end to lateral end (>= 3 points)
          "femoral_head":   [[x, y], ...], # closed outline of the head (>= 3 points)
          "proximal_femur": [[x, y], ...], # optional open outline of head, neck and upper shaft
          "sourcil_medial": [x, y],        # S: medial end of the weight-bearing area (required)
          "lateral_edge":   [x, y],        # L: optional; default the lateral end of the acetabulum
          "teardrop":       [x, y]         # T: optional; default the medial end of the acetabulum
        },
        "left": {...}
      }
    }

The same schema as JSON Schema (draft 2020-12) ships beside this module: ``annotation_schema.json``.

Labelme and GeoJSON files are read through :func:`biomedai.io.read_annotations`; each shape's
label names the side and the structure, e.g. ``right_acetabulum``, ``L femoral head``,
``teardrop-left``, ``R S`` (see :func:`parse_label`).
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.utils import write_json_atomic

from .geometry import CONTOURS, POINTS, SIDES, GeometryError, SideShapes

logger = logging.getLogger(__name__)

SCHEMA = "biomedai-hip-annotation/1"
#: image files a folder of annotated films may hold (each with its annotation beside it)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".dcm", ".nii", ".nii.gz", ".nrrd", ".mha")

_STRUCTURE_WORDS = {
    "acetabulum": "acetabulum", "acetabular": "acetabulum", "acetab": "acetabulum",
    "femoral head": "femoral_head", "femoralhead": "femoral_head", "head": "femoral_head",
    "proximal femur": "proximal_femur", "femur": "proximal_femur", "thigh bone": "proximal_femur",
    "sourcil medial": "sourcil_medial", "sourcil": "sourcil_medial", "s": "sourcil_medial",
    "lateral edge": "lateral_edge", "lateral": "lateral_edge", "l edge": "lateral_edge",
    "teardrop": "teardrop", "tear drop": "teardrop", "t": "teardrop",
}


def _coords(value: Any, side: str, name: str, point: bool) -> np.ndarray | None:
    if value is None:
        return None
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise GeometryError(f"{side} hip: {name} must be numbers ({exc})") from None
    if point:
        if arr.size != 2:
            raise GeometryError(f"{side} hip: the {name} point must be one [x, y] pair, got shape {arr.shape}")
        return arr.reshape(1, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise GeometryError(f"{side} hip: the {name} contour must be a list of [x, y] pairs, got shape {arr.shape}")
    return arr


def shapes_from_dict(side: str, data: Mapping[str, Any]) -> SideShapes:
    """One side's :class:`SideShapes` from its JSON object (unknown keys are refused by name)."""
    if not isinstance(data, Mapping):
        raise GeometryError(f"{side} hip: expected an object of contours and points")
    unknown = sorted(set(data) - set(CONTOURS) - set(POINTS))
    if unknown:
        raise GeometryError(f"{side} hip: unknown structure {unknown[0]!r} (known: {', '.join(CONTOURS + POINTS)})")
    values = {name: _coords(data.get(name), side, name, point=False) for name in CONTOURS}
    values.update({name: _coords(data.get(name), side, name, point=True) for name in POINTS})
    return SideShapes(**values)


def shapes_to_dict(shapes: SideShapes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in CONTOURS:
        value = getattr(shapes, name)
        if value is not None:
            out[name] = np.asarray(value, float).reshape(-1, 2).tolist()
    for name in POINTS:
        value = getattr(shapes, name)
        if value is not None:
            out[name] = np.asarray(value, float).reshape(2).tolist()
    return out


def patient_side_of_image_left(orientation: Any) -> str | None:
    """Which patient side lies on the image's left, from DICOM PatientOrientation (None if unknown).

    The first value gives the patient direction of increasing column (+x): ``"L"`` (the usual AP
    display) puts the patient's right on the image left; ``"R"`` (a mirrored film) the left.

    Example:
        >>> patient_side_of_image_left(["L", "F"]), patient_side_of_image_left("R\\\\F")
        ('right', 'left')
    """
    if orientation is None:
        return None
    values = list(orientation) if isinstance(orientation, (list, tuple)) else re.split(r"[\\/, ]+", str(orientation))
    if not values or not values[0]:
        return None
    first = str(values[0]).strip().upper()[:1]
    return {"L": "right", "R": "left"}.get(first)


class HipAnnotation:
    """One film's annotation: both sides' shapes, pixel spacing and where the sides came from."""

    def __init__(self, hips: Mapping[str, SideShapes], pixel_spacing: tuple[float, float] | None = None,
                 image: str | None = None, notes: list[str] | None = None) -> None:
        self.hips = dict(hips)
        self.pixel_spacing = pixel_spacing
        self.image = image
        self.notes = list(notes or [])

    @property
    def spacing(self) -> tuple[float, float]:
        return self.pixel_spacing if self.pixel_spacing is not None else (1.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "image": self.image,
                "pixel_spacing": list(self.pixel_spacing) if self.pixel_spacing else None, "sides": "patient",
                "hips": {side: shapes_to_dict(shapes) for side, shapes in self.hips.items()}}

    def save(self, path: str | Path) -> Path:
        return write_json_atomic(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | Path | None = None,
                  orientation: Any = None) -> HipAnnotation:
        """Parse the schema; ``orientation`` (DICOM PatientOrientation) resolves ``"sides": "image"``."""
        where = str(source) if source is not None else "annotation"
        if not isinstance(data, Mapping):
            raise InvalidInputError("a hip annotation must be a JSON object", source)
        schema = data.get("schema", SCHEMA)
        if schema != SCHEMA:
            raise InvalidInputError(f"unknown schema {schema!r}; expected {SCHEMA!r}", source)
        hips = data.get("hips")
        if not isinstance(hips, Mapping):
            raise InvalidInputError("no 'hips' object with the two sides", source)
        notes: list[str] = []
        mode = data.get("sides", "patient")
        if mode == "image":
            image_left = patient_side_of_image_left(orientation)
            if image_left is None:
                image_left = "right"
                notes.append("sides assumed from the radiological convention (patient right on the image left)")
            mapping = {"image_left": image_left, "image_right": "left" if image_left == "right" else "right"}
        elif mode == "patient":
            mapping = {"right": "right", "left": "left"}
        else:
            raise InvalidInputError(f"'sides' must be 'patient' or 'image', got {mode!r}", source)
        out: dict[str, SideShapes] = {}
        for key, side in mapping.items():
            if key not in hips:
                raise GeometryError(f"{where}: {side} hip ({key!r}): no contours or points were drawn for this side")
            try:
                out[side] = shapes_from_dict(side, hips[key])
            except GeometryError as exc:
                raise GeometryError(f"{where}: {exc}") from None
        extra = sorted(set(hips) - set(mapping))
        if extra:
            raise InvalidInputError(f"unknown side {extra[0]!r} under 'hips' (sides mode {mode!r})", source)
        spacing = data.get("pixel_spacing")
        if spacing is not None:
            try:
                spacing = tuple(float(v) for v in spacing)
            except (TypeError, ValueError):
                raise InvalidInputError(f"pixel_spacing must be [row, column] numbers, got {spacing!r}", source) from None
            if len(spacing) != 2 or not all(np.isfinite(spacing)) or min(spacing) <= 0:
                raise InvalidInputError(f"pixel_spacing must be two positive numbers, got {list(spacing)}", source)
        ann = cls(out, pixel_spacing=spacing, image=data.get("image"), notes=notes)
        if mode == "patient" and orientation is not None:
            ann.check_sides_against(orientation, where)
        return ann

    def check_sides_against(self, orientation: Any, where: str = "annotation") -> None:
        """Note (do not fail) when the drawn right hip is not where DICOM PatientOrientation puts it."""
        image_left = patient_side_of_image_left(orientation)
        if image_left is None or any(self.hips[s].femoral_head is None for s in SIDES):
            return
        x = {s: float(np.asarray(self.hips[s].femoral_head)[:, 0].mean()) for s in SIDES}
        left_in_image = "right" if x["right"] < x["left"] else "left"
        if left_in_image != image_left:
            self.notes.append(f"{where}: the hip drawn as 'right' is on the image side that PatientOrientation "
                              f"{orientation!r} gives to the patient's left; check the sides")


def load_annotation(path: str | Path, orientation: Any = None) -> HipAnnotation:
    """Read a hip annotation: our JSON schema, or a Labelme / GeoJSON file with side+structure labels."""
    from biomedai.io._files import existing_file

    path = existing_file(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"not valid JSON ({exc})", path) from exc
    if isinstance(data, dict) and "hips" in data:
        return HipAnnotation.from_dict(data, source=path, orientation=orientation)
    from biomedai.io import read_annotations

    return annotation_from_shapes(read_annotations(path), source=path)


def parse_label(label: str | None) -> tuple[str, str] | None:
    """``(side, structure)`` from a shape label such as ``right_acetabulum`` or ``L femoral head``.

    Example:
        >>> parse_label("R femoral-head"), parse_label("teardrop_left"), parse_label("sourcil medial L")
        (('right', 'femoral_head'), ('left', 'teardrop'), ('left', 'sourcil_medial'))
    """
    if not label:
        return None
    words = [w for w in re.split(r"[^a-z0-9]+", label.lower()) if w]
    side = None
    rest = []
    for w in words:
        if w in ("r", "right", "rt") and side is None:
            side = "right"
        elif w in ("l", "left", "lt") and side is None:
            side = "left"
        else:
            rest.append(w)
    if side is None:
        return None
    phrase = " ".join(rest)
    for key in sorted(_STRUCTURE_WORDS, key=len, reverse=True):
        if phrase == key or phrase.replace(" ", "_") == key.replace(" ", "_"):
            return side, _STRUCTURE_WORDS[key]
    if phrase.replace(" ", "_") in CONTOURS + POINTS:
        return side, phrase.replace(" ", "_")
    return None


def annotation_from_shapes(shapes: list[Any], source: str | Path | None = None) -> HipAnnotation:
    """Build a :class:`HipAnnotation` from :class:`biomedai.io.annotations.Annotation` shapes (Labelme/GeoJSON)."""
    where = str(source) if source is not None else "annotation"
    per_side: dict[str, dict[str, Any]] = {side: {} for side in SIDES}
    for index, shape in enumerate(shapes):
        parsed = parse_label(shape.label)
        if parsed is None:
            raise InvalidInputError(f"shape {index} label {shape.label!r} does not name a side and a structure "
                                    "(e.g. 'right_acetabulum', 'L femoral head', 'teardrop_left')", source)
        side, structure = parsed
        if structure in per_side[side]:
            raise InvalidInputError(f"shape {index}: a second {side} {structure}", source)
        coords = shape.coordinates
        per_side[side][structure] = coords[0].tolist() if structure in POINTS else coords.tolist()
    hips = {}
    for side in SIDES:
        if not per_side[side]:
            raise GeometryError(f"{where}: {side} hip: no contours or points were drawn for this side")
        try:
            hips[side] = shapes_from_dict(side, per_side[side])
        except GeometryError as exc:
            raise GeometryError(f"{where}: {exc}") from None
    return HipAnnotation(hips, image=None)


def spacing_of_image(image: Any) -> tuple[tuple[float, float] | None, Any]:
    """``(row, column)`` pixel spacing of a :class:`biomedai.io.Image` when it has a physical one, and its
    DICOM PatientOrientation (or None)."""
    meta = getattr(image, "metadata", {}) or {}
    orientation = meta.get("PatientOrientation")
    if getattr(image, "spacing_unit", "pixel") == "pixel":
        return None, orientation
    sp = tuple(float(s) for s in image.spacing[-2:])
    return (sp[0], sp[1]), orientation


def annotation_for(image: Path) -> Path | None:
    """The annotation file beside an image (``NAME.hip.json`` or ``NAME.json``), or None."""
    stem = image.name[: -len(".nii.gz")] if image.name.endswith(".nii.gz") else image.stem
    for name in (f"{stem}.hip.json", f"{stem}.json"):
        candidate = image.with_name(name)
        if candidate.is_file() and candidate != image:
            return candidate
    return None
