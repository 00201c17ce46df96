"""Training loops for the translation models, with a wall-time budget and best-on-validation selection.

The GAN step alternates two optimisers (generators, then discriminators), which the project's supervised
``Trainer`` does not model, so the loop lives here; seeding comes from :mod:`biomedai.train.seeding`.

* :func:`train_cyclegan` - unpaired: each step draws an H&E batch and an IHC batch independently.
* :func:`train_pix2pix` - paired: each step draws aligned (source, target) tiles.

Augmentation (ours): random flips and 90-degree rotations, the same for a tile and its condition.
Validation (spec 2.10.5, ours): the model with the lowest validation score is kept; the default score for
the CycleGAN is the mean cycle L1 on held-out tiles of both domains (defined without pairs), for pix2pix
the L1 to the held-out targets. A caller may pass its own score (lower is better).
"""
from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from biomedai.train.seeding import seed_everything

from .conditioning import with_condition
from .config import VirtualIHCConfig
from .cyclegan import CycleGAN, Pix2Pix, to_tensor
from .losses import positivity_loss

logger = logging.getLogger(__name__)


@dataclass
class TranslationResult:
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_score: float = float("inf")
    steps: int = 0
    seconds: float = 0.0


def _augment(rng: np.random.Generator, tiles: np.ndarray) -> np.ndarray:
    k = int(rng.integers(4))
    out = np.rot90(tiles, k, axes=(1, 2))
    if rng.random() < 0.5:
        out = out[:, :, ::-1]
    return np.ascontiguousarray(out)


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
            rec = second(with_condition(first(with_condition(x, c, mode)), c, mode))
            errors.append(float((rec - x).abs().mean()) * len(x))
    return float(np.sum(errors) / (len(he) + len(ihc)))


def _run(step: Callable[[int, np.random.Generator], dict[str, float]], score: Callable[[], float],
         nets: dict[str, torch.nn.Module], set_epoch: Callable[[int], float], n_steps: int,
         config: VirtualIHCConfig) -> TranslationResult:
    rng = np.random.default_rng(config.seed)
    result = TranslationResult()
    best: dict[str, Any] | None = None
    start = time.perf_counter()
    for epoch in range(config.epochs):
        lr = set_epoch(epoch)
        losses: dict[str, list[float]] = {}
        for s in range(n_steps):
            for k, v in step(s, rng).items():
                losses.setdefault(k, []).append(v)
            result.steps += 1
        value = score()
        record = {"epoch": epoch, "lr": lr, "val_score": value, **{k: float(np.mean(v)) for k, v in losses.items()},
                  "seconds": time.perf_counter() - start}
        result.history.append(record)
        logger.info("epoch %d: %s", epoch, {k: round(v, 4) for k, v in record.items()})
        if value < result.best_score:
            result.best_score, result.best_epoch = value, epoch
            best = {name: copy.deepcopy(net.state_dict()) for name, net in nets.items()}
        if config.train_seconds is not None and time.perf_counter() - start > config.train_seconds:
            break
    if best is not None:
        for name, net in nets.items():
            net.load_state_dict(best[name])
    result.seconds = time.perf_counter() - start
    return result


def train_cyclegan(model: CycleGAN, he: np.ndarray, ihc: np.ndarray, c_he: np.ndarray | None,
                   c_ihc: np.ndarray | None, val_he: np.ndarray, val_ihc: np.ndarray,
                   val_c_he: np.ndarray | None = None, val_c_ihc: np.ndarray | None = None,
                   score: Callable[[CycleGAN], float] | None = None) -> TranslationResult:
    """Train an (un)conditional CycleGAN on unpaired uint8 tiles ``[N, t, t, 3]``; keeps the best epoch."""
    cfg = model.config
    seed_everything(cfg.seed)
    device = next(model.parameters()).device
    n_steps = cfg.steps_per_epoch or max(len(he), len(ihc)) // cfg.batch_size

    def step(_: int, rng: np.random.Generator) -> dict[str, float]:
        i = rng.integers(len(he), size=cfg.batch_size)
        j = rng.integers(len(ihc), size=cfg.batch_size)
        return model.train_step(to_tensor(_augment(rng, he[i]), device), to_tensor(_augment(rng, ihc[j]), device),
                                _values(c_he, i), _values(c_ihc, j))

    def default_score() -> float:
        return cycle_score(model, val_he, val_ihc, val_c_he, val_c_ihc)

    return _run(step, (lambda: score(model)) if score else default_score,
                {"G": model.G, "F": model.F, "D_K": model.D_K, "D_H": model.D_H}, model.set_epoch, n_steps, cfg)


def train_pix2pix(model: Pix2Pix, source: np.ndarray, target: np.ndarray, cond: np.ndarray | None,
                  val_source: np.ndarray, val_target: np.ndarray, val_cond: np.ndarray | None = None,
                  positive: np.ndarray | None = None, val_positive: np.ndarray | None = None) -> TranslationResult:
    """Train pix2pix on aligned uint8 tile pairs; keeps the epoch with the lowest validation score.

    The score is the validation L1; with the positivity head (``positive``: the tiles' positive-nucleus masks
    ``[N, t, t]`` in {0, 1}) it is the validation positivity BCE, the head being what the model is for.
    """
    cfg = model.config
    seed_everything(cfg.seed)
    device = next(model.parameters()).device
    n_steps = cfg.steps_per_epoch or len(source) // cfg.batch_size
    head = cfg.positivity_head
    if head and (positive is None or val_positive is None):
        raise ValueError("the positivity head needs positive masks for the training and validation tiles")

    def step(_: int, rng: np.random.Generator) -> dict[str, float]:
        i = rng.integers(len(source), size=cfg.batch_size)
        parts = [source[i], target[i]] + ([(positive[i] > 0.5).astype(np.uint8)[..., None] * 255] if head else [])
        pair = _augment(rng, np.concatenate(parts, axis=-1))
        pos = torch.from_numpy(pair[..., 6:7].copy()).to(device).permute(0, 3, 1, 2).float() / 255 if head else None
        return model.train_step(to_tensor(pair[..., :3], device), to_tensor(pair[..., 3:6], device),
                                _values(cond, i), pos)

    @torch.no_grad()
    def score() -> float:
        model.eval()
        x, y = to_tensor(val_source, device), to_tensor(val_target, device)
        c = _values(val_cond, np.arange(len(val_source)))
        out = model.translate(x, c)
        if head:
            pos = torch.as_tensor(np.asarray(val_positive, np.float32)[:, None], device=device)
            return float(positivity_loss(out[:, 3:4], pos, cfg.positive_weight))
        return float((out[:, :3] - y).abs().mean())

    return _run(step, score, {"G": model.G, "D": model.D}, model.set_epoch, n_steps, cfg)
