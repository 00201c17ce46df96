"""3-D vessel segmentation of two-photon stacks: a small anisotropic MONAI U-Net trained on random patches with
the shared engine, tiled 3-D inference, and length density of the result (mm/mm^3 and mm/mm^2 on the projection).

The voxels are strongly anisotropic (z step 5 um, 0.6-2.5 um in-plane), so the network pools z only at one
level. Validation: the last quarter of the columns of every training stack is held out of the patches; it
chooses the best epoch, the probability threshold and the spur length of the skeleton (README decision 12).
"""
from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from biomedai.data.tiling import predict_tiled
from biomedai.metrics.segmentation import cldice, dice

from .compare import percent_error
from .datasets import VolumeStack
from .imaging import max_projection
from .measures import clean_mask, skeleton_measures, skeleton_of
from .segmentation import best_dice_threshold
from .training import TimeBudget, cosine_factor

logger = logging.getLogger(__name__)

#: spur lengths (pixels) tried on the validation region, for the 3-D skeleton and the projection's
SPUR_GRID = (0.0, 8.0, 16.0, 32.0)
THRESHOLD_GRID = np.round(np.arange(0.2, 0.81, 0.05), 2)


@dataclass
class VolumeRecipe:
    """Network widths, patch and optimisation settings of the 3-D U-Net (our choices; the paper is 2-D)."""

    channels: tuple[int, ...] = (8, 16, 32, 64)
    strides: tuple[tuple[int, int, int], ...] = ((1, 2, 2), (2, 2, 2), (1, 2, 2))
    patch: tuple[int, int, int] = (8, 96, 96)
    tile: tuple[int, int, int] = (8, 128, 128)
    batch_size: int = 4
    steps_per_epoch: int = 100
    epochs: int = 40
    lr: float = 3e-3
    weight_decay: float = 1e-4
    max_minutes: float = 5.0
    validation_fraction: float = 0.25
    min_object_voxels: int = 200
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def build_unet3d(channels: Sequence[int] = (8, 16, 32, 64),
                 strides: Sequence[Sequence[int]] = ((1, 2, 2), (2, 2, 2), (1, 2, 2))) -> torch.nn.Module:
    """A 3-D MONAI UNet (one residual unit per level, instance norm) giving one vessel logit per voxel.

    Example:
        >>> net = build_unet3d((4, 8), ((1, 2, 2),))
        >>> net(torch.zeros(1, 1, 4, 16, 16)).shape
        torch.Size([1, 1, 4, 16, 16])
    """
    from monai.networks.nets import UNet

    return UNet(spatial_dims=3, in_channels=1, out_channels=1, channels=tuple(int(c) for c in channels),
                strides=tuple(tuple(int(s) for s in st) for st in strides), num_res_units=1, norm="instance")


def normalise_stack(volume: np.ndarray) -> np.ndarray:
    """0.5-99.5 percentile stretch of a stack to float32 [0, 1] (the network's input)."""
    v = np.asarray(volume, np.float32)
    lo, hi = np.percentile(v, (0.5, 99.5))
    return np.clip((v - lo) / max(float(hi - lo), 1e-6), 0, 1).astype(np.float32)


def split_columns(width: int, fraction: float) -> int:
    """First column of the validation region (the last ``fraction`` of the columns)."""
    return round(width * (1.0 - fraction))


class VolumePatches(Dataset):
    """``length`` random augmented 3-D patches per epoch from the training columns of each stack."""

    def __init__(self, volumes: Sequence[np.ndarray], labels: Sequence[np.ndarray], patch: Sequence[int],
                 length: int, seed: int = 0) -> None:
        self.volumes = [np.asarray(v, np.float32) for v in volumes]
        self.labels = [np.asarray(lab, np.float32) for lab in labels]
        self.patch = tuple(int(p) for p in patch)
        self.length = int(length)
        self.seed = int(seed)
        self.epoch = 0
        for v in self.volumes:
            if any(s < p for s, p in zip(v.shape, self.patch)):
                raise ValueError(f"volume {v.shape} is smaller than the patch {self.patch}")

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        k = int(rng.integers(len(self.volumes)))
        vol, lab = self.volumes[k], self.labels[k]
        start = [int(rng.integers(s - p + 1)) for s, p in zip(vol.shape, self.patch)]
        sl = tuple(slice(a, a + p) for a, p in zip(start, self.patch))
        x, y = vol[sl], lab[sl]
        turns = int(rng.integers(4)) if self.patch[1] == self.patch[2] else 2 * int(rng.integers(2))
        x, y = np.rot90(x, turns, axes=(1, 2)), np.rot90(y, turns, axes=(1, 2))
        for axis in (0, 2):
            if rng.random() < 0.5:
                x, y = np.flip(x, axis), np.flip(y, axis)
        x = np.clip(x, 0, 1) ** rng.uniform(0.7, 1.4) * rng.uniform(0.85, 1.15)
        return (torch.from_numpy(np.ascontiguousarray(x, np.float32))[None],
                torch.from_numpy(np.ascontiguousarray(y, np.float32))[None])


