"""Best-metric tracking with early stopping, and the hook interface the Trainer calls."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from ..errors import ConfigError

if TYPE_CHECKING:
    from .engine import Trainer


class Callback:
    """Override any hook; every hook runs on every rank, after the Trainer's own work for that event.

    Raising in a hook stops training (the last checkpoint stays valid, so ``resume=True`` continues).
    """

    def on_fit_start(self, trainer: Trainer) -> None:
        """Before the first epoch of this call to ``fit`` (after a resume has been applied)."""

    def on_step_end(self, trainer: Trainer, record: dict[str, Any]) -> None:
        """After each optimiser step; ``record`` has ``epoch``, ``step``, ``lr`` and ``train_loss``."""

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None:
        """After the epoch's checkpoint and log line are written; ``record`` is that log line."""

    def on_fit_end(self, trainer: Trainer) -> None:
        """After the last epoch (also after early stopping)."""


class MetricTracker:
    """Keeps the best value of a monitored metric and counts epochs without improvement.

    Example:
        >>> tracker = MetricTracker(mode="max", patience=2)
        >>> [tracker.update(v, epoch) for epoch, v in enumerate([0.5, 0.7, 0.6, 0.65], start=1)]
        [True, True, False, False]
        >>> tracker.best, tracker.best_epoch, tracker.should_stop
        (0.7, 2, True)
    """

    def __init__(self, mode: Literal["min", "max"] = "min", min_delta: float = 0.0,
                 patience: int | None = None) -> None:
        if mode not in ("min", "max"):
            raise ConfigError(f"key 'mode' must be 'min' or 'max', got {mode!r}")
        if min_delta < 0:
            raise ConfigError(f"key 'min_delta' must be >= 0, got {min_delta!r}")
        if patience is not None and patience < 1:
            raise ConfigError(f"key 'patience' must be >= 1 or null, got {patience!r}")
        self.mode = mode
        self.min_delta = float(min_delta)
        self.patience = patience
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.bad_epochs = 0

    def is_improvement(self, value: float) -> bool:
        """Whether ``value`` beats the best so far by more than the minimum change."""
        if value is None or math.isnan(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, value: float, epoch: int) -> bool:
        """Record one epoch's value; returns True if it is a new best."""
        if self.is_improvement(value):
            self.best, self.best_epoch, self.bad_epochs = float(value), int(epoch), 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        """Whether patience has run out."""
        return self.patience is not None and self.bad_epochs >= self.patience

    def state_dict(self) -> dict[str, Any]:
        """The tracker's state, for a checkpoint."""
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the state saved by :meth:`state_dict`."""
        self.best = state.get("best")
        self.best_epoch = state.get("best_epoch")
        self.bad_epochs = int(state.get("bad_epochs", 0))
