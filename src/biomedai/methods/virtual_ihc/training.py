"""Training loops for the translation models, through the project's engine (:class:`biomedai.train.Trainer`).

The GAN step updates two sets of networks (generators, discriminators). As in the CycleGAN reference, the
discriminators see fakes made before the generators' update and the generators' adversarial loss sees the
discriminators before theirs, so one step is one backward pass of ``L_G + L_D`` (each network's gradients
coming only from its own loss: the discriminators are frozen while ``L_G`` is built, the fakes detached in
``L_D``) and one Adam step over two parameter groups - the same update as two optimisers stepped in turn.
That lets the engine run the loop: wall-time budget, ``checkpoints/last.pt`` / ``best.pt``, ``metrics.jsonl``,
progress lines and ``--resume`` when an output folder is given. A resumed run continues as if never stopped: the
checkpoints also hold the CycleGAN's two image pools (stored fakes and their generators, through the engine's
``stateful`` hook) and the batch generator (as the interrupted epoch began, when stopped mid-epoch).

* :func:`train_cyclegan` - unpaired: each step draws an H&E batch and an IHC batch independently.
* :func:`train_pix2pix` - paired: each step draws aligned (source, target) tiles.

Augmentation (ours): random flips and 90-degree rotations, the same for a tile and its condition.
Validation (spec 2.10.5, ours): the model with the lowest validation score is kept; the default score for
the CycleGAN is the mean cycle L1 on held-out tiles of both domains (defined without pairs), for pix2pix
the L1 to the held-out targets (the positivity BCE with the positivity head). A caller may pass its own
score (lower is better). The learning rate is constant, then decays linearly (``epochs``, ``decay_epochs``).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from biomedai.train.config import TrainerConfig
from biomedai.train.engine import Trainer

from .conditioning import with_condition
from .cyclegan import CycleGAN, Pix2Pix, to_tensor
from .engine_fit import KeepBestWeights, RandomBatches, fit_and_keep_best
from .losses import linear_decay_factor, positivity_loss

logger = logging.getLogger(__name__)


@dataclass
class TranslationResult:
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1            # 0-based epoch whose weights were kept
    best_score: float = float("inf")
    steps: int = 0
    seconds: float = 0.0


def _augment(generator: torch.Generator, tiles: np.ndarray) -> np.ndarray:
    k = int(torch.randint(4, (1,), generator=generator))
    out = np.rot90(tiles, k, axes=(1, 2))
    if float(torch.rand(1, generator=generator)) < 0.5:
        out = out[:, :, ::-1]
    return np.ascontiguousarray(out)


def _indices(generator: torch.Generator, n: int, size: int) -> np.ndarray:
    return torch.randint(n, (size,), generator=generator).numpy()


def _values(c: np.ndarray | None, idx: np.ndarray) -> torch.Tensor | None:
    return None if c is None else torch.as_tensor(np.asarray(c, np.float32)[idx])


@torch.no_grad()
def cycle_score(model: CycleGAN, he: np.ndarray, ihc: np.ndarray, c_he: np.ndarray | None,
                c_ihc: np.ndarray | None, batch: int = 16) -> float:
    """Mean L1 of H -> K -> H and K -> H -> K round trips (in [-1, 1] units), labels reused."""
    model.eval()
    mode, device = model.config.condition, next(model.parameters()).device
    errors = []
    for data, cond, first, second in ((he, c_he, model.G, model.F), (ihc, c_ihc, model.F, model.G)):
        for i in range(0, len(data), batch):
            x = to_tensor(data[i:i + batch], device)
            c = _values(cond, np.arange(i, min(i + batch, len(data))))
            c = None if c is None else c.to(device)
            rec = second(with_condition(first(with_condition(x, c, mode)), c, mode))
            errors.append(float((rec - x).abs().mean()) * len(x))
    return float(np.sum(errors) / (len(he) + len(ihc)))


def fit_translation(model: CycleGAN | Pix2Pix, draw: Callable[[torch.Generator], tuple[Any, ...]],
                    n_steps: int, score: Callable[[], float], output_dir: Path | None = None,
                    progress: bool = False) -> TranslationResult:
    """Run ``model.training_losses(*draw(generator))`` for ``config.epochs`` epochs of ``n_steps`` steps through
    the engine, score every epoch with ``score()`` (lower is better) and end on the best epoch's weights."""
    cfg = model.config
    for group in model.optimizer.param_groups:  # a fresh schedule from the configured rate
        group["lr"] = cfg.lr
        group.pop("initial_lr", None)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        model.optimizer, lambda epoch: linear_decay_factor(epoch, cfg.epochs, cfg.decay_epochs))
    budget = None if cfg.train_seconds is None else cfg.train_seconds / 60.0
    trainer_config = TrainerConfig(seed=cfg.seed, epochs=cfg.epochs, device=str(next(model.parameters()).device),
                                   amp=False, monitor="val_score", mode="min", max_minutes=budget,
                                   time_budget_clock=cfg.budget_clock, progress=progress, export_weights=False)
    keep = KeepBestWeights()
    trainer = Trainer(model, RandomBatches(n_steps, draw, cfg.seed), [None], optimizer=model.optimizer,
                      batch_to_loss=lambda net, batch: net.training_losses(*batch), scheduler=scheduler,
                      validate=lambda net, _: {"score": score()}, output_dir=output_dir, config=trainer_config,
                      callbacks=[keep], run_config=cfg, stateful=model.stateful_parts())
    start = time.perf_counter()
    fit = fit_and_keep_best(trainer, keep)
    history = [{"epoch": r["epoch"] - 1, "lr": r["lr"], "val_score": r["val_score"], "seconds": r["time"],
                **{k[len("train_"):]: v for k, v in r.items() if k.startswith("train_")}} for r in fit.history]
    return TranslationResult(history, (fit.best_epoch or 0) - 1, float(fit.best_metric or float("inf")),
                             fit.global_step, time.perf_counter() - start)


