"""The learned 3-D WMH (lesion) segmenter: a small MONAI U-Net on 1.5 mm FLAIR, trained on 48^3 patches with the
shared engine and run over the whole brain with the shared volume engine (``predict_tiled``, Gaussian blending).

It is the learned alternative to the morphology baseline of ``wmh`` (spec 3.4 asks for AccuBrain, which is
proprietary). Input: a FLAIR z-scored in the brain (``preprocess.normalise_flair``), downsampled by ``factor``
(trilinear); output: the lesion probability brought back to the FLAIR grid (trilinear), thresholded, inside the
brain mask.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from scipy import ndimage
from torch.utils.data import Dataset

from biomedai.data.tiling import predict_tiled
from biomedai.errors import InvalidInputError
from biomedai.train import train_model, warmup_cosine
from biomedai.train.checkpoint import load_weights

from .preprocess import normalise_flair

logger = logging.getLogger(__name__)

#: the network's architecture as recorded in a model folder (``build_wmh_net(**ARCH)``)
DEFAULT_ARCH: dict[str, Any] = {"net": "monai.UNet", "channels": [16, 32, 64, 128], "strides": [2, 2, 2],
                                "num_res_units": 1, "factor": 1.5, "patch": 48}


class WmhRecipe(NamedTuple):
    """How the U-Net is trained (the recipe of ``train_wmh_net``; recorded in the model folder).

    ``steps`` optimiser steps of ``batch`` patches (``steps_per_epoch`` per epoch, validation after each),
    ``lesion_fraction`` of the patches centred on a lesion voxel, AdamW at ``lr`` with a linear warm-up over
    ``warmup_steps`` and a cosine decay to 0 at ``steps``; Dice + focal loss (batch Dice: patches without
    lesion do not divide by zero; focal gamma 1); left-right flip and a random intensity scale/shift as augmentation.
    """

    steps: int = 1400
    steps_per_epoch: int = 50
    batch: int = 4
    lr: float = 3e-3
    warmup_steps: int = 60
    lesion_fraction: float = 0.7
    weight_decay: float = 1e-4


class WmhSubject(NamedTuple):
    """One training subject at the network's resolution: z-scored FLAIR and binary lesion mask."""

    flair: np.ndarray
    lesion: np.ndarray


def build_wmh_net(channels: Sequence[int] = (8, 16, 32, 64), strides: Sequence[int] = (2, 2, 2),
                  num_res_units: int = 1, **_: Any) -> torch.nn.Module:
    """A 3-D MONAI U-Net, 1 input channel (FLAIR), 1 output logit (lesion)."""
    from monai.networks.nets import UNet

    return UNet(spatial_dims=3, in_channels=1, out_channels=1, channels=tuple(channels), strides=tuple(strides),
                num_res_units=num_res_units)


def resample(volume: np.ndarray, shape: Sequence[int], order: int = 1) -> np.ndarray:
    """``volume`` resampled to ``shape`` (trilinear for ``order=1``, nearest for 0)."""
    zoom = [t / s for t, s in zip(shape, volume.shape)]
    out = ndimage.zoom(volume.astype(np.float32), zoom, order=order, grid_mode=True, mode="grid-constant")
    return out[tuple(slice(0, t) for t in shape)]


def low_res_shape(shape: Sequence[int], factor: float) -> tuple[int, ...]:
    return tuple(max(1, round(s / factor)) for s in shape)


def prepare_subject(flair: np.ndarray, brain: np.ndarray, lesion: np.ndarray | None, factor: float = 1.5) -> WmhSubject:
    """Z-score the FLAIR in the brain and bring FLAIR and lesion mask (> 0.5 after trilinear) to 1/``factor``."""
    shape = low_res_shape(flair.shape, factor)
    x = resample(normalise_flair(flair, brain), shape)
    y = (resample(lesion > 0, shape) > 0.5) if lesion is not None else np.zeros(shape, bool)
    return WmhSubject(x.astype(np.float32), y.astype(np.float32))


