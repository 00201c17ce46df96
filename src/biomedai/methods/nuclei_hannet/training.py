"""Training data (random crops with the paper's augmentation) and the training run on the shared engine.

Augmentation (He et al.: "random colour transformation, random crop, horizontal flip, random elastic
transformation, random rotation"): a crop is taken around a random centre, rotated by a random angle
(nearest-neighbour for the instance labels), flipped, elastically deformed, colour-jittered (brightness,
contrast, saturation, hue), and only then turned into the 3-class target, so the boundary band stays
exactly ``boundary_radius`` wide.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage as ndi
from torch.utils.data import Dataset

from biomedai.data.stain import hed_jitter
from biomedai.train.schedules import budget_cosine, budget_progress

from .postprocess import three_class_targets

logger = logging.getLogger(__name__)


def _color_jitter(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast, saturation and hue jitter of a float RGB image in [0, 1]."""
    from skimage.color import hsv2rgb, rgb2hsv

    hsv = rgb2hsv(rgb)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-0.04, 0.04)) % 1.0
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.75, 1.25), 0, 1)
    out = hsv2rgb(hsv)
    out = out * rng.uniform(0.85, 1.15) + rng.uniform(-0.06, 0.06)
    mean = out.mean()
    out = (out - mean) * rng.uniform(0.8, 1.2) + mean
    return np.clip(out, 0.0, 1.0)


def _elastic_maps(shape: tuple[int, int], rng: np.random.Generator, alpha: float = 12.0,
                  sigma: float = 6.0) -> tuple[np.ndarray, np.ndarray]:
    dy = ndi.gaussian_filter(rng.uniform(-1, 1, shape), sigma) * alpha
    dx = ndi.gaussian_filter(rng.uniform(-1, 1, shape), sigma) * alpha
    yy, xx = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    return yy + dy, xx + dx


