"""The ``train`` action for every model kind (``config.model``), each writing a model folder ``predict`` loads.

=====================  ===========================================================================================
``model``              data folder and what is trained
=====================  ===========================================================================================
``positivity``         DeepLIIF layout (``train/*.png`` registered panels): the positivity-aware pix2pix
                       (haematoxylin -> Ki-67 with a positive-nucleus head; the bundled model's recipe)
``pix2pix``            the same paired panels, plain pix2pix (L1 + GAN)
``cyclegan``           ``he/`` and ``ihc/`` image folders, unpaired: the plain CycleGAN (the paper's ablation)
``conditional_cyclegan`` ``he/`` and ``ihc/`` plus two MIL classifier folders (``mil_he``, ``mil_ihc``, from
                       ``model=mil``): each crop's condition is its domain classifier's output (hard label or
                       probability, ``condition_source``); the H&E classifier is saved with the generator
``mil``                images with bag labels (``labels.csv`` or ``regions/<stem>.geojson``, :mod:`.mil_data`):
                       the top-1 MIL tumour/normal classifier, saved as a MIL folder (:mod:`.mil_model`) that
                       ``predict --set mil_model=FOLDER`` turns into the tumour heat map (and the condition)
=====================  ===========================================================================================

All of them train through the project's engine (``biomedai.train.Trainer``): the wall-time budget
(``train_seconds`` / ``mil_train_seconds`` on ``budget_clock``), ``checkpoints/last.pt`` and ``best.pt`` and
``metrics.jsonl`` in the output folder, progress lines, ``--resume``; the epoch with the best validation score
is kept.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from biomedai.errors import ConfigError, InvalidInputError
from biomedai.train.model_folder import ModelInfo

from .conditioning import condition_values
from .config import TRAIN_MODELS, VirtualIHCConfig
from .cyclegan import CycleGAN
from .mil import bag_probabilities, bag_scores, train_mil, tumour_probability
from .mil_data import VALIDATION_EVERY, labelled_bags, split_bags
from .mil_model import load_mil_classifier, save_mil_classifier
from .model_io import VirtualIHCModel, resolve_device, save_virtual_ihc
from .paired_training import train_paired
from .realdata import IMAGE_SUFFIXES, random_crops, read_rgb
from .training import train_cyclegan

logger = logging.getLogger(__name__)

#: validation crops per domain for the unpaired models (best epoch by their cycle L1)
VALIDATION_CROPS = 16


def train_model_kind(cfg: VirtualIHCConfig, data: Path, output_dir: Path, progress: bool = True
                     ) -> tuple[Path, dict[str, Any]]:
    """Train ``cfg.model`` on ``data``; returns the model folder and the run's metrics."""
    data, output_dir = Path(data), Path(output_dir)
    if not data.is_dir():
        raise InvalidInputError("train needs a data folder", data)
    if cfg.model in ("positivity", "pix2pix"):
        if not (data / "train").is_dir():
            raise InvalidInputError(f"model={cfg.model} trains on registered haematoxylin/IHC panels: a DeepLIIF-style "
                                    "folder with train/*.png", data)
        paired = cfg.replace(mode="pix2pix", condition="none", positivity_head=cfg.model == "positivity")
        return train_paired(data, paired, output_dir, progress=progress)
    if cfg.model in ("cyclegan", "conditional_cyclegan"):
        return train_unpaired(data, cfg, output_dir, conditional=cfg.model == "conditional_cyclegan",
                              progress=progress)
    if cfg.model == "mil":
        return train_mil_folder(data, cfg, output_dir, progress=progress)
    raise ConfigError(f"model must be one of {TRAIN_MODELS}, got {cfg.model!r}")


def _folder_images(folder: Path) -> list[np.ndarray]:
    if not folder.is_dir():
        return []
    return [read_rgb(p) for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]


def _conditions(classifier_folder: str, crops: np.ndarray, cfg: VirtualIHCConfig, domain: str
                ) -> tuple[np.ndarray, torch.nn.Module, dict[str, Any]]:
    """Condition values of ``crops`` from the MIL classifier folder, the classifier and its architecture."""
    if not classifier_folder:
        raise ConfigError(f"model=conditional_cyclegan needs mil_{domain}=FOLDER: a MIL classifier trained on "
                          f"{domain.upper()} bags (biomedai train virtual_ihc --set model=mil)")
    classifier, size, info = load_mil_classifier(Path(classifier_folder))
    probs = tumour_probability(classifier, crops, size)
    arch = {"mil_width": int(info.architecture["mil_width"]), "mil_layers": tuple(info.architecture["mil_layers"]),
            "mil_input_size": int(size)}
    return condition_values(torch.as_tensor(probs), cfg.condition_source).numpy(), classifier, arch


