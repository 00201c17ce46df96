"""Running a trained MTCSN on frames: model folders in and out, preprocessing, batched prediction."""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from biomedai.errors import WeightsError
from biomedai.train.model_folder import ModelInfo, load_model_folder, save_model_folder

from .config import MtcsnConfig
from .model import Mtcsn
from .palette import CD_CLASSES, TISSUE_CLASSES

logger = logging.getLogger(__name__)

METHOD = "capsule_mtcsn"
#: what the network's shape depends on; stored in model.json's "architecture"
ARCHITECTURE_KEYS = ("backbone", "light_widths", "variant", "fusion_sites", "cls_channels", "seg_channels",
                     "pooling", "fusion_activation", "dropout", "input_size")
#: input normalisation (ours: no ImageNet statistics, the backbones are not pre-trained)
MEAN, STD = 0.5, 0.25


def architecture_of(cfg: MtcsnConfig) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.to_dict().items() if k in ARCHITECTURE_KEYS}


def config_with_architecture(cfg: MtcsnConfig, architecture: dict[str, Any]) -> MtcsnConfig:
    values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in architecture.items() if k in ARCHITECTURE_KEYS}
    return dataclasses.replace(cfg, **values)


def resolve_device(name: str) -> torch.device:
    if name in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def save_mtcsn(folder: Path, model: Mtcsn, cfg: MtcsnConfig, training_data: dict[str, Any], metrics: dict[str, Any],
               metrics_data: str, simulated: bool, half: bool = False) -> Path:
    info = ModelInfo(METHOD, architecture_of(cfg), name=Path(folder).name,
                     preprocessing={"resize": [cfg.input_size, cfg.input_size], "scale": "x / 255",
                                    "mean": MEAN, "std": STD, "channels": "RGB"},
                     class_names=list(CD_CLASSES), training_data=training_data, metrics=metrics,
                     metrics_data=metrics_data, licence=training_data.get("licence", ""), simulated=simulated,
                     extra={"tissue_classes": list(TISSUE_CLASSES)})
    return save_model_folder(folder, model, info, half=half)


def load_mtcsn(folder: Path, cfg: MtcsnConfig, device: torch.device | str = "cpu") -> tuple[Mtcsn, MtcsnConfig, ModelInfo]:
    """A model folder -> the network in eval mode, the config with its architecture, and its card."""
    state, info = load_model_folder(folder, method=METHOD)
    cfg = config_with_architecture(cfg, info.architecture)
    model = Mtcsn(cfg)
    state = {k: v.to(model.state_dict()[k].dtype) if k in model.state_dict() else v for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"{folder}: weights do not fit the MTCSN architecture in model.json: {exc}") from None
    if info.simulated:
        logger.warning("model %s was trained on SIMULATED capsule frames; outputs are not clinical findings", folder)
    return model.to(device).eval(), cfg, info


def preprocess(frames: np.ndarray, size: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``[B, y, x, 3]`` uint8 -> ``[B, 3, size, size]`` normalised float (antialiased resize)."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float() / 255.0
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return (x - MEAN) / STD


@torch.no_grad()
def predict_batch(model: Mtcsn, frames: np.ndarray, size: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """CD probabilities ``[B, 3]`` and tissue index maps ``[B, size, size]`` (None where the variant lacks a head)."""
    device = next(model.parameters()).device
    out = model(preprocess(frames, size, device))
    probs = None if out["cd_logits"] is None else torch.softmax(out["cd_logits"].float(), 1).cpu().numpy()
    masks = None if out["seg_logits"] is None else out["seg_logits"].argmax(1).to(torch.uint8).cpu().numpy()
    return probs, masks
