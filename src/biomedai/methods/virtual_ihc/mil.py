"""Top-1 multiple-instance learning for tumour/normal tiles (paper 2.4; Campanella et al. 2019).

Each epoch has two steps: (1) score every instance of every bag with the current classifier and keep the
``top_k`` instances with the highest P(tumour) (spec 2.10.7: "largest predictive probability" read as
P(tumour)); (2) train on those instances, each with its bag's label (CE, Adam 1e-4). A bag's probability is
its instances' maximum. Validation: bag-level cross-entropy of that maximum (ours; the paper keeps "the best
model on the validation set" without naming the metric); the best epoch's weights are kept.

Example:
    >>> select_top_k([np.array([0.1, 0.9, 0.3]), np.array([0.2])], k=1)
    [array([1]), array([0])]
"""
from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from biomedai.train.seeding import seed_everything

from .config import VirtualIHCConfig
from .cyclegan import to_tensor
from .networks import mil_classifier

logger = logging.getLogger(__name__)


def select_top_k(probabilities: Sequence[np.ndarray], k: int = 1) -> list[np.ndarray]:
    """Indices of the ``k`` most probable instances of each bag (highest first; ties keep the first)."""
    out = []
    for p in probabilities:
        p = np.asarray(p, float).reshape(-1)
        order = np.argsort(-p, kind="stable")
        out.append(order[:min(k, p.size)])
    return out


def build_mil_classifier(config: VirtualIHCConfig) -> torch.nn.Module:
    return mil_classifier(config.mil_width, config.mil_layers, 2)


def _prepare(tiles: np.ndarray, size: int) -> torch.Tensor:
    t = to_tensor(tiles)
    if t.shape[-1] != size:
        t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return t


@torch.no_grad()
def tumour_probability(model: torch.nn.Module, tiles: np.ndarray | torch.Tensor, input_size: int,
                       batch_size: int = 64) -> np.ndarray:
    """P(tumour) per tile; ``tiles`` uint8 ``[n, t, t, 3]`` or a float tensor ``[n, 3, t, t]`` in [-1, 1]."""
    model.eval()
    device = next(model.parameters()).device
    x = tiles if isinstance(tiles, torch.Tensor) else _prepare(np.asarray(tiles), input_size)
    if x.shape[-1] != input_size:
        x = F.interpolate(x, size=(input_size, input_size), mode="bilinear", align_corners=False, antialias=True)
    out = [torch.softmax(model(x[i:i + batch_size].to(device)), 1)[:, 1].cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros(0)


def bag_probabilities(model: torch.nn.Module, bags: Sequence[np.ndarray], input_size: int) -> list[np.ndarray]:
    """Instance probabilities of each bag (``bags``: uint8 ``[n_i, t, t, 3]`` arrays)."""
    return [tumour_probability(model, b, input_size) for b in bags]


@dataclass
class MILResult:
    model: torch.nn.Module
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_val_loss: float = float("inf")
    seconds: float = 0.0


def _bag_ce(probs: list[np.ndarray], labels: np.ndarray) -> tuple[float, float]:
    p = np.clip(np.array([q.max() for q in probs]), 1e-6, 1 - 1e-6)
    ce = float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))
    return ce, float(np.mean((p >= 0.5) == (labels == 1)))


def train_mil(train_bags: Sequence[np.ndarray], train_labels: Sequence[int], val_bags: Sequence[np.ndarray],
              val_labels: Sequence[int], config: VirtualIHCConfig, device: Any = "cpu") -> MILResult:
    """Top-k MIL training; returns the classifier with the best validation bag CE (see the module doc)."""
    seed_everything(config.seed)
    model = build_mil_classifier(config).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.mil_lr)
    y_train, y_val = np.asarray(train_labels, int), np.asarray(val_labels, int)
    result = MILResult(model)
    best_state: dict[str, Any] | None = None
    start = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    for epoch in range(config.mil_epochs):
        probs = bag_probabilities(model, train_bags, config.mil_input_size)            # step 1: evaluate
        chosen = select_top_k(probs, config.mil_top_k)
        x = np.concatenate([bag[idx] for bag, idx in zip(train_bags, chosen)])
        y = np.concatenate([np.full(len(idx), label) for idx, label in zip(chosen, y_train)])
        model.train()                                                                    # step 2: train
        order = rng.permutation(len(y))
        losses = []
        for i in range(0, len(order), config.mil_batch_size):
            batch = order[i:i + config.mil_batch_size]
            logits = model(_prepare(x[batch], config.mil_input_size).to(device))
            loss = F.cross_entropy(logits, torch.from_numpy(y[batch]).to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        val_ce, val_acc = _bag_ce(bag_probabilities(model, val_bags, config.mil_input_size), y_val)
        result.history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "val_bag_ce": val_ce,
                               "val_bag_accuracy": val_acc})
        if val_ce < result.best_val_loss:
            result.best_val_loss, result.best_epoch = val_ce, epoch
            best_state = copy.deepcopy(model.state_dict())
        logger.info("MIL epoch %d: train CE %.4f, val bag CE %.4f, acc %.3f", epoch, np.mean(losses), val_ce, val_acc)
        if config.mil_train_seconds is not None and time.perf_counter() - start > config.mil_train_seconds:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    result.seconds = time.perf_counter() - start
    return result
