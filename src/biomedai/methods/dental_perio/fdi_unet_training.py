"""Training the FDI U-Net (``fdi_unet``) on UFBA films with the toolkit engine, within a wall-time budget.

Augmentation: a left-right flip that swaps the FDI quadrants (1x <-> 2x, 4x <-> 3x, so the numbers stay
right), a small random affine (scale, rotation, shift), gamma, contrast and brightness. Loss: cross-entropy
+ soft Dice (MONAI ``DiceCELoss``). The learning rate follows a cosine over the time budget. The checkpoint
kept is the one with the best numbering mAP@0.5 on the validation films (never the test films).
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from biomedai.train.callbacks import Callback

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


class _CosineOverBudget:
    """Learning-rate factor: linear warm-up, then a cosine over the time budget (or the step count); the budget
    counts this process's CPU time (``clock="cpu"``, the same on a loaded or an idle machine) or wall time."""

    def __init__(self, minutes: float, total_steps: int, warmup: int = 50, clock: str = "cpu") -> None:
        self.seconds, self.total, self.warmup = minutes * 60.0, total_steps, warmup
        self.clock_name = clock  # a name, not the function: the scheduler's state is saved in checkpoints
        self.start: float | None = None
        self.wall_start: float | None = None

    def clock(self) -> float:
        return time.process_time() if self.clock_name == "cpu" else time.monotonic()

    def minutes(self) -> tuple[float, float]:
        """(budget-clock minutes, wall minutes) since the first step."""
        if self.start is None or self.wall_start is None:
            return 0.0, 0.0
        return (self.clock() - self.start) / 60, (time.monotonic() - self.wall_start) / 60

    def __call__(self, step: int) -> float:
        if self.start is None:
            self.start, self.wall_start = self.clock(), time.monotonic()
        progress = min(1.0, max(step / max(self.total, 1), (self.clock() - self.start) / self.seconds))
        return min(1.0, (step + 1) / self.warmup) * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))


class _WallGuard(Callback):
    """Stops training after the epoch in which ``minutes`` of wall time have passed (a loaded machine)."""

    def __init__(self, budget: _CosineOverBudget, minutes: float | None) -> None:
        self.budget, self.minutes = budget, minutes

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        if self.minutes is not None and self.budget.minutes()[1] >= self.minutes:
            logger.info("wall-time guard of %.0f min reached after epoch %s", self.minutes, record.get("epoch"))
            trainer.stopped_early = True


def train_fdi_unet(data: str | Path, ids: Sequence[str], val_ids: Sequence[str], output_dir: str | Path, *,
                   channels: Sequence[int] = (16, 32, 64, 128, 256), input_size: int = 256, minutes: float = 35.0,
                   epochs: int = 200, batch_size: int = 4, lr: float = 2e-3, weight_decay: float = 1e-4,
                   seed: int = 0, clock: str = "cpu", max_wall_minutes: float | None = None) -> dict[str, Any]:
    """Train on ``ids``, validate (numbering mAP@0.5) on ``val_ids`` each epoch; the best epoch's network.

    ``minutes`` is counted on ``clock`` ("cpu": this process's CPU time; "wall"); ``max_wall_minutes`` also
    stops a run on a loaded machine after the epoch that passes it."""
    from monai.losses import DiceCELoss

    from biomedai.train import load_weights, train_model

    dataset = UFBADataset(data)
    train_set = FDIFilms(dataset, ids, input_size, augment=True, seed=seed)
    val_films = [dataset.load(name) for name in val_ids]
    dice_ce = DiceCELoss(to_onehot_y=True, softmax=True)
    steps_per_epoch = math.ceil(len(train_set) / batch_size)
    factor = _CosineOverBudget(minutes, epochs * steps_per_epoch, clock=clock)

    def validate(model: torch.nn.Module, loader: Any) -> dict[str, float]:
        scores = numbering_scores(model, val_films, input_size)
        budget_minutes, wall_minutes = factor.minutes()
        return {"val_map50": scores["mAP50"], "val_dice_single": scores["dice_single"],
                "val_dice_all": scores["dice_all"], f"{clock}_minutes": budget_minutes, "wall_minutes": wall_minutes}

    result = train_model(
        lambda: FDIUNet(channels), train_set, [0], loss_fn=dice_ce, validate=validate,
        scheduler=lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, factor), scheduler_interval="step",
        output_dir=Path(output_dir), epochs=epochs, lr=lr, weight_decay=weight_decay, batch_size=batch_size,
        monitor="val_map50", mode="max", amp=False, device="cpu", seed=seed, progress=False,
        max_minutes=minutes, time_budget_clock=clock, grad_clip_norm=5.0,
        callbacks=[_WallGuard(factor, max_wall_minutes)])
    net = FDIUNet(channels)
    load_weights(net, result.weights)
    return {"result": result, "model": net.eval(), "train_ids": list(ids), "val_ids": list(val_ids),
            "val_films": val_films}
