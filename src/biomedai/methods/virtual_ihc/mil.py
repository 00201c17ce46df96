"""Top-1 multiple-instance learning for tumour/normal tiles (paper 2.4; Campanella et al. 2019).

Each epoch has two steps: (1) score every instance of every bag with the current classifier and keep the
``top_k`` instances with the highest P(tumour) (spec 2.10.7: "largest predictive probability" read as
P(tumour)); (2) train on those instances, each with its bag's label (CE, Adam 1e-4). A bag's probability is
its instances' maximum. Validation: bag-level cross-entropy of that maximum (ours; the paper keeps "the best
model on the validation set" without naming the metric); the best epoch's weights are kept. Training runs
through the project's engine (``biomedai.train.Trainer``): budget, checkpoints, progress lines, resume.

Example:
    >>> select_top_k([np.array([0.1, 0.9, 0.3]), np.array([0.2])], k=1)
    [array([1]), array([0])]
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from biomedai.metrics import roc_auc
from biomedai.train.config import TrainerConfig
from biomedai.train.engine import Trainer
from biomedai.train.seeding import seed_everything

from .config import VirtualIHCConfig
from .cyclegan import to_tensor
from .engine_fit import KeepBestWeights, fit_and_keep_best
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
    best_epoch: int = -1           # 0-based epoch whose weights were kept
    best_val_loss: float = float("inf")
    seconds: float = 0.0
    steps: int = 0


def bag_scores(probs: Sequence[np.ndarray], labels: np.ndarray) -> dict[str, float]:
    """Bag-level CE, accuracy at 0.5 and ROC AUC (NaN with one class) of the bags' max instance probability."""
    p = np.clip(np.array([np.asarray(q).max() for q in probs]), 1e-6, 1 - 1e-6)
    y = np.asarray(labels, int)
    ce = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    auc = float(roc_auc(y, p)) if 0 < y.sum() < y.size else float("nan")
    return {"bag_ce": ce, "bag_accuracy": float(np.mean((p >= 0.5) == (y == 1))), "bag_auc": auc}


class TopKInstanceBatches:
    """One MIL epoch as the engine's training data: each pass first scores every instance of every bag with
    the current classifier (step 1), keeps the ``top_k`` most probable per bag with the bag's label, then
    yields shuffled ``(instances, labels)`` batches of those (step 2). ``generator`` is checkpointed by the
    engine, so a resumed run draws the same order; the pass's selection is checkpointed too (the engine's
    ``stateful`` hook), so an epoch resumed mid-way trains on the instances chosen by the weights it began with."""

    def __init__(self, model: torch.nn.Module, bags: Sequence[np.ndarray], labels: Sequence[int],
                 config: VirtualIHCConfig) -> None:
        self.model, self.bags, self.config = model, list(bags), config
        self.labels = np.asarray(labels, int)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.n_selected = sum(min(config.mil_top_k, len(b)) for b in self.bags)
        self.epoch = 0
        self._chosen: tuple[int, list[np.ndarray]] | None = None    # (epoch, top-k indices per bag) of this pass
        self._restored: tuple[int, list[np.ndarray]] | None = None  # a checkpoint's, used once for its epoch

    def set_epoch(self, epoch: int) -> None:
        """The engine names the 0-based epoch that starts (a resumed one included)."""
        self.epoch = int(epoch)

    def state_dict(self) -> dict[str, Any]:
        """This pass's top-k selection (epoch -1: none yet)."""
        epoch, chosen = self._chosen if self._chosen is not None else (-1, [])
        return {"epoch": epoch, "chosen": [torch.as_tensor(np.asarray(c, np.int64)) for c in chosen]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Keep a checkpoint's selection for the next pass of the same epoch."""
        chosen = [np.asarray(c, np.int64) for c in state["chosen"]]
        if len(chosen) not in (0, len(self.bags)):
            raise ValueError(f"the saved selection covers {len(chosen)} bags, this run has {len(self.bags)}")
        self._restored = (int(state["epoch"]), chosen) if int(state["epoch"]) >= 0 else None

    def _select(self) -> list[np.ndarray]:
        restored, self._restored = self._restored, None
        if restored is not None and restored[0] == self.epoch:
            return restored[1]
        was_training = self.model.training
        chosen = select_top_k(bag_probabilities(self.model, self.bags, self.config.mil_input_size),
                              self.config.mil_top_k)
        self.model.train(was_training)
        return chosen

    def __len__(self) -> int:
        return int(-(-self.n_selected // self.config.mil_batch_size))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        cfg = self.config
        chosen = self._select()
        self._chosen = (self.epoch, chosen)
        x = np.concatenate([bag[idx] for bag, idx in zip(self.bags, chosen)])
        y = np.concatenate([np.full(len(idx), label) for idx, label in zip(chosen, self.labels)])
        order = torch.randperm(len(y), generator=self.generator).numpy()
        for i in range(0, len(order), cfg.mil_batch_size):
            batch = order[i:i + cfg.mil_batch_size]
            yield _prepare(x[batch], cfg.mil_input_size), torch.from_numpy(y[batch]).long()


def train_mil(train_bags: Sequence[np.ndarray], train_labels: Sequence[int], val_bags: Sequence[np.ndarray],
              val_labels: Sequence[int], config: VirtualIHCConfig, device: Any = "cpu",
              output_dir: Path | None = None, progress: bool = False) -> MILResult:
    """Top-k MIL training through the project's engine (:class:`biomedai.train.Trainer`: CE, Adam
    ``mil_lr``, ``mil_epochs``, wall-time budget ``mil_train_seconds``, checkpoints under ``output_dir``);
    returns the classifier of the epoch with the lowest validation bag CE (see the module doc)."""
    seed_everything(config.seed)
    model = build_mil_classifier(config)
    y_val = np.asarray(val_labels, int)

    def validate(net: torch.nn.Module, _: Any) -> dict[str, float]:
        return bag_scores(bag_probabilities(net, val_bags, config.mil_input_size), y_val)

    budget = None if config.mil_train_seconds is None else config.mil_train_seconds / 60.0
    trainer_config = TrainerConfig(seed=config.seed, epochs=config.mil_epochs, device=str(device), amp=False,
                                   monitor="val_bag_ce", mode="min", max_minutes=budget,
                                   time_budget_clock=config.budget_clock, progress=progress, export_weights=False)
    keep = KeepBestWeights()
    data = TopKInstanceBatches(model, train_bags, train_labels, config)
    trainer = Trainer(model, data, [None], optimizer=lambda params: torch.optim.Adam(params, lr=config.mil_lr),
                      loss_fn=F.cross_entropy, validate=validate, output_dir=output_dir, config=trainer_config,
                      callbacks=[keep], run_config=config, stateful={"top_k_selection": data})
    start = time.perf_counter()
    fit = fit_and_keep_best(trainer, keep)
    history = [{"epoch": r["epoch"] - 1, "train_loss": r.get("train_loss", float("nan")),
                "val_bag_ce": r["val_bag_ce"], "val_bag_accuracy": r["val_bag_accuracy"],
                "val_bag_auc": r["val_bag_auc"]} for r in fit.history]
    for r in history:
        logger.info("MIL epoch %d: train CE %.4f, val bag CE %.4f, acc %.3f", r["epoch"], r["train_loss"],
                    r["val_bag_ce"], r["val_bag_accuracy"])
    return MILResult(trainer.model, history, (fit.best_epoch or 0) - 1, float(fit.best_metric or float("inf")),
                     time.perf_counter() - start, fit.global_step)
