"""Measuring one film from its annotation (angles, the DICOM orientation and pixel spacing), and the angle
tables read and written by the method and its tools."""
from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any

from biomedai.errors import InvalidInputError
from biomedai.utils import read_csv_rows

from .annotation import HipAnnotation, load_annotation, spacing_of_image
from .config import HipDysplasiaConfig
from .geometry import measure_hips
from .normal_model import diagnose, knowledge_class, kosuge_class

logger = logging.getLogger(__name__)

ANGLE_COLUMNS = ("ce", "sharp", "tonnis")
NO_SPACING_NOTE = "no physical pixel spacing: square pixels assumed (angles depend on the row/column ratio)"


# --------------------------------------------------------------------------------------------- helpers
def orientation_of(image_path: str | Path | None) -> Any:
    """DICOM PatientOrientation of a file (None for other formats or when absent)."""
    if image_path is None or Path(image_path).is_dir():
        return None
    from biomedai.io import detect_format

    try:
        if detect_format(image_path) != "dicom":
            return None
        import pydicom

        value = pydicom.dcmread(str(image_path), stop_before_pixels=True).get("PatientOrientation")
    except Exception:  # noqa: BLE001 - orientation is optional; the image reader reports real problems
        return None
    return list(value) if value is not None and not isinstance(value, str) else value


def measure_annotation(annotation: Any, image: Any, image_path: str | Path | None,
                       config: HipDysplasiaConfig) -> tuple[Any, Any, list[str]]:
    """Measure one film: ``(HipMeasurement, HipAnnotation, notes)``. ``annotation`` is a path or a dict."""
    orientation = orientation_of(image_path)
    if isinstance(annotation, dict):
        ann = HipAnnotation.from_dict(annotation, orientation=orientation)
    else:
        ann = load_annotation(annotation, orientation=orientation)
    notes = list(ann.notes)
    image_spacing, _ = spacing_of_image(image) if image is not None else (None, None)
    if image_spacing is not None:
        if ann.pixel_spacing is not None and any(abs(a - b) > 1e-6 * max(a, b)
                                                 for a, b in zip(image_spacing, ann.pixel_spacing)):
            notes.append(f"annotation pixel_spacing {list(ann.pixel_spacing)} differs from the image's "
                         f"{list(image_spacing)}; the image's (DICOM) spacing is used")
        ann.pixel_spacing = image_spacing
    if ann.pixel_spacing is None:
        where = image_path or annotation if not isinstance(annotation, dict) else image_path or "annotation"
        if config.require_spacing:
            raise InvalidInputError("the film has no pixel spacing (require_spacing is set); add pixel_spacing "
                                    "[row, column] to the annotation or use a DICOM with PixelSpacing", where)
        notes.append(NO_SPACING_NOTE)
        logger.info("%s: %s", where, NO_SPACING_NOTE)
    measurement = measure_hips(ann.hips, ann.spacing, head_centre=config.head_centre,
                               ce_reference=config.ce_reference, signed=config.signed,
                               inflection_sigma=config.inflection_sigma)
    return measurement, ann, notes


def read_angles_csv(path: str | Path) -> tuple[list[dict[str, str]], Any]:
    """Rows and the ``(n, 3)`` (CE, Sharp, Tönnis) array of an angle table (columns ce, sharp, tonnis)."""
    import numpy as np

    from biomedai.io._files import existing_file

    path = existing_file(path)
    rows = read_csv_rows(path)
    if not rows:
        raise InvalidInputError("the angle table has no rows", path)
    missing = [c for c in ANGLE_COLUMNS if c not in rows[0]]
    if missing:
        raise InvalidInputError(f"the angle table needs columns {list(ANGLE_COLUMNS)}; missing {missing}", path)
    try:
        x = np.array([[float(r[c]) for c in ANGLE_COLUMNS] for r in rows])
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"angle values must be numbers ({exc})", path) from exc
    return rows, x


def write_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    from biomedai.utils import write_text_atomic

    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
    return write_text_atomic(path, buffer.getvalue())


def side_rows(film: str, measurement: Any, model: Any = None, config: HipDysplasiaConfig | None = None
              ) -> list[dict[str, Any]]:
    """One table row per hip: angles (signed and unsigned), both knowledge rules, the model's reading, flags."""
    rows = []
    for side in ("right", "left"):
        a = measurement.angles[side]
        row: dict[str, Any] = {"film": film, "side": side, "ce": a["ce"], "sharp": a["sharp"], "tonnis": a["tonnis"],
                               "ce_unsigned": a["ce_unsigned"], "tonnis_unsigned": a["tonnis_unsigned"],
                               "knowledge_class": knowledge_class(a["ce"]),
                               "kosuge_class": kosuge_class(a["ce"], a["tonnis"])}
        if model is not None:
            cfg = config or HipDysplasiaConfig()
            d = diagnose(model, [[a["ce"], a["sharp"], a["tonnis"]]], q_normal=cfg.q_normal,
                         q_borderline=cfg.q_borderline, t_star=cfg.t_star)[0]
            row.update({k: d[k] for k in ("model_class", "d2", "dysplasia_index", "long_axis_class", "side_of_model")})
        row["flags"] = ";".join(measurement.flags[side])
        rows.append(row)
    return rows


def film_picture(image: Any, size_hint: Any = None) -> Any:
    """An 8-bit picture for overlays: the image, or a blank canvas around the annotation."""
    import numpy as np

    from biomedai.viz import to_display

    if image is not None:
        return to_display(image)
    pts = np.vstack([np.asarray(v).reshape(-1, 2) for shapes in size_hint.values()
                     for v in vars(shapes).values() if v is not None])
    w, h = int(pts[:, 0].max() * 1.1) + 10, int(pts[:, 1].max() * 1.1) + 10
    return np.full((h, w), 40, np.uint8)
