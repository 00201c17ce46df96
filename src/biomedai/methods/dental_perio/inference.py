"""Running trained models on one radiograph: the models file of a training folder, loading both Mask R-CNNs,
inference with the numbering calibration, and the per-tooth table and warnings a user reads."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from biomedai.errors import WeightsError
from biomedai.utils import lazy_import

from .config import DentalPerioConfig
from .numbering import number_binary_detections

maskrcnn = lazy_import(".model", __package__)  # torch: imported on first use

MODELS_FILE = "models.json"
TOOTH_COLUMNS = ["image", "tooth", "fdi", "source", "score", "arch", "x1", "y1", "x2", "y2", "area_px",
                 "centre_x", "centre_y"]


# --------------------------------------------------------------------------------------------- models
def models_file(weights: str | Path) -> Path:
    """``models.json`` of a training output folder (or the file itself)."""
    path = Path(weights)
    path = path / MODELS_FILE if path.is_dir() else path
    if not path.is_file():
        raise WeightsError(f"{path}: no {MODELS_FILE} (give the folder written by 'biomedai train dental_perio')")
    return path


def load_models(weights: str | Path, config: DentalPerioConfig, device: str = "cpu") -> tuple[Any, Any,
                                                                                              DentalPerioConfig]:
    """The binary and multi-class models from a training folder; the config takes its architecture keys."""
    from biomedai.train import load_weights

    path = models_file(weights)
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
        arch = {k: spec[k] for k in ("backbone", "image_size")}
        entries = {task: spec[task] for task in ("binary", "multiclass")}
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise WeightsError(f"{path}: not a dental_perio models file ({exc})") from None
    config = config.replace(**arch, coco_checkpoint=None, coco_sha256=None)
    models = []
    for task in ("binary", "multiclass"):
        model = maskrcnn.build_from_config(config, task)
        load_weights(model, path.parent / entries[task]["weights"], expected_sha256=entries[task]["sha256"])
        models.append(model.to(device).eval())
    return models[0], models[1], config


def infer_radiograph(binary_model: Any, multi_model: Any, image: Any, config: DentalPerioConfig) -> dict[str, Any]:
    """Both models on one radiograph, then the calibration: binary, multi-class and numbered instances."""
    binary = maskrcnn.detect_teeth(binary_model, image, "binary")
    multi = maskrcnn.detect_teeth(multi_model, image, "multiclass")
    numbered, calibration = number_binary_detections(binary, multi, config)
    return {"binary": binary, "multi": multi, "numbered": numbered, "calibration": calibration}


def tooth_rows(name: str, teeth: Any, calibration: Any = None) -> list[dict[str, Any]]:
    """One CSV row per tooth instance."""
    import numpy as np

    rows = []
    for k in range(len(teeth)):
        ys, xs = np.nonzero(teeth.masks[k])
        x1, y1, x2, y2 = (round(float(v), 1) for v in teeth.boxes[k])
        rows.append({"image": name, "tooth": k, "fdi": int(teeth.fdi[k]) or "",
                     "source": calibration.sources[k] if calibration is not None else "ground truth",
                     "score": round(float(teeth.scores[k]), 4) if teeth.scores is not None else "",
                     "arch": calibration.arches[k] if calibration is not None else "",
                     "x1": x1, "y1": y1, "x2": x2, "y2": y2, "area_px": int(len(xs)),
                     "centre_x": round(float(xs.mean()), 1) if len(xs) else "",
                     "centre_y": round(float(ys.mean()), 1) if len(ys) else ""})
    return rows


def image_warnings(teeth: Any, calibration: Any) -> list[str]:
    """Plain-language warnings for one radiograph."""
    out = []
    if len(teeth) == 0:
        out.append("no teeth were found: is this a dental panoramic radiograph?")
    if "mirrored_film_suspected" in calibration.flags:
        out.append("the multi-class numbers run right-to-left: the film looks mirrored (patient right on the "
                   "image right); check it, or set display=mirrored")
    if calibration.unresolved:
        out.append(f"{len(calibration.unresolved)} teeth could not be numbered (shown as '?')")
    if "no_multiclass_labels" in calibration.flags and len(teeth):
        out.append("the multi-class model numbered no tooth: numbers cannot be calibrated")
    return out
