"""Training the segmentation network on random patches with the shared engine (``biomedai.train``).

Patches are drawn with their centre inside the field of view, flipped and rotated by multiples of 90
degrees, with a small gamma/contrast jitter. Every epoch the network is run on the whole validation images
(tiled, as at prediction time) and scored inside the FOV; the best-Dice threshold on the validation images
is the one stored with the model. Training stops after ``epochs`` or after the epoch that spends the engine's
wall-clock budget ``max_minutes`` (carried over ``--resume``), whichever is first; the learning rate follows a
cosine (``biomedai.train.schedules.budget_cosine``) over whichever of the two is closer to its end.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset


from .config import VesselsConfig
from .datasets import VesselCase
from .imaging import load_vessel_image, network_input, read_fov_mask
from .model import architecture_of, build_unet
from .segmentation import best_dice_threshold, pixel_scores, vessel_probability

logger = logging.getLogger(__name__)


@dataclass
class PreparedCase:
    """A case in memory: network input, manual mask and FOV."""

    case_id: str
    x: np.ndarray
    truth: np.ndarray
    fov: np.ndarray


def prepare_case(case: VesselCase, cfg: VesselsConfig) -> PreparedCase:
    """Read and preprocess one case (image, manual mask, FOV)."""
    image = load_vessel_image(case.image, channel=cfg.channel, fov_mask=case.fov)
    truth = read_fov_mask(case.manual, image.plane.shape) if case.manual else np.zeros(image.plane.shape, bool)
    x = network_input(image.plane, image.fov, vessels_dark=cfg.vessels_dark, clahe=cfg.clahe,
                      clip_limit=cfg.clahe_clip_limit)
    return PreparedCase(case.case_id, x, truth, image.fov)


class VesselPatches(Dataset):
    """``length`` random augmented patches per epoch from the prepared cases (seeded per index and epoch)."""

    def __init__(self, cases: Sequence[PreparedCase], patch: int, length: int, seed: int = 0) -> None:
        self.cases = list(cases)
        self.patch = int(patch)
        self.length = int(length)
        self.seed = int(seed)
        self.epoch = 0
        half = self.patch // 2
        self.centres = []
        for c in self.cases:
            pad = np.zeros_like(c.fov)
            pad[half:c.fov.shape[0] - half, half:c.fov.shape[1] - half] = True
            self.centres.append(np.argwhere(c.fov & pad))

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        """New draws every epoch (the engine calls this with the 0-based epoch, also on resume)."""
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        k = int(rng.integers(len(self.cases)))
        case = self.cases[k]
        cy, cx = self.centres[k][rng.integers(len(self.centres[k]))]
        half = self.patch // 2
        sl = (slice(cy - half, cy - half + self.patch), slice(cx - half, cx - half + self.patch))
        x, y = case.x[sl], case.truth[sl].astype(np.float32)
        turns = int(rng.integers(4))
        x, y = np.rot90(x, turns), np.rot90(y, turns)
        if rng.random() < 0.5:
            x, y = x[:, ::-1], y[:, ::-1]
        x = np.clip(x, 0, 1) ** rng.uniform(0.7, 1.4) * rng.uniform(0.85, 1.15)
        return (torch.from_numpy(np.ascontiguousarray(x, np.float32))[None],
                torch.from_numpy(np.ascontiguousarray(y))[None])


def _validator(val_cases: Sequence[PreparedCase]) -> Any:
    def validate(model: torch.nn.Module, loader: Any) -> dict[str, float]:
        probs = [vessel_probability(model, c.x) for c in val_cases]
        truths = [c.truth for c in val_cases]
        fovs = [c.fov for c in val_cases]
        threshold, dice = best_dice_threshold(probs, truths, fovs)
        aucs = [pixel_scores(p, c.truth, c.fov, threshold)["auc"] for p, c in zip(probs, val_cases)]
        return {"val_dice": dice, "val_auc": float(np.mean(aucs)), "val_threshold": threshold}

    return validate


def train_segmentation(train_cases: Sequence[VesselCase], val_cases: Sequence[VesselCase], cfg: VesselsConfig,
                       output_dir: Path, *, job_minutes: float | None = None,
                       resume: bool | None = None) -> dict[str, Any]:
    """Train the U-Net; returns the engine's result, the model and the validation threshold and scores.

    ``job_minutes`` ends this call after the epoch that passes it while the budget ``cfg.max_minutes`` (and
    its cosine) goes on counting over resumed calls (``resume=True``, or ``BIOMEDAI_RESUME=1``).
    """
    from monai.losses import DiceCELoss

    from biomedai.train import load_weights, train_model
    from biomedai.train.schedules import budget_cosine

    train_prepared = [prepare_case(c, cfg) for c in train_cases]
    val_prepared = [prepare_case(c, cfg) for c in val_cases]
    patches = VesselPatches(train_prepared, cfg.patch_size, cfg.steps_per_epoch * cfg.batch_size, cfg.seed)
    total_steps = cfg.epochs * cfg.steps_per_epoch
    loss = DiceCELoss(sigmoid=True)
    result = train_model(
        lambda: build_unet(cfg.unet_features), patches, [0] if val_prepared else None,
        loss_fn=loss, validate=_validator(val_prepared) if val_prepared else None,
        scheduler=lambda opt, trainer: budget_cosine(opt, trainer.budget_fraction, total_steps, warmup_steps=100,
                                                     floor=0.02),
        output_dir=output_dir, epochs=cfg.epochs, lr=cfg.lr, weight_decay=cfg.weight_decay,
        batch_size=cfg.batch_size, monitor="val_dice" if val_prepared else None, mode="max" if val_prepared else "min",
        scheduler_interval="step", max_minutes=cfg.max_minutes, time_budget_check="epoch", job_minutes=job_minutes,
        amp=False, device="cpu", seed=cfg.seed, progress=False, run_config=cfg, resume=resume)
    net = build_unet(cfg.unet_features)
    load_weights(net, result.weights)
    chosen = choose_tta(net, val_prepared) if val_prepared else {"threshold": 0.5, "val_dice": float("nan"),
                                                                   "tta": False}
    return {"result": result, "model": net, **chosen,
            "train_ids": [c.case_id for c in train_cases], "val_ids": [c.case_id for c in val_cases]}


def choose_tta(net: torch.nn.Module, val_cases: Sequence[PreparedCase]) -> dict[str, Any]:
    """Flip test-time augmentation on or off, and the threshold, by the pooled Dice of the validation images
    (on only when it is higher)."""
    truths, fovs = [c.truth for c in val_cases], [c.fov for c in val_cases]
    scores = {}
    for tta in (False, True):
        probs = [vessel_probability(net, c.x, tta=tta) for c in val_cases]
        scores[tta] = best_dice_threshold(probs, truths, fovs)
    tta = scores[True][1] > scores[False][1]
    return {"threshold": scores[tta][0], "val_dice": scores[tta][1], "tta": tta,
            "val_dice_without_tta": scores[False][1], "val_dice_with_tta": scores[True][1],
            "threshold_without_tta": scores[False][0], "threshold_with_tta": scores[True][0]}


def split_training_validation(cases: Sequence[VesselCase], n_val: int = 3) -> tuple[list[VesselCase], list[VesselCase]]:
    """The last ``n_val`` cases by id are validation (DRIVE: 38, 39, 40), the rest training; fixed, not tuned."""
    ordered = sorted(cases, key=lambda c: c.case_id)
    if len(ordered) <= n_val:
        return ordered, []
    return ordered[:-n_val], ordered[-n_val:]


def save_trained_model(folder: Path, trained: dict[str, Any], cfg: VesselsConfig, data_name: str,
                       *, half: bool = True, cpu_minutes: float | None = None) -> Path:
    """Write the trained network as a model folder (weights.pt + model.json) with its threshold and split."""
    from biomedai.train.model_folder import ModelInfo, save_model_folder


    result = trained["result"]
    info = ModelInfo(
        method="vessels_biosegment", architecture=architecture_of(cfg.unet_features),
        preprocessing={"channel": cfg.channel, "vessels_dark": cfg.vessels_dark, "clahe": cfg.clahe,
                       "clahe_clip_limit": cfg.clahe_clip_limit, "threshold": trained["threshold"],
                       "tta": bool(trained.get("tta", False)),
                       "threshold_chosen_on": "validation images " + ", ".join(trained["val_ids"])
                       + " (with flip test-time augmentation on or off, whichever scores higher there)"},
        class_names=["background", "vessel"],
        training_data={"name": data_name, "split": {"train": trained["train_ids"], "validation": trained["val_ids"]},
                       "licence": "DRIVE: research use only (registration with the authors); no redistribution",
                       "non_commercial": True},
        metrics={"val_dice": trained["val_dice"], "best_epoch": result.best_epoch,
                 **{k: trained[k] for k in ("val_dice_without_tta", "val_dice_with_tta") if k in trained},
                 "epochs_completed": result.epochs_completed, "steps": result.global_step},
        metrics_data="validation images " + ", ".join(trained["val_ids"]) + " (inside the FOV)",
        licence="research use only (follows the DRIVE terms)",
        extra={"recipe": {k: getattr(cfg, k) for k in ("patch_size", "batch_size", "steps_per_epoch", "epochs", "lr",
                                                        "weight_decay", "max_minutes", "seed")},
               "train_minutes": cpu_minutes})
    return save_model_folder(folder, trained["model"], info, half=half)