def train_cyclegan(model: CycleGAN, he: np.ndarray, ihc: np.ndarray, c_he: np.ndarray | None,
                   c_ihc: np.ndarray | None, val_he: np.ndarray, val_ihc: np.ndarray,
                   val_c_he: np.ndarray | None = None, val_c_ihc: np.ndarray | None = None,
                   score: Callable[[CycleGAN], float] | None = None, *, output_dir: Path | None = None,
                   progress: bool = False) -> TranslationResult:
    """Train an (un)conditional CycleGAN on unpaired uint8 tiles ``[N, t, t, 3]``; keeps the best epoch."""
    cfg = model.config
    n_steps = cfg.steps_per_epoch or max(max(len(he), len(ihc)) // cfg.batch_size, 1)

    def draw(g: torch.Generator) -> tuple[Any, ...]:
        i, j = _indices(g, len(he), cfg.batch_size), _indices(g, len(ihc), cfg.batch_size)
        return to_tensor(_augment(g, he[i])), to_tensor(_augment(g, ihc[j])), _values(c_he, i), _values(c_ihc, j)

    def default_score() -> float:
        return cycle_score(model, val_he, val_ihc, val_c_he, val_c_ihc)

    return fit_translation(model, draw, n_steps, (lambda: score(model)) if score else default_score,
                           output_dir, progress)


def train_pix2pix(model: Pix2Pix, source: np.ndarray, target: np.ndarray, cond: np.ndarray | None,
                  val_source: np.ndarray, val_target: np.ndarray, val_cond: np.ndarray | None = None,
                  positive: np.ndarray | None = None, val_positive: np.ndarray | None = None, *,
                  output_dir: Path | None = None, progress: bool = False) -> TranslationResult:
    """Train pix2pix on aligned uint8 tile pairs; keeps the epoch with the lowest validation score.

    The score is the validation L1; with the positivity head (``positive``: the tiles' positive-nucleus masks
    ``[N, t, t]`` in {0, 1}) it is the validation positivity BCE, the head being what the model is for.
    """
    cfg = model.config
    device = next(model.parameters()).device
    n_steps = cfg.steps_per_epoch or max(len(source) // cfg.batch_size, 1)
    head = cfg.positivity_head
    if head and (positive is None or val_positive is None):
        raise ValueError("the positivity head needs positive masks for the training and validation tiles")

    def draw(g: torch.Generator) -> tuple[Any, ...]:
        i = _indices(g, len(source), cfg.batch_size)
        parts = [source[i], target[i]] + ([(positive[i] > 0.5).astype(np.uint8)[..., None] * 255] if head else [])
        pair = _augment(g, np.concatenate(parts, axis=-1))
        pos = torch.from_numpy(pair[..., 6:7].copy()).permute(0, 3, 1, 2).float() / 255 if head else None
        return to_tensor(pair[..., :3]), to_tensor(pair[..., 3:6]), _values(cond, i), pos

    @torch.no_grad()
    def score() -> float:
        model.eval()
        x, y = to_tensor(val_source, device), to_tensor(val_target, device)
        c = _values(val_cond, np.arange(len(val_source)))
        out = model.translate(x, None if c is None else c.to(device))
        if head:
            pos = torch.as_tensor(np.asarray(val_positive, np.float32)[:, None], device=device)
            return float(positivity_loss(out[:, 3:4], pos, cfg.positive_weight))
        return float((out[:, :3] - y).abs().mean())

    return fit_translation(model, draw, n_steps, score, output_dir, progress)
