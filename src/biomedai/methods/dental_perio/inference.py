"""Running trained models on one radiograph: the models file of a training folder, loading both Mask R-CNNs,
inference with the numbering calibration, and the per-tooth table and warnings a user reads."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from biomedai.errors import WeightsError
from biomedai.train import load_weights
from biomedai.train.model_folder import (
    ModelInfo,
    is_model_folder,
    load_model_folder,
    load_weights_into,
    save_model_folder,
)
from biomedai.utils import lazy_import

from .calibration import FDI_NUMBERS, CalibrationResult
from .config import DentalPerioConfig
from .numbering import number_binary_detections

maskrcnn = lazy_import(".model", __package__)  # torch: imported on first use
fdi_unet = lazy_import(".fdi_unet", __package__)  # torch: imported on first use

MODELS_FILE = "models.json"  # the pair's index before the one model folder; such folders still load
PAIR_TASKS = ("binary", "multiclass")
TOOTH_COLUMNS = ["image", "tooth", "fdi", "source", "score", "arch", "x1", "y1", "x2", "y2", "area_px",
                 "centre_x", "centre_y"]


# --------------------------------------------------------------------------------------------- models
def models_file(weights: str | Path) -> Path:
    """``models.json`` of a training output folder written before the model folder (or the file itself)."""
    path = Path(weights)
    path = path / MODELS_FILE if path.is_dir() else path
    if not path.is_file():
        raise WeightsError(f"{path}: no {MODELS_FILE} (give the folder written by 'biomedai train dental_perio')")
    return path


def pair_state(binary: Any, multiclass: Any) -> dict[str, Any]:
    """One state dict holding both networks, keys prefixed ``binary.`` and ``multiclass.``."""
    return {f"{task}.{k}": v for task, model in zip(PAIR_TASKS, (binary, multiclass))
            for k, v in getattr(model, "module", model).state_dict().items()}


def save_pair_folder(folder: str | Path, binary: Any, multiclass: Any, config: DentalPerioConfig,
                     training_data: dict[str, Any], metrics: dict[str, Any] | None = None,
                     metrics_data: str = "", half: bool = False) -> Path:
    """Write both Mask R-CNNs as one model folder (``weights.pt`` + ``model.json``)."""
    info = ModelInfo(method="dental_perio", architecture={"kind": "maskrcnn_pair", "backbone": config.backbone,
                                                          "image_size": config.image_size,
                                                          "tasks": list(PAIR_TASKS)},
                     preprocessing={"input": "grey uint8 panoramic radiograph, scaled to [0, 1]"},
                     class_names=[str(f) for f in FDI_NUMBERS],
                     training_data=training_data, metrics=metrics or {}, metrics_data=metrics_data,
                     licence=str(training_data.get("licence", "")))
    return save_model_folder(folder, pair_state(binary, multiclass), info, half=half)


def pair_weights(weights: str | Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Each network's state dict and the architecture keys, from a model folder or an older training folder."""
    if is_model_folder(weights):
        state, info = load_model_folder(weights, method="dental_perio")
        if info.architecture.get("kind") != "maskrcnn_pair":
            raise WeightsError(f"{weights}: a dental_perio model of kind {info.architecture.get('kind')!r}, "
                               "not the Mask R-CNN pair")
        states = {task: {k[len(task) + 1:]: v for k, v in state.items() if k.startswith(task + ".")}
                  for task in PAIR_TASKS}
        return states, {k: info.architecture[k] for k in ("backbone", "image_size")}
    path = models_file(weights)
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
        arch = {k: spec[k] for k in ("backbone", "image_size")}
        entries = {task: spec[task] for task in PAIR_TASKS}
        states = {task: load_weights(None, path.parent / entries[task]["weights"],
                                     expected_sha256=entries[task]["sha256"]) for task in PAIR_TASKS}
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise WeightsError(f"{path}: not a dental_perio models file ({exc})") from None
    return states, arch


