"""Training the 3-D Mask R-CNN with the shared engine (:func:`biomedai.train.train_model`).

Adam at the paper's learning rate halved every ``lr_halving_epochs`` (spec 1.6), losses summed (spec 1.5), the
best checkpoint chosen by detecting the whole validation views after every epoch (lesion-based AUFC, the tables'
IoU > 0.5 hit rule; the patch loss is logged too but does not rank detectors), and a wall-clock budget after
which training stops (the interrupted epoch is validated and the best weights kept).
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from biomedai.train import train_model
from biomedai.train.batches import move_to_device

from .config import DbtMaskRcnnConfig
from .data import PatchDataset, ViewRecord, collate_patches
from .evaluate import validation_froc
from .inference import detect_volume
from .model import MaskRCNN3d

logger = logging.getLogger(__name__)

__all__ = ["ARCHITECTURE_KEYS", "mask_rcnn_loss", "validation_loss", "detection_validation", "train_mask_rcnn",
           "save_trained_model", "load_trained_model"]

#: config fields that define the network and the proposal counts it was validated with (stored in model.json and
#: restored on loading, so ``predict`` detects as the benchmark did whatever variant the caller names)
ARCHITECTURE_KEYS = ("block", "layers", "widths", "fpn_channels", "levels", "groups", "anchor_sizes", "anchor_scales",
                     "spacing", "box_roi_size", "mask_roi_size", "roi_sampling_ratio", "box_hidden", "mask_channels",
                     "patch", "margin", "train_patch", "rpn_pre_nms", "rpn_post_nms_train", "rpn_post_nms_test")


def mask_rcnn_loss(model: torch.nn.Module, batch: Any) -> dict[str, torch.Tensor]:
    """The engine's step: the five loss terms and their sum under ``loss``."""
    images, targets = batch
    terms = model(images, targets)
    return {"loss": sum(terms.values()), **{k: v.detach() for k, v in terms.items()}}


def validation_loss(model: torch.nn.Module, loader: Iterable[Any]) -> Mapping[str, float]:
    """Mean summed loss over the validation patches (heads in training mode for the sampling; no grad)."""
    was_training = model.training
    model.train()
    total, n = 0.0, 0
    device = next(model.parameters()).device
    for batch in loader:
        images, targets = move_to_device(batch, device)
        total += float(sum(model(images, targets).values()))
        n += 1
    model.train(was_training)
    return {"val_loss": total / max(n, 1)}


def detection_validation(val_views: Sequence[ViewRecord], cfg: DbtMaskRcnnConfig) -> Any:
    """The engine's ``validate``: the patch loss plus whole-view detection scores of the validation views
    (:func:`~.evaluate.validation_froc`: ``val_aufc``, ``val_sens_at_1fp``)."""

    def validate(model: torch.nn.Module, loader: Iterable[Any]) -> Mapping[str, float]:
        out = dict(validation_loss(model, loader))
        model.eval()
        out.update(validation_froc(val_views, lambda r: detect_volume(model, r.volume, cfg.patch, cfg.margin,
                                                                     cfg.nms_iou)))
        return out

    return validate


def train_mask_rcnn(train_views: Sequence[ViewRecord], val_views: Sequence[ViewRecord], cfg: DbtMaskRcnnConfig,
                    output_dir: str | Path, max_minutes: float | None, steps_per_epoch: int = 80,
                    val_patches: int = 24, device: str = "cpu", monitor: str = "val_aufc") -> tuple[MaskRCNN3d, Any]:
    """Train on random patches of ``train_views``; returns the model with its best weights and the result.

    The best checkpoint is the one of highest ``monitor``: by default the validation views' lesion-based AUFC
    (whole-view sliding detection, IoU > 0.5 hits); ``monitor="val_loss"`` picks the lowest patch loss instead.
    """
    train_data = PatchDataset(train_views, cfg.train_patch, steps_per_epoch * cfg.batch_size, seed=cfg.seed)
    val_data = PatchDataset(val_views, cfg.train_patch, val_patches, seed=cfg.seed + 1, augment=False)
    train_loader = torch.utils.data.DataLoader(train_data, batch_size=cfg.batch_size, shuffle=True,
                                               collate_fn=collate_patches)
    val_loader = torch.utils.data.DataLoader(val_data, batch_size=cfg.batch_size, collate_fn=collate_patches)

    def optimizer(params: Any) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=cfg.lr)

    def scheduler(opt: torch.optim.Optimizer) -> Any:
        return torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_halving_epochs, gamma=0.5)

    model = MaskRCNN3d(cfg)
    validate = validation_loss if monitor == "val_loss" else detection_validation(val_views, cfg)
    result = train_model(model, train_loader, val_loader, batch_to_loss=mask_rcnn_loss, validate=validate,
                         optimizer=optimizer, scheduler=scheduler, output_dir=output_dir, epochs=cfg.epochs,
                         seed=cfg.seed, device=device, max_minutes=max_minutes, progress=False, grad_clip_norm=5.0,
                         monitor=monitor, mode="min" if monitor == "val_loss" else "max", run_config=cfg)
    best = Path(output_dir) / "weights.pt"
    if best.is_file():
        model.load_state_dict(torch.load(best, map_location="cpu", weights_only=True))
    return model, result


def save_trained_model(folder: str | Path, model: MaskRCNN3d, cfg: DbtMaskRcnnConfig, training_data: dict[str, Any],
                       metrics: dict[str, Any], metrics_data: str, simulated: bool, half: bool = False) -> Path:
    """A model folder (weights + model.json with the architecture settings) for :func:`load_trained_model`."""
    from biomedai.train.model_folder import ModelInfo, save_model_folder

    arch = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(cfg).items()
            if k in ARCHITECTURE_KEYS}
    info = ModelInfo("dbt_maskrcnn", arch, preprocessing={"spacing_mm": list(cfg.spacing),
                                                          "intensity": "z-score over the breast (voxels > 0)"},
                     class_names=["background", "mass"], training_data=training_data, metrics=metrics,
                     metrics_data=metrics_data, licence="research use only", simulated=simulated)
    return save_model_folder(folder, model, info, half=half)


def load_trained_model(folder: str | Path, cfg: DbtMaskRcnnConfig) -> tuple[MaskRCNN3d, DbtMaskRcnnConfig, Any]:
    """The model of a folder written by :func:`save_trained_model`; inference settings come from ``cfg``."""
    from biomedai.train.model_folder import load_model_folder, read_model_info

    info = read_model_info(Path(folder) if Path(folder).is_dir() else Path(folder).parent)
    values = dataclasses.asdict(cfg)
    values.update({k: (tuple(v) if isinstance(v, list) else v) for k, v in info.architecture.items()})
    values["variant"] = "paper"
    model_cfg = DbtMaskRcnnConfig(**values)
    model = MaskRCNN3d(model_cfg)
    load_model_folder(folder, model, method="dbt_maskrcnn")
    return model.eval(), model_cfg, info
