"""3-D vessel segmentation of two-photon stacks: a small anisotropic MONAI U-Net trained on random patches with
the shared engine, tiled 3-D inference, and length density of the result (mm/mm^3 and mm/mm^2 on the projection).

The voxels are strongly anisotropic (z step 5 um, 0.6-2.5 um in-plane), so the network pools z only at one
level. Validation: the last quarter of the columns of every training stack is held out of the patches; it
chooses the best epoch, the probability threshold, and the smoothing and spur length of the mask whose
skeleton is measured (cavities filled: :func:`measurement_mask`; README decision 12).
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
from scipy import ndimage as ndi
from torch.utils.data import Dataset

from biomedai.data.tiling import predict_tiled
from biomedai.metrics.segmentation import cldice, dice

from .compare import percent_error
from .datasets import VolumeStack
from .imaging import max_projection
from .measures import clean_mask, prune_spurs, skeleton_measures, skeleton_of
from .segmentation import best_dice_threshold

logger = logging.getLogger(__name__)

#: spur lengths (micrometres, measured with the voxel size) tried on the validation region (3-D and projection)
SPUR_GRID_UM = (0.0, 5.0, 10.0, 20.0)
#: Gaussian smoothing of the probability (micrometres) tried on the validation region before measuring lengths
SMOOTH_GRID_UM = (0.0, 0.5, 1.0, 2.0)
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

    def set_epoch(self, epoch: int) -> None:
        """New draws every epoch (the engine calls this with the 0-based epoch, also on resume)."""
        self.epoch = int(epoch)

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


def measurement_mask(prob: np.ndarray, threshold: float, spacing: Sequence[float], *, smooth_um: float = 0.0,
                     min_object_voxels: int = 200) -> np.ndarray:
    """The mask whose skeleton is measured: the probability smoothed by a Gaussian of ``smooth_um`` micrometres
    (per-axis sigma = ``smooth_um`` / voxel size), thresholded, small objects removed, enclosed cavities filled.

    Skeletonisation preserves topology, so every enclosed cavity of a mask (the one-voxel holes of a noisy
    prediction) becomes a closed medial surface and every tunnel a loop; skan measures such surfaces as a
    mesh of short branches. On vesselNN this made the 3-D length of the U-Net masks 7-10 times the manual
    one (1040 cavities in one stack, 85 % of its skeleton voxels junctions; the manual labels have none).
    Filling cavities and smoothing the probability by about a micrometre remove them (README decision 12).

    Example:
        >>> p = np.zeros((5, 20, 20), np.float32); p[1:4, 5:15, 5:15] = 0.9; p[2, 9, 9] = 0.1   # a cavity
        >>> int(measurement_mask(p, 0.5, (5.0, 1.0, 1.0), min_object_voxels=1).sum())
        300
    """
    p = np.asarray(prob, np.float32)
    if smooth_um > 0:
        p = ndi.gaussian_filter(p, [float(smooth_um) / float(s) for s in spacing])
    return ndi.binary_fill_holes(clean_mask(p >= threshold, min_object_voxels))


def length_densities(mask: np.ndarray, spacing: Sequence[float], spur_3d: float = 0.0,
                     spur_mip: float = 0.0) -> tuple[float, float]:
    """Skeleton length density of a 3-D mask (mm/mm^3) and of its maximum projection (mm/mm^2); spurs in um."""
    (d3, d2), = densities_by_spur(mask, spacing, [(spur_3d, spur_mip)])
    return d3, d2


def densities_by_spur(mask: np.ndarray, spacing: Sequence[float], spurs: Sequence[tuple[float, float]]
                      ) -> list[tuple[float, float]]:
    """:func:`length_densities` for several (3-D, projection) spur lengths in micrometres (terminal branches
    shorter than that are pruned, measured with the anisotropic voxel size), skeletonising each mask once."""
    mip = max_projection(mask)
    skel3, skel2 = skeleton_of(mask), skeleton_of(mip)
    out = []
    for spur_3d, spur_mip in spurs:
        s3 = prune_spurs(skel3, spur_3d, spacing=tuple(spacing)) if spur_3d > 0 else skel3.copy()
        s2 = prune_spurs(skel2, spur_mip, spacing=float(spacing[1])) if spur_mip > 0 else skel2.copy()
        d3 = skeleton_measures(mask, spacing=tuple(spacing), skeleton=s3)
        d2 = skeleton_measures(mip, spacing=float(spacing[1]), skeleton=s2)
        out.append((float(d3["length_density"]), float(d2["length_density"])))
    return out


def choose_length_settings(probs: Sequence[np.ndarray], threshold: float, truths: Sequence[np.ndarray],
                           spacings: Sequence[Sequence[float]], *, min_object_voxels: int = 200,
                           smooth_grid: Sequence[float] = SMOOTH_GRID_UM, spur_grid: Sequence[float] = SPUR_GRID_UM
                           ) -> dict[str, Any]:
    """Smoothing (um) and spur length (um) of :func:`measurement_mask`, chosen separately for the 3-D skeleton
    and the projection by the lowest mean absolute length-density % error on the validation regions."""
    manual = [length_densities(t, s) for t, s in zip(truths, spacings)]
    errors: dict[str, dict[str, float]] = {"3d": {}, "mip": {}}
    for smooth in smooth_grid:
        masks = [measurement_mask(p, threshold, s, smooth_um=smooth, min_object_voxels=min_object_voxels)
                 for p, s in zip(probs, spacings)]
        measured = [densities_by_spur(m, s, [(g, g) for g in spur_grid]) for m, s in zip(masks, spacings)]
        for i, spur in enumerate(spur_grid):
            key = f"{float(smooth):g}/{float(spur):g}"
            errors["3d"][key] = float(np.nanmean([percent_error(a[0], b[i][0]) for a, b in zip(manual, measured)]))
            errors["mip"][key] = float(np.nanmean([percent_error(a[1], b[i][1]) for a, b in zip(manual, measured)]))
    best3, best2 = (min(errors[k], key=errors[k].get).split("/") for k in ("3d", "mip"))
    return {"smooth_3d_um": float(best3[0]), "spur_3d_um": float(best3[1]), "smooth_mip_um": float(best2[0]),
            "spur_mip_um": float(best2[1]), "validation_errors": errors,
            "validation_errors_key": "smoothing um / spur um: mean % error"}


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
    from biomedai.train.schedules import budget_cosine

    cut = [split_columns(s.image.shape[2], recipe.validation_fraction) for s in train_stacks]
    norm = [normalise_stack(s.image) for s in train_stacks]
    train_x = [v[:, :, :c] for v, c in zip(norm, cut)]
    train_y = [s.label[:, :, :c] for s, c in zip(train_stacks, cut)]
    val_x = [v[:, :, c:] for v, c in zip(norm, cut)]
    val_y = [s.label[:, :, c:] for s, c in zip(train_stacks, cut)]
    patches = VolumePatches(train_x, train_y, recipe.patch, recipe.steps_per_epoch * recipe.batch_size, recipe.seed)
    total = recipe.epochs * recipe.steps_per_epoch

    def factory() -> torch.nn.Module:
        return build_unet3d(recipe.channels, recipe.strides)

    result = train_model(
        factory, patches, [0], loss_fn=DiceCELoss(sigmoid=True), validate=_validator(val_x, val_y, recipe.tile),
        scheduler=lambda opt, trainer: budget_cosine(opt, trainer.budget_fraction, total, warmup_steps=100,
                                                     floor=0.02),
        output_dir=output_dir, epochs=recipe.epochs, lr=recipe.lr, weight_decay=recipe.weight_decay,
        batch_size=recipe.batch_size, monitor="val_dice", mode="max", scheduler_interval="step",
        max_minutes=recipe.max_minutes, time_budget_check="epoch", amp=False, device="cpu", seed=recipe.seed,
        progress=False)
    net = factory()
    load_weights(net, result.weights)
    probs = [volume_probability(net, v, tile=recipe.tile) for v in val_x]
    threshold, val_dice = best_dice_threshold(probs, val_y, [np.ones(t.shape, bool) for t in val_y], THRESHOLD_GRID)
    settings = choose_length_settings(probs, threshold, val_y, [s.spacing for s in train_stacks],
                                      min_object_voxels=recipe.min_object_voxels)
    return {"model": net, "result": result, "threshold": threshold, "val_dice": val_dice, **settings,
            "train_stacks": [s.name for s in train_stacks], "validation": f"columns >= {1 - recipe.validation_fraction:g}"
            " of the width of every training stack"}


def evaluate_stack(net: torch.nn.Module, stack: VolumeStack, *, threshold: float, settings: dict[str, float],
                   recipe: VolumeRecipe) -> dict[str, Any]:
    """:func:`score_stack` of the network's probability on one stack."""
    prob = volume_probability(net, normalise_stack(stack.image), tile=recipe.tile)
    return score_stack(prob, stack, threshold=threshold, settings=settings, min_object_voxels=recipe.min_object_voxels)