def load_models(weights: str | Path, config: DentalPerioConfig, device: str = "cpu") -> tuple[Any, Any,
                                                                                              DentalPerioConfig]:
    """The binary and multi-class models from a model folder (or an older training folder with ``models.json``);
    the config takes the saved architecture keys."""
    states, arch = pair_weights(weights)
    config = config.replace(**arch, coco_checkpoint=None, coco_sha256=None)
    models = []
    for task in PAIR_TASKS:
        model = maskrcnn.build_from_config(config, task)
        reference = model.state_dict()
        state = {k: (v.to(reference[k].dtype) if k in reference and hasattr(v, "to") else v)
                 for k, v in states[task].items()}
        load_weights_into(model, state, weights)
        models.append(model.to(device).eval())
    return models[0], models[1], config


def is_fdi_unet_folder(weights: str | Path) -> bool:
    """Whether ``weights`` is a model folder of the FDI U-Net (the bundled default), not a Mask R-CNN pair."""
    from biomedai.train.model_folder import is_model_folder, read_model_info

    return is_model_folder(weights) and read_model_info(weights).architecture.get("kind") == "fdi_unet"


def load_fdi_unet(weights: str | Path) -> tuple[Any, Any]:
    """The FDI U-Net of a model folder (checksum verified) and its :class:`ModelInfo`."""
    from biomedai.train.model_folder import load_model_folder, read_model_info

    info = read_model_info(weights)
    net = fdi_unet.build_fdi_unet(info.architecture)
    load_model_folder(weights, net, method="dental_perio")
    return net.eval(), info


class TeethModels:
    """The numbering models of one weights folder: the paper's Mask R-CNN pair or the FDI U-Net."""

    def __init__(self, weights: str | Path, config: DentalPerioConfig) -> None:
        self.weights = Path(weights)
        self.unet = self.info = self.binary = self.multi = None
        if is_fdi_unet_folder(weights):
            self.kind = "fdi_unet"
            self.unet, self.info = load_fdi_unet(weights)
            self.config = config
        else:
            self.kind = "maskrcnn_pair"
            self.binary, self.multi, self.config = load_models(weights, config)

    def describe(self) -> str:
        """Which model numbers the teeth, with its training data and terms."""
        if self.info is not None:
            return self.info.usage_note()
        return f"Mask R-CNN pair from {self.weights}"

    def infer(self, image: Any) -> dict[str, Any]:
        """Numbered teeth of one film (the same keys as :func:`infer_radiograph`)."""
        if self.kind == "maskrcnn_pair":
            return infer_radiograph(self.binary, self.multi, image, self.config)
        return infer_radiograph_unet(self.unet, self.info, image, self.config)


def infer_radiograph_unet(net: Any, info: Any, image: Any, config: DentalPerioConfig) -> dict[str, Any]:
    """The FDI U-Net on one film; with ``calibrate`` in the model's preprocessing, the calibration then checks
    its numbers (the U-Net's teeth are both the detections and the labels)."""
    import numpy as np

    pre = info.preprocessing
    teeth = fdi_unet.detect_numbered_teeth(net, image, int(info.architecture["input_size"]),
                                           int(pre.get("min_pixels", 30)), float(pre.get("secondary_weight", 0.5)))
    if pre.get("calibrate", False):
        numbered, calibration = number_binary_detections(teeth, teeth, config.replace(transfer_min_confidence=0.0))
    else:
        numbered = teeth
        calibration = CalibrationResult(labels=teeth.fdi.copy(), arches=[""] * len(teeth),
                                        sources=["fdi_unet"] * len(teeth), confidence=np.asarray(teeth.scores),
                                        log=[], unresolved=[], flags=[], passes=0, converged=True,
                                        arch_method="none (FDI U-Net numbers used as predicted)")
    return {"binary": teeth, "multi": teeth, "numbered": numbered, "calibration": calibration}


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
                     "x1": x1, "y1": y1, "x2": x2, "y2": y2, "area_px": len(xs),
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
