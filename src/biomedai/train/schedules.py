"""Learning-rate schedules for the training engine (``scheduler=lambda opt: ...`` of :func:`train_model`)."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any


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


def budget_cosine(optimizer: Any, budget_fraction: Callable[[], float], total_steps: int | None = None,
                  warmup_steps: int = 0, floor: float = 0.0) -> Any:
    """A ``LambdaLR`` whose cosine follows the time budget: from 1 down to ``floor`` as progress goes 0 -> 1.

    Progress is the larger of ``budget_fraction()`` (e.g. :meth:`Trainer.budget_fraction`, which carries over
    a resume) and ``step / total_steps`` (left out when ``total_steps`` is None), clipped to [0, 1]; the
    factor is also ramped linearly as ``(step + 1) / warmup_steps`` over the first ``warmup_steps`` steps.
    Step it once per optimiser step (``scheduler_interval="step"``); with the Trainer pass
    ``scheduler=lambda opt, trainer: budget_cosine(opt, trainer.budget_fraction, ...)``.

    >>> import torch
    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> spent = [0.0]
    >>> sched = budget_cosine(opt, lambda: spent[0], floor=0.1)
    >>> spent[0] = 0.5; opt.step(); sched.step(); round(sched.get_last_lr()[0], 3)
    0.55
    """
    import torch

    def factor(step: int) -> float:
        progress = budget_fraction()
        if total_steps is not None:
            progress = max(progress, step / max(total_steps, 1))
        progress = min(1.0, max(progress, 0.0))
        warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
        return warm * (floor + (1.0 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