def volume_probability(net: torch.nn.Module, volume: np.ndarray, *, tile: Sequence[int] = (8, 128, 128),
                       overlap: float = 0.25, batch_size: int = 2) -> np.ndarray:
    """Sigmoid vessel probability of a normalised stack by Gaussian-blended 3-D tiles (reflect-padded)."""
    net.eval()

    def forward(batch: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(net(batch))

    return predict_tiled(np.asarray(volume, np.float32), forward, tile=tuple(tile), overlap=overlap,
                         batch_size=batch_size, framework="torch", device="cpu", pad_mode="reflect", progress=False)


def length_densities(mask: np.ndarray, spacing: Sequence[float], spur_3d: float = 0.0,
                     spur_mip: float = 0.0) -> tuple[float, float]:
    """Skeleton length density of a 3-D mask (mm/mm^3) and of its maximum projection (mm/mm^2)."""
    (d3, d2), = densities_by_spur(mask, spacing, [(spur_3d, spur_mip)])
    return d3, d2


def densities_by_spur(mask: np.ndarray, spacing: Sequence[float], spurs: Sequence[tuple[float, float]]
                      ) -> list[tuple[float, float]]:
    """:func:`length_densities` for several (3-D, projection) spur lengths, skeletonising each mask once."""
    mip = max_projection(mask)
    skel3, skel2 = skeleton_of(mask), skeleton_of(mip)
    out = []
    for spur_3d, spur_mip in spurs:
        d3 = skeleton_measures(mask, spacing=tuple(spacing), skeleton=skel3.copy(), spur_length_px=spur_3d)
        d2 = skeleton_measures(mip, spacing=float(spacing[1]), skeleton=skel2.copy(), spur_length_px=spur_mip)
        out.append((float(d3["length_density"]), float(d2["length_density"])))
    return out


def choose_spur_lengths(masks: Sequence[np.ndarray], truths: Sequence[np.ndarray],
                        spacings: Sequence[Sequence[float]], grid: Sequence[float] = SPUR_GRID
                        ) -> dict[str, Any]:
    """Spur lengths (3-D, projection) with the lowest mean absolute length-density % error on validation regions."""
    manual = [length_densities(t, s) for t, s in zip(truths, spacings)]
    measured = [densities_by_spur(m, s, [(g, g) for g in grid]) for m, s in zip(masks, spacings)]
    errors: dict[str, dict[float, float]] = {"3d": {}, "mip": {}}
    for i, spur in enumerate(grid):
        errors["3d"][spur] = float(np.nanmean([percent_error(a[0], b[i][0]) for a, b in zip(manual, measured)]))
        errors["mip"][spur] = float(np.nanmean([percent_error(a[1], b[i][1]) for a, b in zip(manual, measured)]))
    return {"spur_3d": min(errors["3d"], key=errors["3d"].get), "spur_mip": min(errors["mip"], key=errors["mip"].get),
            "validation_errors": {k: {str(s): e for s, e in v.items()} for k, v in errors.items()}}


def _validator(volumes: Sequence[np.ndarray], truths: Sequence[np.ndarray], tile: Sequence[int]) -> Any:
    def validate(model: torch.nn.Module, loader: Any) -> dict[str, float]:
        probs = [volume_probability(model, v, tile=tile) for v in volumes]
        threshold, score = best_dice_threshold(probs, list(truths), [np.ones(t.shape, bool) for t in truths],
                                               THRESHOLD_GRID)
        return {"val_dice": score, "val_threshold": threshold}

    return validate


def train_volume_segmentation(train_stacks: Sequence[VolumeStack], recipe: VolumeRecipe, output_dir: Path
                              ) -> dict[str, Any]:
    """Train on the first columns of every stack, validate on the rest; returns the model and its choices."""
    from monai.losses import DiceCELoss

    from biomedai.train import load_weights, train_model

    cut = [split_columns(s.image.shape[2], recipe.validation_fraction) for s in train_stacks]
    norm = [normalise_stack(s.image) for s in train_stacks]
    train_x = [v[:, :, :c] for v, c in zip(norm, cut)]
    train_y = [s.label[:, :, :c] for s, c in zip(train_stacks, cut)]
    val_x = [v[:, :, c:] for v, c in zip(norm, cut)]
    val_y = [s.label[:, :, c:] for s, c in zip(train_stacks, cut)]
    patches = VolumePatches(train_x, train_y, recipe.patch, recipe.steps_per_epoch * recipe.batch_size, recipe.seed)
    budget = TimeBudget(recipe.max_minutes, patches)
    total = recipe.epochs * recipe.steps_per_epoch

    def factory() -> torch.nn.Module:
        return build_unet3d(recipe.channels, recipe.strides)

    result = train_model(
        factory, patches, [0], loss_fn=DiceCELoss(sigmoid=True), validate=_validator(val_x, val_y, recipe.tile),
        scheduler=lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, cosine_factor(budget, total)),
        output_dir=output_dir, callbacks=[budget], epochs=recipe.epochs, lr=recipe.lr,
        weight_decay=recipe.weight_decay, batch_size=recipe.batch_size, monitor="val_dice", mode="max",
        scheduler_interval="step", amp=False, device="cpu", seed=recipe.seed, progress=False)
    net = factory()
    load_weights(net, result.weights)
    probs = [volume_probability(net, v, tile=recipe.tile) for v in val_x]
    threshold, val_dice = best_dice_threshold(probs, val_y, [np.ones(t.shape, bool) for t in val_y], THRESHOLD_GRID)
    masks = [clean_mask(p >= threshold, recipe.min_object_voxels) for p in probs]
    spurs = choose_spur_lengths(masks, val_y, [s.spacing for s in train_stacks])
    return {"model": net, "result": result, "threshold": threshold, "val_dice": val_dice, **spurs,
            "train_stacks": [s.name for s in train_stacks], "validation": f"columns >= {1 - recipe.validation_fraction:g}"
            " of the width of every training stack"}


