"""Learning-rate schedules for the training engine (``scheduler=lambda opt: ...`` of :func:`train_model`)."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError


def warmup_cosine(optimizer: Any, warmup_steps: int, total_steps: int, start_factor: float = 0.1) -> Any:
    """A ``LambdaLR``: linear from ``start_factor`` to 1 over ``warmup_steps``, then cosine to 0 at ``total_steps``.

    Step it once per optimiser step (``scheduler_interval="step"``).

    >>> import torch
    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> sched = warmup_cosine(opt, warmup_steps=2, total_steps=4)
    >>> [round(sched.get_last_lr()[0], 3) for _ in range(5) if not opt.step() and not sched.step()]
    [0.55, 1.0, 0.5, 0.0, 0.0]
    """
    import torch

    def factor(step: int) -> float:
        if step < warmup_steps:
            return start_factor + (1.0 - start_factor) * step / max(1, warmup_steps)
        t = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return 0.5 * (1.0 + math.cos(math.pi * t))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def budget_progress(budget_fraction: float, step: int, total_steps: int | None = None) -> float:
    """A run's progress in [0, 1]: the larger of the share of the time budget spent and ``step / total_steps``.

    What :func:`budget_cosine` follows; a validation hook can read the same number (e.g. to validate only
    after half of the run), with ``trainer.budget_fraction()`` and ``trainer.global_step``.

    >>> budget_progress(0.2, 30, 100), budget_progress(0.7, 30, 100), budget_progress(1.5, 0)
    (0.3, 0.7, 1.0)
    """
    progress = budget_fraction
    if total_steps is not None:
        progress = max(progress, step / max(total_steps, 1))
    return min(1.0, max(progress, 0.0))


def budget_cosine(optimizer: Any, budget_fraction: Callable[[], float], total_steps: int | None = None,
                  warmup_steps: int = 0, floor: float = 0.0, warmup_fraction: float = 0.0,
                  warmup_start: float = 0.0) -> Any:
    """A ``LambdaLR`` whose cosine follows the time budget: from 1 down to ``floor`` as progress goes 0 -> 1.

    Progress is :func:`budget_progress`: the larger of ``budget_fraction()`` (e.g. :meth:`Trainer.budget_fraction`,
    which carries over a resume) and ``step / total_steps`` (left out when ``total_steps`` is None), clipped to
    [0, 1]. Two warm-ups, both off by default: ``warmup_steps`` ramps the factor as ``(step + 1) / warmup_steps``
    over the first steps; ``warmup_fraction`` spends that share of the progress rising linearly from
    ``warmup_start`` to 1, and the cosine then runs over the rest (a one-cycle shape over the budget).
    Step it once per optimiser step (``scheduler_interval="step"``); with the Trainer pass
    ``scheduler=lambda opt, trainer: budget_cosine(opt, trainer.budget_fraction, ...)``.

    >>> import torch
    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> spent = [0.0]
    >>> sched = budget_cosine(opt, lambda: spent[0], floor=0.1)
    >>> spent[0] = 0.5; opt.step(); sched.step(); round(sched.get_last_lr()[0], 3)
    0.55
    >>> cycle = budget_cosine(opt, lambda: spent[0], warmup_fraction=0.1, warmup_start=0.2).lr_lambdas[0]
    >>> [round(cycle(0), 3) for spent[0] in (0.0, 0.05, 0.1, 0.55, 1.0)]
    [0.2, 0.6, 1.0, 0.5, 0.0]
    """
    import torch

    if not 0.0 <= warmup_fraction < 1.0:
        raise ConfigError(f"warmup_fraction must lie in [0, 1), got {warmup_fraction}")

    def factor(step: int) -> float:
        progress = budget_progress(budget_fraction(), step, total_steps)
        warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
        if progress < warmup_fraction:
            return warm * (warmup_start + (1.0 - warmup_start) * progress / warmup_fraction)
        t = (progress - warmup_fraction) / (1.0 - warmup_fraction)
        return warm * (floor + (1.0 - floor) * 0.5 * (1 + math.cos(math.pi * t)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
