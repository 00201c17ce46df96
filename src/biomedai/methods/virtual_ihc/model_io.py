"""Saving and loading a virtual-IHC model folder: the H&E -> Ki-67 generator and, when trained, the H&E MIL
classifier that gives its condition (``biomedai.train.model_folder``: weights.pt + model.json).

``model.json``'s ``architecture`` holds the generator's and the classifier's settings (the config keys);
a folder without a classifier belongs to a plain (unconditional) CycleGAN. A folder whose architecture has
``kind: "mil"`` holds a MIL tumour/normal classifier alone (:func:`save_mil_classifier`); ``predict`` then
writes the per-tile tumour-probability heat map.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from biomedai.errors import WeightsError
from biomedai.train.model_folder import ModelInfo, load_model_folder, read_model_info, save_model_folder

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
    if arch.get("kind") == MIL_KIND:
        raise WeightsError(f"{folder}: this folder holds a MIL tumour classifier, not a generator "
                           "(load it with load_mil_classifier)")
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


MIL_KIND = "mil"
MIL_KEYS = ("tile_size", "bag_size", "mil_width", "mil_layers", "mil_input_size")


class MILModel(nn.Module):
    """A MIL tumour/normal classifier alone (the ``classifier`` attribute, as in :class:`VirtualIHCModel`)."""

    def __init__(self, config: VirtualIHCConfig) -> None:
        super().__init__()
        self.config = config
        self.classifier = build_mil_classifier(config)


def folder_kind(folder: Path) -> str:
    """``"mil"`` for a MIL classifier folder, ``"generator"`` for a translation model folder."""
    return MIL_KIND if read_model_info(folder).architecture.get("kind") == MIL_KIND else "generator"


def save_mil_classifier(folder: Path, model: MILModel, info: ModelInfo) -> Path:
    arch: dict[str, Any] = {k: getattr(model.config, k) for k in MIL_KEYS}
    arch["mil_layers"] = list(model.config.mil_layers)
    info.architecture = {"kind": MIL_KIND, **arch}
    info.class_names = ["normal", "tumour"]
    return save_model_folder(folder, model, info)


def load_mil_classifier(folder: Path, config: VirtualIHCConfig | None = None) -> tuple[MILModel, ModelInfo]:
    """The MIL classifier in ``folder`` (its architecture overrides ``config``'s MIL keys)."""
    info = read_model_info(folder)
    arch = dict(info.architecture)
    if arch.pop("kind", None) != MIL_KIND:
        raise WeightsError(f"{folder}: not a MIL classifier folder (model.json architecture has no kind 'mil')")
    unknown = set(arch) - set(MIL_KEYS)
    if unknown:
        raise WeightsError(f"{folder}: unknown MIL architecture keys {sorted(unknown)} in model.json")
    arch["mil_layers"] = tuple(arch.get("mil_layers", (3, 4, 6, 3)))
    model = MILModel((config or VirtualIHCConfig()).replace(**arch))
    load_model_folder(folder, model, method="virtual_ihc")
    return model.eval(), info


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