def evaluate_stack(net: torch.nn.Module, stack: VolumeStack, *, threshold: float, spur_3d: float, spur_mip: float,
                   recipe: VolumeRecipe) -> dict[str, Any]:
    """Dice, clDice and length densities (unpruned and with the validation-chosen spur lengths) of one stack."""
    prob = volume_probability(net, normalise_stack(stack.image), tile=recipe.tile)
    pred = clean_mask(prob >= threshold, recipe.min_object_voxels)
    man3, man2 = length_densities(stack.label, stack.spacing)
    (raw3, raw2), (pr3, pr2) = densities_by_spur(pred, stack.spacing, [(0.0, 0.0), (spur_3d, spur_mip)])
    return {"stack": stack.name, "dice_3d": float(dice(stack.label, pred)), "cldice_3d": float(cldice(stack.label, pred)),
            "manual_mm_per_mm3": man3, "manual_mip_mm_per_mm2": man2,
            "measured_mm_per_mm3": raw3, "measured_mip_mm_per_mm2": raw2,
            "pct_error_3d": percent_error(man3, raw3), "pct_error_mip": percent_error(man2, raw2),
            "pruned_mm_per_mm3": pr3, "pruned_mip_mm_per_mm2": pr2,
            "pruned_pct_error_3d": percent_error(man3, pr3), "pruned_pct_error_mip": percent_error(man2, pr2),
            "threshold": threshold, "spur_3d": spur_3d, "spur_mip": spur_mip}


def architecture_of_3d(recipe: VolumeRecipe) -> dict[str, Any]:
    """What ``model.json`` records to rebuild the 3-D network."""
    return {"name": "monai.UNet", "spatial_dims": 3, "in_channels": 1, "out_channels": 1,
            "channels": list(recipe.channels), "strides": [list(s) for s in recipe.strides], "num_res_units": 1,
            "norm": "instance", "parameters": int(sum(p.numel() for p in build_unet3d(recipe.channels,
                                                                                      recipe.strides).parameters()))}


def leave_one_out_folds(n: int) -> list[tuple[list[int], int]]:
    """(training indices, test index) for leave-one-stack-out cross-validation."""
    return [([j for j in range(n) if j != i], i) for i in range(n)]


def fold_minutes(total_minutes: float, n_folds: int, overhead_minutes: float = 1.0) -> float:
    """Training minutes per fold that keep ``n_folds`` folds (plus per-fold overhead) inside ``total_minutes``."""
    return max(0.5, math.floor((total_minutes / max(n_folds, 1) - overhead_minutes) * 10) / 10)
