"""Saving and loading a virtual-IHC model folder: the H&E -> Ki-67 generator and, when trained, the H&E MIL
classifier that gives its condition (``biomedai.train.model_folder``: weights.pt + model.json).

``model.json``'s ``architecture`` holds the generator's and the classifier's settings (the config keys);
a folder without a classifier belongs to a plain (unconditional) CycleGAN.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from biomedai.errors import WeightsError
from biomedai.train.model_folder import ModelInfo, load_model_folder, save_model_folder

from .config import VirtualIHCConfig
from .cyclegan import build_generator
from .mil import build_mil_classifier

ARCHITECTURE_KEYS = ("tile_size", "gen_width", "gen_res_blocks", "gen_padding", "condition", "condition_source",
                     "mil_width", "mil_layers", "mil_input_size", "nucleus_diameter_px", "mode", "input_view",
                     "positivity_head", "positivity_threshold", "dab_od")


class VirtualIHCModel(nn.Module):
    """The generator G: H&E -> Ki-67 and, for a conditional model, the H&E MIL classifier."""

    def __init__(self, config: VirtualIHCConfig, with_classifier: bool) -> None:
        super().__init__()
        self.config = config
        self.generator = build_generator(config)
        self.classifier = build_mil_classifier(config) if with_classifier else None


def architecture_of(config: VirtualIHCConfig, with_classifier: bool) -> dict[str, Any]:
    arch = {k: getattr(config, k) for k in ARCHITECTURE_KEYS}
    arch["mil_layers"] = list(config.mil_layers)
    arch["with_classifier"] = with_classifier
    return arch


def save_virtual_ihc(folder: Path, model: VirtualIHCModel, info: ModelInfo, half: bool = False) -> Path:
    info.architecture = architecture_of(model.config, model.classifier is not None)
    return save_model_folder(folder, model, info, half=half)


def load_virtual_ihc(folder: Path, config: VirtualIHCConfig | None = None) -> tuple[VirtualIHCModel, ModelInfo]:
    """The model in ``folder`` (its architecture overrides ``config``'s network keys)."""
    _, info = load_model_folder(folder, method="virtual_ihc")
    arch = dict(info.architecture)
    with_classifier = bool(arch.pop("with_classifier", False))
    unknown = set(arch) - set(ARCHITECTURE_KEYS)
    if unknown:
        raise WeightsError(f"{folder}: unknown architecture keys {sorted(unknown)} in model.json")
    arch["mil_layers"] = tuple(arch.get("mil_layers", (3, 4, 6, 3)))
    base = (config or VirtualIHCConfig()).replace(**arch)
    if with_classifier and base.condition == "none":
        raise WeightsError(f"{folder}: a classifier is saved but the generator takes no condition")
    model = VirtualIHCModel(base, with_classifier)
    load_model_folder(folder, model, method="virtual_ihc")
    return model.eval(), info


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