def train_unpaired(data: Path, cfg: VirtualIHCConfig, output_dir: Path, conditional: bool,
                   progress: bool = True) -> tuple[Path, dict[str, Any]]:
    """(Conditional) CycleGAN on random crops of the unpaired ``he/`` and ``ihc/`` images."""
    images = [_folder_images(data / "he"), _folder_images(data / "ihc")]
    if not all(images):
        raise InvalidInputError(f"model={cfg.model} needs he/ and ihc/ folders of images (unpaired)", data)
    crop = min(cfg.tile_size, *(min(i.shape[:2]) for group in images for i in group))
    crop -= crop % 4
    he = random_crops(images[0], cfg.train_crops + VALIDATION_CROPS, crop, cfg.seed)
    ihc = random_crops(images[1], cfg.train_crops + VALIDATION_CROPS, crop, cfg.seed + 1)
    c_he = c_ihc = None
    mil_he = None
    if conditional:
        if cfg.condition == "none":
            raise ConfigError("model=conditional_cyclegan needs condition=plane or onehot")
        c_he, mil_he, arch = _conditions(cfg.mil_he, he, cfg, "he")
        c_ihc, _, _ = _conditions(cfg.mil_ihc, ihc, cfg, "ihc")
        cfg = cfg.replace(**arch)
    else:
        cfg = cfg.replace(condition="none")
    cfg = cfg.replace(mode="cyclegan", positivity_head=False)
    gan = CycleGAN(cfg, resolve_device(cfg.device))
    v = VALIDATION_CROPS
    result = train_cyclegan(gan, he[:-v], ihc[:-v], None if c_he is None else c_he[:-v],
                            None if c_ihc is None else c_ihc[:-v], he[-v:], ihc[-v:],
                            None if c_he is None else c_he[-v:], None if c_ihc is None else c_ihc[-v:],
                            output_dir=output_dir, progress=progress)
    model = VirtualIHCModel(cfg.replace(tile_size=crop, train_seconds=None), with_classifier=conditional)
    model.generator.load_state_dict(gan.G.state_dict())
    if mil_he is not None and model.classifier is not None:
        model.classifier.load_state_dict(mil_he.state_dict())
    kind = "conditional CycleGAN (MIL condition)" if conditional else "plain CycleGAN (no condition)"
    info = ModelInfo(method="virtual_ihc", name=output_dir.name, training_data={"name": str(data)},
                     metrics={"best_val_cycle_l1": result.best_score},
                     metrics_data=f"{v} held-out crops per domain",
                     extra={"mode": kind, "steps": result.steps, "best_epoch": result.best_epoch,
                            "mil_he": cfg.mil_he, "mil_ihc": cfg.mil_ihc,
                            "condition_share_tumour": None if c_he is None else float(np.mean(c_he >= 0.5))})
    folder = save_virtual_ihc(output_dir / "model", model, info)
    return folder, {"best_epoch": result.best_epoch, "best_val_cycle_l1": result.best_score, "steps": result.steps,
                    "history": result.history, "mode": kind}


def train_mil_folder(data: Path, cfg: VirtualIHCConfig, output_dir: Path, progress: bool = True
                     ) -> tuple[Path, dict[str, Any]]:
    """The top-1 MIL classifier on the labelled bags of ``data`` (:mod:`.mil_data`)."""
    bags = labelled_bags(data, cfg)
    labels = [b.label for b in bags]
    train, val = split_bags(labels)
    if not val:
        raise InvalidInputError("too few labelled bags for a validation split (need at least 2 per class)", data)
    device = resolve_device(cfg.device)
    result = train_mil([bags[i].instances for i in train], [labels[i] for i in train],
                       [bags[i].instances for i in val], [labels[i] for i in val], cfg, device,
                       output_dir=output_dir, progress=progress)
    classifier = result.model.eval()
    val_scores = bag_scores(bag_probabilities(classifier, [bags[i].instances for i in val], cfg.mil_input_size),
                            np.array([labels[i] for i in val]))
    info = ModelInfo(method="virtual_ihc", name=output_dir.name, training_data={
        "name": str(data), "split": f"{len(train)} training bags, {len(val)} validation bags (every "
                                    f"{VALIDATION_EVERY}th of each class)", "bags_tumour": int(sum(labels)),
        "bags_normal": int(len(labels) - sum(labels))},
        metrics={f"validation_{k}": v for k, v in val_scores.items()},
        metrics_data=f"{len(val)} validation bags (used to choose the epoch; not a test result)",
        extra={"mode": "MIL tumour/normal classifier (top-1 instance per bag)", "steps": result.steps,
               "best_epoch": result.best_epoch})
    info.extra["tile_size"], info.extra["bag_size"] = cfg.tile_size, cfg.bag_size
    folder = save_mil_classifier(output_dir / "model", classifier, cfg, info)
    return folder, {"best_epoch": result.best_epoch, "best_val_bag_ce": result.best_val_loss, "steps": result.steps,
                    "validation": val_scores, "history": result.history, "n_train_bags": len(train),
                    "n_val_bags": len(val)}
