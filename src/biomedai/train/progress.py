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
from collections.abc import Callable, Mapping
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

    def __init__(self, minutes: float | None, kind: Literal["wall", "cpu"] = "wall",
                 timer: Callable[[], float] | None = None) -> None:
        self.minutes = minutes
        self.kind = kind
        #: seconds on this clock (``time.perf_counter`` or ``time.process_time`` unless given)
        self.timer = timer or (time.process_time if kind == "cpu" else time.perf_counter)
        self._start = self.timer()

    def start(self, already_spent_s: float = 0.0) -> None:
        """Start counting now (minus ``already_spent_s`` seconds)."""
        self._start = self.timer() - already_spent_s

    def spent_s(self) -> float:
        """Seconds spent since :meth:`start` on this clock."""
        return self.timer() - self._start

    def fraction(self) -> float:
        """Share of the budget spent, in [0, 1] (0 without a budget)."""
        return 0.0 if not self.minutes else min(max(self.spent_s() / (self.minutes * 60.0), 0.0), 1.0)

    def left_s(self) -> float | None:
        """Seconds of budget left (None without a budget)."""
        return None if self.minutes is None else max(self.minutes * 60.0 - self.spent_s(), 0.0)

    def exhausted(self) -> bool:
        """True once the budget is spent."""
        return self.minutes is not None and self.spent_s() >= self.minutes * 60.0


class TimeBudget:
    """The time budgets of a training run, counted across resumed jobs, and the time limit of one job.

    A run may have a wall-clock budget, a CPU-time budget (this process's CPU time) or both; it is
    spent when either is. The seconds spent on each clock are carried over a resume
    (:meth:`start` with the checkpoint's :meth:`spent_s`), so a run chained over several jobs stops
    at the same total budget as one uninterrupted job, and :meth:`fraction` (for schedules that
    follow the budget) continues where it was. ``job_minutes`` (wall clock, from this job's start)
    ends one job without ending the run: the budget and the schedule go on after a resume. Nothing is
    spent before :meth:`start` (so a schedule built before training sees progress 0, deterministically).

    Example:
        >>> budget = TimeBudget(wall_minutes=10.0, job_minutes=1.0)
        >>> budget.start({"wall": 300.0}); round(budget.fraction(), 2), budget.exhausted()
        (0.5, False)
    """

    def __init__(self, wall_minutes: float | None = None, cpu_minutes: float | None = None,
                 job_minutes: float | None = None, *, wall_timer: Callable[[], float] | None = None,
                 cpu_timer: Callable[[], float] | None = None) -> None:
        self.wall = BudgetClock(wall_minutes, "wall", wall_timer)
        self.cpu = BudgetClock(cpu_minutes, "cpu", cpu_timer)
        self.job = BudgetClock(job_minutes, "wall", self.wall.timer)
        self.started = False

    @property
    def limited(self) -> bool:
        """Whether the run has a wall or CPU budget."""
        return self.wall.minutes is not None or self.cpu.minutes is not None

    def start(self, already_spent_s: Mapping[str, float] | None = None) -> None:
        """Start counting now, with ``{"wall": s, "cpu": s}`` already spent by earlier jobs of this run."""
        spent = already_spent_s or {}
        self.started = True
        self.wall.start(float(spent.get("wall", 0.0)))
        self.cpu.start(float(spent.get("cpu", 0.0)))
        self.job.start()

    def spent_s(self) -> dict[str, float]:
        """Seconds spent by this run on each clock (earlier jobs included): what a checkpoint stores."""
        if not self.started:
            return {"wall": 0.0, "cpu": 0.0}
        return {"wall": self.wall.spent_s(), "cpu": self.cpu.spent_s()}

    def fraction(self) -> float:
        """Share of the tighter budget spent, in [0, 1]; 0 without a budget."""
        return max(self.wall.fraction(), self.cpu.fraction()) if self.started else 0.0

    def left_s(self) -> float | None:
        """Seconds left on the tighter budget (None without one)."""
        left = [s for s in (self.wall.left_s(), self.cpu.left_s()) if s is not None]
        return min(left) if left else None

    def exhausted(self) -> bool:
        """True once the wall or the CPU budget is spent."""
        return self.started and (self.wall.exhausted() or self.cpu.exhausted())

    def job_exhausted(self) -> bool:
        """True once this job's ``job_minutes`` have passed."""
        return self.started and self.job.exhausted()


class ProgressLines:
    """Plain progress lines (``step``, ``loss``, ``time left``, peak memory) at most every ``every_s`` seconds."""

    def __init__(self, total_steps: int | None, budget: BudgetClock | TimeBudget, every_s: float = 30.0,
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