def score_stack(prob: np.ndarray, stack: VolumeStack, *, threshold: float, settings: dict[str, float],
                min_object_voxels: int = 200) -> dict[str, Any]:
    """Dice and clDice of the thresholded mask, and its length densities: 'raw' (the thresholded mask as it is)
    and with the validation-chosen ``settings`` (``smooth_3d_um``, ``spur_3d_um``, ``smooth_mip_um``,
    ``spur_mip_um``; :func:`measurement_mask` fills cavities) against the manual label's (never altered)."""
    pred = clean_mask(prob >= threshold, min_object_voxels)
    man3, man2 = length_densities(stack.label, stack.spacing)
    raw3, raw2 = length_densities(pred, stack.spacing)
    mask3 = measurement_mask(prob, threshold, stack.spacing, smooth_um=settings["smooth_3d_um"],
                             min_object_voxels=min_object_voxels)
    mask2 = measurement_mask(prob, threshold, stack.spacing, smooth_um=settings["smooth_mip_um"],
                             min_object_voxels=min_object_voxels)
    d3, _ = length_densities(mask3, stack.spacing, spur_3d=settings["spur_3d_um"])
    _, d2 = length_densities(mask2, stack.spacing, spur_mip=settings["spur_mip_um"])
    return {"stack": stack.name, "dice_3d": float(dice(stack.label, pred)), "cldice_3d": float(cldice(stack.label, pred)),
            "dice_3d_measured_mask": float(dice(stack.label, mask3)),
            "manual_mm_per_mm3": man3, "manual_mip_mm_per_mm2": man2,
            "raw_mm_per_mm3": raw3, "raw_mip_mm_per_mm2": raw2,
            "raw_pct_error_3d": percent_error(man3, raw3), "raw_pct_error_mip": percent_error(man2, raw2),
            "measured_mm_per_mm3": d3, "measured_mip_mm_per_mm2": d2,
            "pct_error_3d": percent_error(man3, d3), "pct_error_mip": percent_error(man2, d2),
            "threshold": threshold, **{k: float(settings[k]) for k in ("smooth_3d_um", "spur_3d_um", "smooth_mip_um",
                                                                       "spur_mip_um")}}


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
