"""Training progress a user can see (steps, loss, time left, memory) and the time budget checked every step.

On a terminal the engine's tqdm bar shows the numbers; when output goes to a file or a pipe (a job log, a
CI run, ``nohup``) the same numbers are written as plain log lines every ``every_s`` seconds, so a long
run never looks silent.
"""
from __future__ import annotations

import logging
import resource
import sys
import time
from typing import Literal

logger = logging.getLogger(__name__)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def format_seconds(seconds: float) -> str:
    """``75`` -> ``'1:15'``; ``3725`` -> ``'1:02:05'``.

    Example:
        >>> format_seconds(75), format_seconds(3725)
        ('1:15', '1:02:05')
    """
    seconds = max(int(round(seconds)), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class BudgetClock:
    """Time spent since :meth:`start` on the wall clock or in this process's CPU time, against a budget.

    Example:
        >>> clock = BudgetClock(None)
        >>> clock.start(); clock.exhausted()
        False
    """

    def __init__(self, minutes: float | None, kind: Literal["wall", "cpu"] = "wall") -> None:
        self.minutes = minutes
        self.kind = kind
        self._timer = time.process_time if kind == "cpu" else time.perf_counter
        self._start = self._timer()

    def start(self, already_spent_s: float = 0.0) -> None:
        """Start counting now (minus ``already_spent_s`` seconds)."""
        self._start = self._timer() - already_spent_s

    def spent_s(self) -> float:
        """Seconds spent since :meth:`start` on this clock."""
        return self._timer() - self._start

    def left_s(self) -> float | None:
        """Seconds of budget left (None without a budget)."""
        return None if self.minutes is None else max(self.minutes * 60.0 - self.spent_s(), 0.0)

    def exhausted(self) -> bool:
        """True once the budget is spent."""
        return self.minutes is not None and self.spent_s() >= self.minutes * 60.0


class ProgressLines:
    """Plain progress lines (``step``, ``loss``, ``time left``, peak memory) at most every ``every_s`` seconds."""

    def __init__(self, total_steps: int | None, budget: BudgetClock, every_s: float = 30.0,
                 enabled: bool = True) -> None:
        self.total_steps, self.budget, self.every_s, self.enabled = total_steps, budget, every_s, enabled
        self._t0 = time.perf_counter()
        self._last = self._t0
        self._steps_at_start: int | None = None

    def time_left_s(self, step: int) -> float | None:
        """Seconds until the budget or the last step, whichever comes first (None when unknown)."""
        left = self.budget.left_s()
        if self.total_steps and self._steps_at_start is not None and step > self._steps_at_start:
            rate = (time.perf_counter() - self._t0) / (step - self._steps_at_start)
            by_steps = rate * max(self.total_steps - step, 0)
            left = by_steps if left is None else min(left, by_steps)
        return left

    def line(self, epoch: int, epochs: int, step: int, loss: float) -> str:
        """One progress line: epoch, step of all steps, loss, elapsed, time left, peak memory."""
        total = f"/{self.total_steps}" if self.total_steps else ""
        left = self.time_left_s(step)
        return (f"epoch {epoch}/{epochs} step {step}{total} loss {loss:.4f} elapsed "
                f"{format_seconds(time.perf_counter() - self._t0)} left "
                f"{'?' if left is None else '~' + format_seconds(left)} peak memory {peak_rss_mb():.0f} MB")

    def step(self, epoch: int, epochs: int, step: int, loss: float) -> bool:
        """Log a line when ``every_s`` has passed since the last one; returns whether it logged."""
        if self._steps_at_start is None:
            self._steps_at_start = step - 1
        now = time.perf_counter()
        if not self.enabled or now - self._last < self.every_s:
            return False
        self._last = now
        logger.info("%s", self.line(epoch, epochs, step, loss))
        return True
