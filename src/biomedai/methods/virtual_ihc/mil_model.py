"""A MIL tumour classifier as its own model folder (``--set mil_model=FOLDER`` at predict).

Two kinds of folder give one: a MIL-only folder written by :func:`save_mil_classifier` (``model.json``
``extra.kind = "mil_classifier"``, architecture ``mil_width``, ``mil_layers``, ``mil_input_size``), or a
virtual_ihc model folder saved with its classifier (:func:`biomedai.methods.virtual_ihc.model_io.save_virtual_ihc`).
"""
from __future__ import annotations

from pathlib import Path

import torch

from biomedai.errors import WeightsError
from biomedai.train.model_folder import ModelInfo, load_model_folder, save_model_folder

from .config import VirtualIHCConfig
from .mil import build_mil_classifier
from .model_io import load_virtual_ihc

MIL_KIND = "mil_classifier"


def save_mil_classifier(folder: Path, classifier: torch.nn.Module, config: VirtualIHCConfig, info: ModelInfo) -> Path:
    """Write ``classifier`` (built by :func:`~biomedai.methods.virtual_ihc.mil.build_mil_classifier`) to ``folder``."""
    info.architecture = {"mil_width": config.mil_width, "mil_layers": list(config.mil_layers),
                         "mil_input_size": config.mil_input_size}
    info.class_names = info.class_names or ["normal", "tumour"]
    info.extra = {**info.extra, "kind": MIL_KIND}
    return save_model_folder(Path(folder), classifier, info)


def load_mil_classifier(folder: Path) -> tuple[torch.nn.Module, int, ModelInfo]:
    """``(classifier, input size, info)`` from a MIL-only folder or a virtual_ihc folder with a classifier."""
    folder = Path(folder)
    _, info = load_model_folder(folder, method="virtual_ihc")
    if info.extra.get("kind") == MIL_KIND:
        arch = info.architecture
        try:
            cfg = VirtualIHCConfig(mil_width=int(arch["mil_width"]), mil_layers=tuple(arch["mil_layers"]),
                                   mil_input_size=int(arch["mil_input_size"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise WeightsError(f"{folder}: model.json of a MIL classifier lacks {exc}") from exc
        classifier = build_mil_classifier(cfg)
        load_model_folder(folder, classifier, method="virtual_ihc")
        return classifier.eval(), cfg.mil_input_size, info
    if info.architecture.get("with_classifier"):
        model, info = load_virtual_ihc(folder)
        assert model.classifier is not None
        return model.classifier.eval(), model.config.mil_input_size, info
    raise WeightsError(f"{folder}: this model folder holds no MIL classifier (a generator without one); train a "
                       "MIL classifier or leave mil_model empty")
