"""Training the FDI U-Net (``fdi_unet``) on UFBA films with the toolkit engine, within its time budget.

Augmentation: a left-right flip that swaps the FDI quadrants (1x <-> 2x, 4x <-> 3x, so the numbers stay
right), a small random affine (scale, rotation, shift), gamma, contrast and brightness. Loss: cross-entropy
+ soft Dice (MONAI ``DiceCELoss``). The learning rate follows a cosine over the engine's time budget. The
checkpoint kept is the one with the best numbering mAP@0.5 on the validation films (never the test films).
"""
from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from .data import FDI_TO_CLASS, ToothInstances, UFBADataset, read_panoramic
from .fdi_unet import FLIP_CLASS, FDIUNet, detect_numbered_teeth, film_tensor, normalise
from .numbering import table1_metrics

logger = logging.getLogger(__name__)

_LUT = np.zeros(256, np.int64)
for _fdi, _cls in FDI_TO_CLASS.items():
    _LUT[_fdi] = _cls


class FDIFilms(torch.utils.data.Dataset):
    """Films and class maps resized to ``size`` x ``size``, held in memory; augmented when ``augment``."""

    def __init__(self, dataset: UFBADataset, ids: Sequence[str], size: int, augment: bool = True,
                 seed: int = 0) -> None:
        from biomedai.io import read_image

        self.size, self.augment = int(size), augment
        self.rng = np.random.default_rng(seed)
        images, labels = [], []
        for name in ids:
            image, _ = read_panoramic(dataset.image_path(name))
            label_map = np.asarray(read_image(dataset.label_path(name)).array)
            images.append(film_tensor(image, size))
            lab = torch.from_numpy(_LUT[label_map].astype(np.float32))[None, None]
            labels.append(F.interpolate(lab, size=(size, size), mode="nearest")[0].long())
        self.images = torch.stack(images)
        self.labels = torch.stack(labels)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.images[index].clone(), self.labels[index].clone()
        if self.augment:
            x, y = self._augment(x, y)
        return normalise(x), y

    def _augment(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rng = self.rng
        if rng.random() < 0.5:
            x = x.flip(-1)
            y = torch.from_numpy(FLIP_CLASS)[y.flip(-1)]
        scale = float(np.exp(rng.uniform(-0.1, 0.1)))
        angle = math.radians(rng.uniform(-7, 7))
        tx, ty = rng.uniform(-0.06, 0.06, 2)
        cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
        theta = torch.tensor([[[cos, -sin, tx], [sin, cos, ty]]], dtype=torch.float32)
        grid = F.affine_grid(theta, (1, 1, self.size, self.size), align_corners=False)
        x = F.grid_sample(x[None], grid, mode="bilinear", padding_mode="border", align_corners=False)[0]
        y = F.grid_sample(y[None].float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)[0].long()
        x = x.clamp(0, 1) ** float(np.exp(rng.uniform(-0.35, 0.35)))
        x = (x - 0.5) * rng.uniform(0.8, 1.25) + 0.5 + rng.uniform(-0.08, 0.08)
        return x, y


def validation_split(ids: Sequence[str], n_val: int = 30, seed: int = 0) -> tuple[list[str], list[str]]:
    """Hold ``n_val`` films of the training part out for validation (sorted ids, seeded permutation)."""
    ids = sorted(ids)
    order = np.random.default_rng(seed).permutation(len(ids))
    val = sorted(ids[i] for i in order[:n_val])
    return sorted(set(ids) - set(val)), val


def numbering_scores(model: torch.nn.Module, films: Sequence[tuple[np.ndarray, ToothInstances]], input_size: int,
                     min_pixels: int = 30, secondary_weight: float = 0.5) -> dict[str, Any]:
    """Table 1 metrics of the U-Net's numbered teeth on ``films`` (image, true instances)."""
    preds = [detect_numbered_teeth(model, image, input_size, min_pixels, secondary_weight) for image, _ in films]
    return table1_metrics([t for _, t in films], preds)


def train_fdi_unet(data: str | Path, ids: Sequence[str], val_ids: Sequence[str], output_dir: str | Path, *,
                   channels: Sequence[int] = (16, 32, 64, 128, 256), input_size: int = 256, minutes: float = 35.0,
                   epochs: int = 200, batch_size: int = 4, lr: float = 2e-3, weight_decay: float = 1e-4,
                   seed: int = 0, clock: str = "cpu", max_wall_minutes: float | None = None) -> dict[str, Any]:
    """Train on ``ids``, validate (numbering mAP@0.5) on ``val_ids`` each epoch; the best epoch's network.

    The training engine's time budget: ``minutes`` counted on ``clock`` ("cpu": this process's CPU time;
    "wall") stops training at the step that spends it, and the learning rate follows a cosine over it (after a
    50-step warm-up, to 2 % of ``lr``; over ``epochs`` when they end first). ``max_wall_minutes`` ends the job
    after the epoch in which that much wall time has passed (a loaded machine; the engine's ``job_minutes``):
    ``biomedai train --resume`` (``BIOMEDAI_RESUME=1``) then continues the same budget and schedule."""
    from monai.losses import DiceCELoss

    from biomedai.train import load_weights, train_model
    from biomedai.train.schedules import budget_cosine

    dataset = UFBADataset(data)
    train_set = FDIFilms(dataset, ids, input_size, augment=True, seed=seed)
    val_films = [dataset.load(name) for name in val_ids]
    dice_ce = DiceCELoss(to_onehot_y=True, softmax=True)
    total_steps = epochs * math.ceil(len(train_set) / batch_size)

    def validate(model: torch.nn.Module, loader: Any, trainer: Any) -> dict[str, float]:
        scores = numbering_scores(model, val_films, input_size)
        spent = trainer.budget.spent_s()  # seconds of the run on each clock, earlier resumed jobs included
        return {"val_map50": scores["mAP50"], "val_dice_single": scores["dice_single"],
                "val_dice_all": scores["dice_all"], f"{clock}_minutes": spent[clock] / 60,
                "wall_minutes": spent["wall"] / 60}

    result = train_model(
        lambda: FDIUNet(channels), train_set, [0], loss_fn=dice_ce, validate=validate,
        scheduler=lambda opt, trainer: budget_cosine(opt, trainer.budget_fraction, total_steps, warmup_steps=50,
                                                     floor=0.02),
        scheduler_interval="step", output_dir=Path(output_dir), epochs=epochs, lr=lr, weight_decay=weight_decay,
        batch_size=batch_size, monitor="val_map50", mode="max", amp=False, device="cpu", seed=seed, progress=False,
        max_minutes=minutes, time_budget_clock=clock, time_budget_check="step", job_minutes=max_wall_minutes,
        grad_clip_norm=5.0)
    net = FDIUNet(channels)
    load_weights(net, result.weights)
    return {"result": result, "model": net.eval(), "train_ids": list(ids), "val_ids": list(val_ids),
            "val_films": val_films}
