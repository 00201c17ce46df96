"""Glue between the translation/MIL models and the project's training engine (:class:`biomedai.train.Trainer`).

* :class:`KeepBestWeights` - an engine callback that keeps the best epoch's weights in memory (the engine keeps
  them on disk only when it has an output folder), so a run without an output folder also ends on its best
  epoch.
* :class:`RandomBatches` - an "epoch" of ``steps`` batches drawn at random (with replacement) by a function of a
  seeded ``torch.Generator``; the engine checkpoints that generator, so a resumed run draws the same batches.
* :func:`fit_and_keep_best` - ``Trainer.fit`` that resumes when ``biomedai train --resume`` asked for it (the
  engine's ``BIOMEDAI_RESUME``) and an output folder holds ``checkpoints/last.pt``, then loads the best epoch's
  weights (``checkpoints/best.pt`` when written, else the in-memory copy).

Example:
    >>> import torch
    >>> batches = RandomBatches(3, lambda g: (torch.randint(10, (2,), generator=g),), seed=0)
    >>> len(list(batches)), len(batches)
    (3, 3)
"""
from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from typing import Any

import torch

from biomedai.train.callbacks import Callback
from biomedai.train.checkpoint import load_checkpoint
from biomedai.train.engine import RESUME_ENV


class KeepBestWeights(Callback):
    """Copy the model's weights at every epoch the engine marks ``is_best``; :meth:`restore` loads them back."""

    def __init__(self) -> None:
        self.state: dict[str, Any] | None = None
        self.epoch: int | None = None

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        if record.get("is_best"):
            self.state = copy.deepcopy(trainer.model.state_dict())
            self.epoch = int(record["epoch"])

    def restore(self, model: torch.nn.Module) -> torch.nn.Module:
        if self.state is not None:
            model.load_state_dict(self.state)
        return model


class RandomBatches:
    """``steps`` batches per pass, each ``draw(generator)``; the generator is seeded once with ``seed``."""

    def __init__(self, steps: int, draw: Callable[[torch.Generator], Any], seed: int) -> None:
        if steps < 1:
            raise ValueError(f"an epoch needs at least one step, got {steps}")
        self.steps, self.draw = int(steps), draw
        self.generator = torch.Generator().manual_seed(int(seed))

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[Any]:
        for _ in range(self.steps):
            yield self.draw(self.generator)


def fit_and_keep_best(trainer: Any, keep: KeepBestWeights) -> Any:
    """Run ``trainer`` (resuming on request, see the module doc) and end on the best epoch's weights."""
    resume = trainer.output_dir is not None and os.environ.get(RESUME_ENV, "") not in ("", "0")
    result = trainer.fit(resume=resume)
    best = trainer.best_checkpoint_path
    if best is not None and best.is_file():
        trainer.model.load_state_dict(load_checkpoint(best)["model"])
    else:
        keep.restore(trainer.model)
    return result
