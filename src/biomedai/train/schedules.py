"""Learning-rate schedules for the training engine (``scheduler=lambda opt: ...`` of :func:`train_model`)."""
from __future__ import annotations

import math
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
