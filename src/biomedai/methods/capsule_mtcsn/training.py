"""Training MTCSN with the shared engine (:func:`biomedai.train.train_model`) and scoring it (Eq. 6 + mIoU/mACC)."""
from __future__ import annotations

import contextlib
import logging
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from biomedai.metrics import classification as cls_metrics
from biomedai.metrics.segmentation import accuracy_from_confusion, iou_from_confusion, segmentation_confusion_matrix
from biomedai.train import train_model
from biomedai.train.checkpoint import load_checkpoint

from .config import MtcsnConfig
from .data import FrameSet
from .inference import MEAN, STD, predict_batch, resolve_device
from .model import Mtcsn, mtcsn_loss
from .palette import CD_CLASSES, TISSUE_CLASSES

logger = logging.getLogger(__name__)


class FrameDataset(torch.utils.data.Dataset):
    """Frames as ``(image [3, s, s], cd, mask [s, s])``; flips and 90-degree turns when ``augment``
    (a capsule has no up or down)."""

    def __init__(self, frames: FrameSet, augment: bool, seed: int = 0) -> None:
        self.frames, self.augment = frames, augment
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        image, mask = self.frames.images[i], self.frames.masks[i]
        if self.augment:
            k = int(self.rng.integers(4))
            image, mask = np.rot90(image, k), np.rot90(mask, k)
            if self.rng.random() < 0.5:
                image, mask = image[:, ::-1], mask[:, ::-1]
        x = (torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255.0 - MEAN) / STD
        return x, torch.tensor(int(self.frames.cd[i])), torch.from_numpy(np.ascontiguousarray(mask)).long()


def evaluate_frames(model: Mtcsn, frames: FrameSet, cfg: MtcsnConfig, batch: int = 32,
                    per_frame: dict[str, Any] | None = None) -> dict[str, Any]:
    """Eq. 6 metrics (accuracy, per-class and macro precision/recall/F1, confusion matrix) for the CD head;
    mIoU, mACC (mean per-class pixel accuracy) and per-class IoU for the TSS head (classes with true pixels).

    ``per_frame`` (a dict) receives ``cd_pred [n]`` and ``pixel_cm [n, 8, 8]`` for bootstrap intervals.
    """
    model.eval()
    probs, frame_cms = [], []
    for start in range(0, len(frames), batch):
        p, masks = predict_batch(model, frames.images[start:start + batch], cfg.input_size)
        if p is not None:
            probs.append(p)
        if masks is not None:
            frame_cms += [segmentation_confusion_matrix(t, m, len(TISSUE_CLASSES), ignore_index=cfg.ignore_index)
                          for t, m in zip(frames.masks[start:start + batch], masks)]
    cm = np.sum(frame_cms, axis=0) if frame_cms else np.zeros((len(TISSUE_CLASSES),) * 2, np.int64)
    if per_frame is not None:
        per_frame["cd_pred"] = np.concatenate(probs).argmax(1) if probs else None
        per_frame["pixel_cm"] = np.stack(frame_cms) if frame_cms else None
    result: dict[str, Any] = {"n_frames": len(frames)}
    if probs:
        pred = np.concatenate(probs).argmax(1)
        labels = list(range(len(CD_CLASSES)))
        result.update({
            "accuracy": cls_metrics.accuracy(frames.cd, pred),
            "precision_macro": cls_metrics.precision(frames.cd, pred, labels=labels),
            "recall_macro": cls_metrics.recall(frames.cd, pred, labels=labels),
            "f1_macro": cls_metrics.f1_score(frames.cd, pred, labels=labels),
            "per_class": {name: {"precision": float(pr), "recall": float(rc), "f1": float(f1)} for name, pr, rc, f1 in
                          zip(CD_CLASSES, cls_metrics.precision(frames.cd, pred, labels=labels, average=None),
                              cls_metrics.recall(frames.cd, pred, labels=labels, average=None),
                              cls_metrics.f1_score(frames.cd, pred, labels=labels, average=None))},
            "confusion_matrix": cls_metrics.confusion_matrix(frames.cd, pred, labels=labels).tolist(),
            "confusion_axes": "rows true, columns predicted: " + ", ".join(CD_CLASSES)})
    if cm.sum():
        iou, present = iou_from_confusion(cm), cm.sum(1) > 0     # classes with ground-truth pixels
        result.update({"miou": miou_of(cm), "macc": macc_of(cm),
                       "per_class_iou": {n: (None if not present[i] or np.isnan(iou[i]) else float(iou[i]))
                                         for i, n in enumerate(TISSUE_CLASSES)}})
    return result


def miou_of(cm: np.ndarray) -> float:
    """Mean IoU over the classes with ground-truth pixels in a summed pixel confusion matrix."""
    cm = np.asarray(cm)
    return float(np.nanmean(iou_from_confusion(cm)[cm.sum(1) > 0]))


def macc_of(cm: np.ndarray) -> float:
    """mACC: mean per-class pixel accuracy over the classes with ground-truth pixels."""
    cm = np.asarray(cm)
    return float(np.nanmean(accuracy_from_confusion(cm)[cm.sum(1) > 0]))


def selection_score(metrics: dict[str, Any]) -> float:
    """What picks the best checkpoint on validation data: mean of CD macro-F1 and mIoU (those present)."""
    values = [metrics[k] for k in ("f1_macro", "miou") if k in metrics]
    return float(np.mean(values)) if values else float("nan")


def train_mtcsn(cfg: MtcsnConfig, train: FrameSet, val: FrameSet, output_dir: Path | None,
                progress: bool = False) -> tuple[Mtcsn, dict[str, Any]]:
    """Train ``cfg.variant`` for ``cfg.iterations`` steps (or ``cfg.max_minutes``); keep the best on ``val``."""
    steps_per_epoch = max(1, len(train) // cfg.batch_size)
    epochs = max(1, math.ceil(cfg.iterations / steps_per_epoch))

    def batch_to_loss(model: Mtcsn, batch: Any) -> dict[str, torch.Tensor]:
        x, cd, mask = batch
        return mtcsn_loss(model(x), cd, mask, cfg)

    def validate(model: Mtcsn, _loader: Any) -> dict[str, float]:
        metrics = evaluate_frames(model, val, cfg)
        return {"val_score": selection_score(metrics),
                **{f"val_{k}": v for k, v in metrics.items() if isinstance(v, float)}}

    device = resolve_device(cfg.device)
    with contextlib.ExitStack() as stack:
        folder = Path(output_dir) if output_dir is not None else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        result = train_model(lambda: Mtcsn(cfg), FrameDataset(train, cfg.augment, cfg.seed),
                             FrameDataset(val, False), batch_to_loss=batch_to_loss, validate=validate,
                             output_dir=folder, epochs=epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                             weight_decay=cfg.weight_decay, monitor="val_score", mode="max",
                             max_minutes=cfg.max_minutes, device=str(device), seed=cfg.seed, progress=progress,
                             drop_last=True, run_config=cfg)
        model = Mtcsn(cfg)
        best = result.best_checkpoint or result.last_checkpoint
        model.load_state_dict(load_checkpoint(best)["model"])
    info = {"best_epoch": result.best_epoch, "best_val_score": result.best_metric, "epochs": result.epochs_completed,
            "steps": result.global_step, "history": result.history}
    return model.to(device).eval(), info
