"""Vessel probability maps from the network (tiled inference) and their evaluation inside the field of view."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from biomedai.data.tiling import predict_tiled
from biomedai.metrics.classification import roc_auc


#: the flips averaged by test-time augmentation (spatial dims of an NCHW batch): none, x, y, both
TTA_FLIPS: tuple[tuple[int, ...], ...] = ((), (3,), (2,), (2, 3))


def vessel_probability(net: torch.nn.Module, x: np.ndarray, *, tile: int = 192, overlap: float = 0.25,
                       batch_size: int = 4, tta: bool = False) -> np.ndarray:
    """Sigmoid vessel probability of a preprocessed plane ``x`` (float32 [0, 1]) by Gaussian-blended tiles; with
    ``tta`` the mean of the four flips of every tile (:data:`TTA_FLIPS`, four times the compute)."""
    net.eval()
    flips = TTA_FLIPS if tta else ((),)

    def forward(batch: torch.Tensor) -> torch.Tensor:
        out = 0
        for dims in flips:
            y = torch.sigmoid(net(torch.flip(batch, dims) if dims else batch))
            out = out + (torch.flip(y, dims) if dims else y)
        return out / len(flips)

    return predict_tiled(np.asarray(x, np.float32), forward, tile=tile, overlap=overlap, batch_size=batch_size,
                         framework="torch", device="cpu", pad_mode="reflect", progress=False)


def best_dice_threshold(probabilities: list[np.ndarray], truths: list[np.ndarray], fovs: list[np.ndarray],
                        grid: np.ndarray | None = None) -> tuple[float, float]:
    """The threshold maximising the pooled Dice over the given images (inside their FOV), and that Dice."""
    grid = np.round(np.arange(0.2, 0.81, 0.02), 2) if grid is None else grid
    p = np.concatenate([a[f] for a, f in zip(probabilities, fovs)])
    t = np.concatenate([b[f] for b, f in zip(truths, fovs)]).astype(bool)
    best = (0.5, -1.0)
    for th in grid:
        pred = p >= th
        inter = float(np.logical_and(pred, t).sum())
        d = 2 * inter / max(float(pred.sum() + t.sum()), 1.0)
        if d > best[1]:
            best = (float(th), d)
    return best


def pixel_scores(probability: np.ndarray, truth: np.ndarray, fov: np.ndarray, threshold: float) -> dict[str, Any]:
    """AUC, Dice, accuracy, sensitivity and specificity inside the FOV (the DRIVE protocol)."""
    p = probability[fov]
    t = truth[fov].astype(bool)
    pred = p >= threshold
    tp = float(np.logical_and(pred, t).sum())
    tn = float(np.logical_and(~pred, ~t).sum())
    fp = float(np.logical_and(pred, ~t).sum())
    fn = float(np.logical_and(~pred, t).sum())
    return {"auc": float(roc_auc(t, p)) if 0 < t.sum() < t.size else float("nan"),
            "dice": 2 * tp / max(2 * tp + fp + fn, 1.0), "accuracy": (tp + tn) / max(t.size, 1),
            "sensitivity": tp / max(tp + fn, 1.0), "specificity": tn / max(tn + fp, 1.0)}