class PatchSampler(Dataset):
    """``n`` random ``patch^3`` crops per epoch, ``lesion_fraction`` of them centred on a lesion voxel; when
    ``augment``: random left-right flip and intensity ``a * x + b`` (a in [0.9, 1.1], b in [-0.1, 0.1]).

    ``subject_weights`` (training only): the probability of drawing each subject (default: in turn, equally);
    e.g. real patients weighted against many SIMULATED ones. Only padded copies are kept (the lesion as uint8).
    """

    def __init__(self, subjects: Sequence[WmhSubject], patch: int, n: int, seed: int = 0, augment: bool = True,
                 lesion_fraction: float = 0.5, subject_weights: Sequence[float] | None = None) -> None:
        self.patch, self.n, self.augment = patch, n, augment
        self.lesion_fraction = lesion_fraction
        self.rng = np.random.default_rng(seed)
        self.weights = None
        if subject_weights is not None:
            w = np.asarray(subject_weights, float)
            if w.shape != (len(subjects),) or (w < 0).any() or w.sum() <= 0:
                raise ValueError(f"subject_weights: need {len(subjects)} non-negative weights, got {w.tolist()}")
            self.weights = w / w.sum()
        self.shapes = [s.flair.shape for s in subjects]
        self.lesion_voxels = [np.argwhere(s.lesion > 0) for s in subjects]
        # padded once by a patch on every side, so a crop centred anywhere in the volume fits
        self.padded = [(np.pad(s.flair.astype(np.float32), patch), np.pad((s.lesion > 0).astype(np.uint8), patch))
                       for s in subjects]
        if not augment:  # a fixed validation set: draw the crops once
            self.fixed = [self._draw(i) for i in range(n)]

    def __len__(self) -> int:
        return self.n

    def _draw(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        k = i % len(self.shapes) if self.weights is None else int(self.rng.choice(len(self.shapes), p=self.weights))
        p = self.patch
        if self.rng.random() < self.lesion_fraction and len(self.lesion_voxels[k]):
            centre = self.lesion_voxels[k][self.rng.integers(len(self.lesion_voxels[k]))]
        else:
            centre = np.array([self.rng.integers(d) for d in self.shapes[k]])
        window = tuple(slice(int(c) + p - p // 2, int(c) + p - p // 2 + p) for c in centre)
        x, y = self.padded[k][0][window], self.padded[k][1][window].astype(np.float32)
        if self.augment and self.rng.random() < 0.5:
            x, y = x[::-1], y[::-1]
        if self.augment:
            x = x * self.rng.uniform(0.9, 1.1) + self.rng.uniform(-0.1, 0.1)
        return torch.from_numpy(x[None].copy()), torch.from_numpy(y[None].copy())

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.fixed[i] if not self.augment else self._draw(i)


#: probability thresholds ``choose_threshold`` picks from (on validation patches of the training subjects)
THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


def train_wmh_net(train: Sequence[WmhSubject], val: Sequence[WmhSubject], output_dir: Path, *,
                  recipe: WmhRecipe | None = None, max_cpu_minutes: float | None = 8.0, seed: int = 0,
                  arch: dict[str, Any] | None = None, val_patches: int = 32,
                  max_wall_minutes: float | None = None,
                  subject_weights: Sequence[float] | None = None) -> dict[str, Any]:
    """Train the U-Net on random patches of ``train`` (``WmhRecipe``); the best checkpoint on fixed patches of
    ``val`` is kept, and the threshold with the best Dice on those patches (``choose_threshold``). Training stops
    at ``recipe.steps`` or after ``max_cpu_minutes`` of this process's CPU time, or of wall time when
    ``max_wall_minutes`` is the smaller (a shared, loaded machine). ``subject_weights``: the probability of
    drawing each training subject (``PatchSampler``). Returns the model (best weights), threshold,
    history, epochs and CPU seconds."""
    from monai.losses import DiceFocalLoss

    recipe = recipe or WmhRecipe()
    arch = dict(DEFAULT_ARCH if arch is None else arch)
    torch.manual_seed(seed)
    model = build_wmh_net(**arch)
    epochs = max(1, recipe.steps // recipe.steps_per_epoch)
    train_ds = PatchSampler(train, int(arch["patch"]), recipe.steps_per_epoch * recipe.batch, seed,
                            lesion_fraction=recipe.lesion_fraction, subject_weights=subject_weights)
    val_ds = PatchSampler(val, int(arch["patch"]), val_patches, seed + 1, augment=False,
                          lesion_fraction=recipe.lesion_fraction)
    clock, minutes = "cpu", max_cpu_minutes
    if max_wall_minutes is not None and (minutes is None or max_wall_minutes < minutes):
        clock, minutes = "wall", max(0.05, max_wall_minutes)
    start = time.process_time()
    result = train_model(model, train_ds, val_ds, loss_fn=DiceFocalLoss(sigmoid=True, batch=True, gamma=1.0),
                         optimizer=lambda p: torch.optim.AdamW(p, lr=recipe.lr, weight_decay=recipe.weight_decay),
                         scheduler=lambda o: warmup_cosine(o, recipe.warmup_steps, epochs * recipe.steps_per_epoch),
                         scheduler_interval="step", output_dir=Path(output_dir), epochs=epochs,
                         batch_size=recipe.batch, device="cpu", amp=False, progress=False, seed=seed,
                         max_minutes=minutes, time_budget_clock=clock, export_weights=True)
    if result.weights is not None:
        load_weights(model, result.weights)
    model.eval()
    threshold, val_dice = choose_threshold(model, val_ds)
    return {"model": model, "history": result.history, "epochs": result.epochs_completed,
            "best_epoch": result.best_epoch, "cpu_s": time.process_time() - start, "arch": arch,
            "recipe": recipe._asdict(), "threshold": threshold, "budget": f"{minutes} {clock} min", "val_dice_at_threshold": val_dice}


def choose_threshold(model: torch.nn.Module, val: Dataset, candidates: Sequence[float] = THRESHOLDS
                     ) -> tuple[float, dict[float, float]]:
    """The probability threshold with the best pooled Dice over the validation patches ``val`` (ties: the
    higher threshold) and the Dice of every candidate."""
    with torch.inference_mode():
        probs = torch.cat([torch.sigmoid(model(x[None])) for x, _ in val]).numpy()
    truth = np.concatenate([y[None].numpy() for _, y in val]) > 0.5
    dice = {}
    for t in candidates:
        pred = probs >= t
        denom = pred.sum() + truth.sum()
        dice[float(t)] = float(2 * (pred & truth).sum() / denom) if denom else 1.0
    best = max(dice, key=lambda t: (dice[t], t))
    return best, dice


def lesion_probability(model: torch.nn.Module, flair: np.ndarray, brain: np.ndarray, factor: float = 1.5,
                       patch: int = 48) -> np.ndarray:
    """P(lesion) on the FLAIR grid: the network over overlapping ``patch^3`` tiles (Gaussian blend) at
    1/``factor`` resolution, sigmoid, trilinear back to the FLAIR grid, 0 outside the brain."""
    if flair.ndim != 3:
        raise InvalidInputError(f"the WMH network needs a 3-D FLAIR, got shape {flair.shape}")
    x = prepare_subject(flair, brain, None, factor).flair
    model.eval()
    logits = predict_tiled(x, model, tile=patch, overlap=0.25, batch_size=1, blend="gaussian", progress=False)
    prob = resample(1.0 / (1.0 + np.exp(-logits)), flair.shape)
    return np.where(brain > 0, prob, 0.0).astype(np.float32)


def segment_wmh_network(model: torch.nn.Module, flair: np.ndarray, brain: np.ndarray, *, factor: float = 1.5,
                        patch: int = 48, threshold: float = 0.5) -> np.ndarray:
    """Binary lesion mask of ``flair`` from the trained network (``lesion_probability`` >= ``threshold``)."""
    return lesion_probability(model, flair, brain, factor, patch) >= threshold
