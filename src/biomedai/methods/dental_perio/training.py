"""Training the tooth Mask R-CNNs with the toolkit's engine (:class:`biomedai.train.Trainer`).

torchvision detection models take a list of images and a list of target dicts and return their losses in
training mode; the engine's ``batch_to_loss`` hook and a list-collate cover that without engine changes.
There is no validation pass (the paper used none): the engine monitors the training loss.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

from .data import FDI_TO_CLASS, ToothInstances, UFBADataset, instances_from_label_map
from .model import build_from_config, image_tensor

logger = logging.getLogger(__name__)


class ToothDetectionDataset(Dataset):
    """(image tensor, Mask R-CNN target) pairs; label maps are kept in memory, masks made on the fly."""

    def __init__(self, images: Sequence[np.ndarray], label_maps: Sequence[np.ndarray], task: str,
                 augment: bool = False, seed: int = 0) -> None:
        self.images, self.label_maps = list(images), list(label_maps)
        self.task, self.augment = task, augment
        self.rng = np.random.default_rng(seed)

    @classmethod
    def from_ufba(cls, dataset: UFBADataset, ids: Sequence[str], task: str, augment: bool = False,
                  seed: int = 0) -> ToothDetectionDataset:
        images, maps = [], []
        for name in ids:
            image, teeth = dataset.load(name)
            images.append(image)
            maps.append(teeth.label_map())
        return cls(images, maps, task, augment, seed)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        image = self.images[index]
        if self.augment:  # mild contrast/brightness only: a flip would swap FDI quadrants
            gain, shift = self.rng.uniform(0.85, 1.15), self.rng.uniform(-15, 15)
            image = np.clip(image.astype(np.float32) * gain + shift, 0, 255).astype(np.uint8)
        return image_tensor(image), target_dict(instances_from_label_map(self.label_maps[index]), self.task)


def target_dict(teeth: ToothInstances, task: str) -> dict[str, torch.Tensor]:
    """Mask R-CNN target: boxes, labels (1 for binary, 1..32 for FDI) and uint8 masks."""
    labels = np.ones(len(teeth), np.int64) if task == "binary" else np.array(
        [FDI_TO_CLASS[int(f)] for f in teeth.fdi], np.int64)
    return {"boxes": torch.as_tensor(teeth.boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.as_tensor(labels), "masks": torch.from_numpy(teeth.masks.astype(np.uint8))}


def _collate(batch: list[Any]) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    images, targets = zip(*batch)
    return list(images), list(targets)


def _detection_loss(model: torch.nn.Module, batch: Any) -> dict[str, torch.Tensor]:
    images, targets = batch
    losses = model(images, targets)
    return {"loss": sum(losses.values()), **{k: v.detach() for k, v in losses.items()}}


def train_tooth_model(config: Any, data: ToothDetectionDataset, task: str, output_dir: str | Path,
                      init_weights: str | Path | dict[str, Any] | None = None, progress: bool = False) -> Any:
    """Train the ``"binary"`` or ``"multiclass"`` model with the engine; returns its ``TrainResult``.

    ``init_weights``: a state dict or a weights file to start from. ``config.max_steps`` > 0 bounds the run to that many optimiser steps (one engine epoch drawing
    ``max_steps * batch_size`` images with replacement); else ``config.epochs`` passes over the data.
    """
    from biomedai.train import Trainer, load_weights
    from biomedai.train.model_folder import load_weights_into

    def factory() -> torch.nn.Module:
        model = build_from_config(config, task)
        if isinstance(init_weights, dict):  # the paper's dataset-to-dataset fine-tuning (--init checkpoint)
            load_weights_into(model, init_weights, "the initial weights")
        elif init_weights is not None:
            load_weights(model, init_weights)
        return model

    epochs = config.epochs
    generator = torch.Generator().manual_seed(config.seed)
    if config.max_steps:
        sampler = RandomSampler(data, replacement=True, num_samples=config.max_steps * config.batch_size,
                                generator=generator)
        epochs = 1
    else:
        sampler = RandomSampler(data, generator=generator)
    loader = DataLoader(data, batch_size=config.batch_size, sampler=sampler, collate_fn=_collate)
    steps_total = epochs * math.ceil(len(sampler) / config.batch_size)

    def optimizer(params: Any) -> torch.optim.Optimizer:
        params = [p for p in params if p.requires_grad]
        if config.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)

    def scheduler(opt: torch.optim.Optimizer) -> Any:
        warm = max(1, min(config.warmup_steps, steps_total))
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / warm))

    trainer = Trainer(factory, loader, None, optimizer=optimizer, batch_to_loss=_detection_loss,
                      scheduler=scheduler, output_dir=output_dir, run_config=config,
                      epochs=epochs, device=config.device, seed=config.seed, scheduler_interval="step",
                      grad_clip_norm=config.grad_clip_norm or None, log_every_n_steps=10, progress=progress,
                      amp=False)
    logger.info("training the %s model (%s, %d steps)", task, config.backbone, steps_total)
    return trainer.fit()


def best_model(result: Any, config: Any, task: str) -> torch.nn.Module:
    """The network a :func:`train_tooth_model` run exported (its ``weights.pt``, checksum-verified), in eval mode."""
    from biomedai.train import load_weights

    model = build_from_config(config, task)
    load_weights(model, result.weights, expected_sha256=result.weights_sha256)
    return model.eval()
