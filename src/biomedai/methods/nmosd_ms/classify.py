"""Training and validation of one cross-validation fold of the NMOSD/MS classifiers with the shared engine
(spec 3.7: SGD, LR 0.01, step decay every 10 epochs, dropout 0.15, shift/flip augmentation, cross-entropy)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from biomedai.train import train_model

from .config import NmosdMsConfig
from .networks import build_classifier
from .preprocess import shift_flip


class LesionVolumes(Dataset):
    """``(1, crop, crop, crop)`` float tensors and labels; random shift/flip when ``augment``."""

    def __init__(self, volumes: np.ndarray, labels: np.ndarray, crop_side: int, augment: bool, seed: int = 0,
                 flip_probability: float = 0.5) -> None:
        self.volumes, self.labels = volumes, labels
        self.crop_side, self.augment, self.flip_probability = crop_side, augment, flip_probability
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        v = shift_flip(self.volumes[i], self.crop_side, self.rng if self.augment else None,
                       flip_probability=self.flip_probability)
        return torch.from_numpy(v[None].copy()), torch.tensor(int(self.labels[i]))


def train_and_predict(volumes: np.ndarray, labels: np.ndarray, train_idx: np.ndarray, val_idx: np.ndarray,
                      cfg: NmosdMsConfig, output_dir: Path | None, *, max_minutes: float | None = None,
                      device: str = "cpu") -> dict[str, Any]:
    """Train ``cfg.arch`` on ``train_idx`` and predict ``val_idx`` with the last epoch's weights (nothing is
    chosen on ``val_idx``); returns predictions, NMOSD probabilities, seconds per epoch and the engine's history
    (learning curves, Fig. 4). ``output_dir=None`` keeps no checkpoint (cross-validation folds). ``device``: where
it trains (``cpu`` or ``cuda``); the returned model stays there."""
    torch.manual_seed(cfg.seed)
    model = build_classifier(cfg.arch, input_side=cfg.crop_side, dropout=cfg.dropout)
    train_ds = LesionVolumes(volumes[train_idx], labels[train_idx], cfg.crop_side, True, cfg.seed, cfg.flip_probability)
    val_ds = LesionVolumes(volumes[val_idx], labels[val_idx], cfg.crop_side, False)
    start = time.process_time()
    result = train_model(
        model, train_ds, val_ds, loss_fn=torch.nn.functional.cross_entropy,
        optimizer=lambda p: torch.optim.SGD(p, lr=cfg.lr, momentum=cfg.momentum),
        scheduler=lambda o: torch.optim.lr_scheduler.StepLR(o, cfg.lr_step_epochs, cfg.lr_gamma),
        output_dir=output_dir, epochs=cfg.epochs, batch_size=cfg.batch_size, device=device, amp=False,
        progress=False, seed=cfg.seed, max_minutes=max_minutes, export_weights=False)
    cpu_s = time.process_time() - start
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(x[None].to(device)).float().cpu() for x, _ in val_ds])
    prob = torch.softmax(logits, 1)[:, 1].numpy()
    return {"pred": (prob >= 0.5).astype(int), "prob": prob, "cpu_s_per_epoch": cpu_s / max(result.epochs_completed, 1),
            "epochs": result.epochs_completed, "history": result.history, "model": model}


def predict_probability(model: torch.nn.Module, volume: np.ndarray, crop_side: int) -> float:
    """P(NMOSD) of one ``resize_side^3`` classifier input (deterministic centre crop, as at validation)."""
    model.eval()
    x = torch.from_numpy(shift_flip(volume, crop_side, None))[None, None]
    with torch.no_grad():
        return float(torch.softmax(model(x), 1)[0, 1])