def augmented_crop(rgb: np.ndarray, labels: np.ndarray, size: int, rng: np.random.Generator, *,
                   color: bool = True, flip: bool = True, rotate: bool = True, elastic: bool = True,
                   stain: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A ``size`` x ``size`` crop (float RGB in [0, 1], instance labels) with random augmentation.

    ``stain`` > 0: HED stain jitter of that strength (:func:`biomedai.data.stain.hed_jitter`) before the
    colour jitter.

    Tiles smaller than the crop are reflect-padded (labels padded with 0).
    """
    rgb = np.asarray(rgb)
    side = int(math.ceil(size * math.sqrt(2))) + 2 if rotate else size  # room to rotate without empty corners
    h, w = labels.shape
    if h < side or w < side:
        ph, pw = max(side - h, 0), max(side - w, 0)
        pads = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))
        rgb = np.pad(rgb, pads + ((0, 0),), mode="reflect" if min(h, w) > 1 else "edge")
        labels = np.pad(labels, pads)
        h, w = labels.shape
    y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    img = rgb[y0:y0 + side, x0:x0 + side].astype(np.float32) / 255.0
    lab = labels[y0:y0 + side, x0:x0 + side]
    if rotate:
        angle = rng.uniform(0, 360)
        img = ndi.rotate(img, angle, axes=(0, 1), reshape=False, order=1, mode="reflect")
        lab = ndi.rotate(lab, angle, reshape=False, order=0, mode="constant", cval=0)
        off = (side - size) // 2
        img, lab = img[off:off + size, off:off + size], lab[off:off + size, off:off + size]
    if flip:
        if rng.random() < 0.5:
            img, lab = img[:, ::-1], lab[:, ::-1]
        if rng.random() < 0.5:
            img, lab = img[::-1], lab[::-1]
    if elastic and rng.random() < 0.5:
        yy, xx = _elastic_maps(lab.shape, rng)
        img = np.stack([ndi.map_coordinates(img[..., c], [yy, xx], order=1, mode="reflect") for c in range(3)], -1)
        lab = ndi.map_coordinates(lab, [yy, xx], order=0, mode="constant", cval=0)
    if stain > 0:
        img = hed_jitter(np.clip(img, 0.0, 1.0), rng, sigma=stain)
    if color:
        img = _color_jitter(img, rng)
    return np.ascontiguousarray(img, dtype=np.float32), np.ascontiguousarray(lab)


class CropDataset(Dataset):
    """``crops_per_tile`` random augmented crops per tile; item -> ``(image (3, s, s), target (s, s))``.

    Randomness comes from torch's generator state (seeded by the training engine), so runs repeat.
    """

    def __init__(self, images: Sequence[np.ndarray], labels: Sequence[np.ndarray], crop_size: int,
                 crops_per_tile: int, boundary_radius: int = 1, augment: dict[str, bool] | None = None) -> None:
        self.images, self.labels = list(images), list(labels)
        self.crop_size, self.crops_per_tile = crop_size, crops_per_tile
        self.boundary_radius = boundary_radius
        self.augment = augment or {}

    def __len__(self) -> int:
        return len(self.images) * self.crops_per_tile

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        k = index // self.crops_per_tile
        rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))
        img, lab = augmented_crop(self.images[k], self.labels[k], self.crop_size, rng, **self.augment)
        target = three_class_targets(lab, self.boundary_radius)
        x = torch.from_numpy(np.ascontiguousarray(np.moveaxis(img * 2.0 - 1.0, -1, 0)))
        return x, torch.from_numpy(target.astype(np.int64))


class CrossEntropyDiceLoss(torch.nn.Module):
    """Class-weighted cross-entropy plus ``1 -`` the mean soft Dice of the foreground classes (1, 2).

    The soft Dice is computed over the whole batch per class, so a crop without nuclei does not divide by 0.
    """

    def __init__(self, class_weights: Sequence[float] = (1.0, 1.0, 2.0), dice_classes: Sequence[int] = (1, 2),
                 smooth: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("weight", torch.tensor([float(w) for w in class_weights]))
        self.dice_classes, self.smooth = tuple(dice_classes), smooth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        ce = torch.nn.functional.cross_entropy(logits, target, weight=self.weight.to(logits.device))
        probs = logits.softmax(1)
        dice = []
        for k in self.dice_classes:
            p, t = probs[:, k], (target == k).float()
            dice.append((2 * (p * t).sum() + self.smooth) / (p.sum() + t.sum() + self.smooth))
        return ce + 1.0 - torch.stack(dice).mean()


def lr_schedule(schedule: str, total_steps: int) -> Callable[[Any, Any], Any] | None:
    """The learning-rate schedule as a training-engine scheduler factory ``(optimizer, trainer)``; None for "constant".

    Both shapes follow the run's progress (:func:`biomedai.train.schedules.budget_progress`): the larger of
    steps done / ``total_steps`` and the share of the engine's time budget (``max_minutes`` on
    ``time_budget_clock``) spent, which a ``--resume`` carries over. "cosine" decays from the full rate to 0;
    "onecycle" rises linearly from 4 % to the full rate over the first 5 % of the progress, then follows a
    cosine down to 1 %.
    """
    if schedule == "constant":
        return None
    shape = {"floor": 0.01, "warmup_fraction": 0.05, "warmup_start": 0.04} if schedule == "onecycle" else {}
    return lambda optimizer, trainer: budget_cosine(optimizer, trainer.budget_fraction, total_steps, **shape)


def train_network(model: Any, train_tiles: Sequence[tuple[np.ndarray, np.ndarray]],
                  val_score: Any, output_dir: Path, cfg: Any) -> Any:
    """Train ``model`` on ``(rgb, labels)`` tiles with the shared engine; best checkpoint by ``val_score``.

    ``val_score(model) -> {"aji": ...}`` is evaluated every ``cfg.val_every`` epochs (the last value is
    repeated in between so that the engine sees a number every epoch), and only once ``cfg.val_from`` of the
    run's progress has passed (the last epoch is always validated). Training stops after ``cfg.epochs`` or at
    the step that spends the engine's time budget ``cfg.max_minutes`` (counted on ``cfg.time_budget_clock``);
    ``biomedai train --resume`` continues the same budget and learning-rate schedule.
    """
    from biomedai.train import train_model

    ds = CropDataset([t[0] for t in train_tiles], [t[1] for t in train_tiles], cfg.crop_size, cfg.crops_per_tile,
                     cfg.boundary_radius, {"color": cfg.aug_color, "flip": cfg.aug_flip, "rotate": cfg.aug_rotate,
                                           "elastic": cfg.aug_elastic,
                                           "stain": cfg.aug_stain})
    last: dict[str, float] = {}
    steps_per_epoch = max(len(ds) // cfg.batch_size, 1)
    total_steps = steps_per_epoch * cfg.epochs

    def validate(model: Any, _loader: Any, trainer: Any) -> dict[str, float]:
        epoch = trainer.epoch + 1  # the epoch just trained (counted over resumed jobs too)
        progress = budget_progress(trainer.budget_fraction(), trainer.global_step, total_steps)
        last_epoch = epoch == cfg.epochs or progress >= 1.0
        if progress < cfg.val_from and not last_epoch:
            return {"aji": -1.0}  # too early to be a candidate for the best checkpoint
        if not last:  # a resumed job: the scores repeated between validations are in the run's history
            done = [r for r in trainer.history if r.get("val_aji", -1.0) >= 0]
            last.update({k[len("val_"):]: v for k, v in (done[-1] if done else {}).items() if k.startswith("val_")})
        if not last or epoch % cfg.val_every == 0 or last_epoch:
            with torch.autocast(device_type="cuda", enabled=False):
                scores = dict(val_score(model))
            last.clear()
            last.update(scores)
        return dict(last)

    loss_fn = (CrossEntropyDiceLoss(cfg.class_weights) if cfg.loss == "ce_dice"
               else torch.nn.functional.cross_entropy)

    workers = cfg.num_workers
    if workers is None:
        import os

        from biomedai.train import resolve_device

        workers = min(8, max((os.cpu_count() or 1) - 1, 0)) if resolve_device(cfg.device).type == "cuda" else 0
    return train_model(
        model, ds, [None], loss_fn=loss_fn,
        optimizer=lambda params: torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay),
        scheduler=lr_schedule(cfg.lr_schedule, total_steps), scheduler_interval="step",
        validate=validate, output_dir=output_dir, epochs=cfg.epochs, batch_size=cfg.batch_size,
        num_workers=workers, device=cfg.device, amp=cfg.amp, monitor="val_aji", mode="max",
        seed=cfg.seed, progress=False,  # plain progress lines (steps, loss, time left) come from the engine
        # the engine's time budget, checked after every step, carried over --resume; the schedule follows it
        max_minutes=cfg.max_minutes, time_budget_clock=cfg.time_budget_clock, time_budget_check="step",
        drop_last=len(ds) > cfg.batch_size,
        run_config=cfg)
