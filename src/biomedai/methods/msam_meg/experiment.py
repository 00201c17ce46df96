"""Training and subject-wise cross-validation of MSAM, its ablations and the baselines (Tables 1-2, head sweep)."""
from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from biomedai.errors import InvalidInputError
from biomedai.train import train_model

from .baselines import ShallowCNN, band_power, make_random_forest, make_svm, svm_score
from .config import MsamConfig
from .evaluation import Counts, auc, paper_metrics, subject_vote, summarise_folds
from .model import MSAM, bce_loss
from .recordings import WindowSet
from .splits import inner_validation, subject_folds

logger = logging.getLogger(__name__)

DEEP_MODELS = ("msam", "cnn")
MODELS = ("msam", "cnn", "svm", "rf")


def build_network(kind: str, n_channels: int, n_samples: int, cfg: MsamConfig) -> torch.nn.Module:
    """MSAM (with ``cfg.heads`` / ``cfg.variant``) or the CNN baseline."""
    if kind == "msam":
        return MSAM(n_channels, n_samples, cfg)
    if kind == "cnn":
        return ShallowCNN(n_channels, n_samples)
    raise InvalidInputError(f"unknown network {kind!r}; expected one of {DEEP_MODELS}")


def fit_network(kind: str, train: WindowSet, val: WindowSet | None, cfg: MsamConfig, out: Path
                ) -> torch.nn.Module:
    """Train with the project's engine (Adam = AdamW with weight decay 0, BCE, ``cfg.epochs``, ``cfg.batch_size``);
    with validation windows the weights of the epoch with the lowest validation loss are kept."""
    torch.manual_seed(cfg.seed)  # the initial weights must not depend on what ran before
    model = build_network(kind, train.x.shape[1], train.x.shape[2], cfg)
    to_set = lambda ws: TensorDataset(torch.from_numpy(ws.x), torch.from_numpy(ws.y.astype(np.float32)))
    result = train_model(model, to_set(train), to_set(val) if val is not None and len(val.x) else None,
                         loss_fn=bce_loss, output_dir=out, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                         weight_decay=cfg.weight_decay, device=cfg.device, seed=cfg.seed, progress=False, amp=False)
    if result.weights is not None and Path(result.weights).is_file():
        model.load_state_dict(torch.load(result.weights, map_location="cpu", weights_only=True))
    return model.eval()


@torch.no_grad()
def predict_network(model: torch.nn.Module, x: np.ndarray, batch: int = 64) -> tuple[np.ndarray, np.ndarray | None]:
    """P(CPS) per window and, for MSAM, the attention each token receives ``(n, tokens)``."""
    model.eval()
    probs, att = [], []
    for i in range(0, len(x), batch):
        logits = model(torch.from_numpy(np.ascontiguousarray(x[i:i + batch])))
        probs.append(torch.sigmoid(logits).numpy())
        if isinstance(model, MSAM):
            att.append(model.token_importance().numpy())
    return np.concatenate(probs), (np.concatenate(att) if att else None)


def _fit_predict(kind: str, train: WindowSet, test: WindowSet, cfg: MsamConfig, out: Path
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    if kind in ("svm", "rf"):
        est = make_svm(cfg.seed) if kind == "svm" else make_random_forest(cfg.seed)
        est.fit(band_power(train.x, train.sfreq), train.y)
        feats = band_power(test.x, test.sfreq)
        return (svm_score(est, feats) if kind == "svm" else est.predict_proba(feats)[:, 1]), None
    fit_idx, val_idx = inner_validation(train.y, train.subjects, seed=cfg.seed)
    model = fit_network(kind, train.subset(fit_idx), train.subset(val_idx), cfg, out)
    return predict_network(model, test.x)


def cross_validate(ws: WindowSet, kind: str, cfg: MsamConfig, out: Path | None = None) -> dict[str, Any]:
    """Subject-wise k-fold of one model: per-fold Eqs. 7-10 (window level), pooled/mean/SD summaries, AUC,
    subject-level vote metrics, the confusion matrix and (MSAM) mean attention per token."""
    if kind not in MODELS:
        raise InvalidInputError(f"unknown model {kind!r}; expected one of {MODELS}")
    t0 = time.process_time()
    folds, subject_folds_counts = [], []
    probs = np.zeros(len(ws.y))
    attention = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(out) if out is not None else Path(tmp)
        for k, (train_idx, test_idx) in enumerate(subject_folds(ws.y, ws.subjects, cfg.folds, cfg.seed)):
            train, test = ws.subset(train_idx), ws.subset(test_idx)
            p, att = _fit_predict(kind, train, test, cfg, base / f"fold{k}")
            probs[test_idx] = p
            if att is not None:
                attention.append(att.mean(axis=0))
            counts = Counts.from_labels(test.y, (p >= 0.5).astype(int))
            votes = subject_vote(test.subjects, p)
            truth = {s: int(test.y[test.subjects == s][0]) for s in votes}
            s_counts = Counts.from_labels([truth[s] for s in votes], [int(v >= 0.5) for v in votes.values()])
            folds.append(counts)
            subject_folds_counts.append(s_counts)
            logger.info("%s fold %d: %s", kind, k, paper_metrics(counts))
    summary = summarise_folds(folds)
    subject_summary = summarise_folds(subject_folds_counts)
    pooled = folds[0]
    for c in folds[1:]:
        pooled = pooled + c
    return {"model": kind, "heads": cfg.heads if kind == "msam" else None,
            "variant": cfg.variant if kind == "msam" else None,
            "window": summary, "subject": subject_summary, "auc": auc(ws.y, probs),
            "confusion": dataclasses.asdict(pooled), "per_fold": [paper_metrics(c) for c in folds],
            "probabilities": probs, "attention": np.mean(attention, axis=0) if attention else None,
            "cpu_s": time.process_time() - t0}
