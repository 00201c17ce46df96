"""Training the 3-D Mask R-CNN with the shared engine (:func:`biomedai.train.train_model`).

Adam at the paper's learning rate halved every ``lr_halving_epochs`` (spec 1.6), losses summed (spec 1.5), the
best checkpoint chosen on the validation patches' loss, and a wall-clock budget after which training stops
(the interrupted epoch is validated and the best weights kept).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from biomedai.train import train_model
from biomedai.train.batches import move_to_device

from .config import DbtMaskRcnnConfig
from .data import PatchDataset, ViewRecord, collate_patches
from .model import MaskRCNN3d

logger = logging.getLogger(__name__)

__all__ = ["mask_rcnn_loss", "validation_loss", "train_mask_rcnn"]


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


def train_mask_rcnn(train_views: Sequence[ViewRecord], val_views: Sequence[ViewRecord], cfg: DbtMaskRcnnConfig,
                    output_dir: str | Path, max_minutes: float, steps_per_epoch: int = 40,
                    val_patches: int = 24) -> tuple[MaskRCNN3d, Any]:
    """Train on random patches of ``train_views``; returns the model with its best weights and the result."""
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
    result = train_model(model, train_loader, val_loader, batch_to_loss=mask_rcnn_loss, validate=validation_loss,
                         optimizer=optimizer, scheduler=scheduler, output_dir=output_dir, epochs=cfg.epochs,
                         seed=cfg.seed, device="cpu", max_minutes=max_minutes, progress=False, grad_clip_norm=5.0,
                         monitor="val_loss", mode="min", run_config=cfg)
    best = Path(output_dir) / "weights.pt"
    if best.is_file():
        model.load_state_dict(torch.load(best, map_location="cpu", weights_only=True))
    return model, result
