"""``TrainerConfig``: every knob of the training engine, loadable from YAML like any biomedai config."""
from __future__ import annotations

import dataclasses
import re
from typing import Literal

from ..config import BaseConfig

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


@dataclasses.dataclass
class TrainerConfig(BaseConfig):
    """Settings of :class:`biomedai.train.Trainer` (``seed`` comes from :class:`BaseConfig`).

    Example:
        >>> TrainerConfig.from_dict({"epochs": 3, "monitor": "val_dice", "mode": "max"}).mode
        'max'
    """

    epochs: int = 10
    #: "auto" (CUDA if available, else CPU), "cpu", "cuda", "cuda:N"; under torchrun CUDA means cuda:LOCAL_RANK
    device: str = "auto"
    #: mixed precision on CUDA (ignored on CPU); bf16 needs no loss scaling, fp16 uses a GradScaler
    amp: bool = True
    amp_dtype: Literal["bf16", "fp16"] = "bf16"
    #: clip the global gradient norm to this value (None: no clipping)
    grad_clip_norm: float | None = None
    #: optimiser step every N batches; the loss is averaged over them
    grad_accum_steps: int = 1
    #: metric that picks the best checkpoint; None means "val_loss" with validation data, else "train_loss"
    monitor: str | None = None
    mode: Literal["min", "max"] = "min"
    #: an improvement must beat the best so far by more than this
    min_delta: float = 0.0
    #: stop after this many epochs without improvement (None: never stop early)
    patience: int | None = None
    #: call scheduler.step() after each epoch or after each optimiser step
    scheduler_interval: Literal["epoch", "step"] = "epoch"
    #: also write a metrics line every N optimiser steps (0: per epoch only)
    log_every_n_steps: int = 0
    #: used only when the Trainer is given datasets rather than DataLoaders
    batch_size: int = 8
    num_workers: int = 0
    shuffle: bool = True
    drop_last: bool = False
    #: used only when no optimiser is given: AdamW(lr, weight_decay)
    lr: float = 1e-3
    weight_decay: float = 0.0
    #: ask PyTorch for deterministic kernels (slower on GPU)
    deterministic: bool = False
    progress: bool = True
    #: plain progress lines (step, loss, time left, peak memory) every N seconds when no progress bar is shown
    #: (output not a terminal, or ``progress`` false); 0 turns them off
    progress_every_s: float = 30.0
    #: stop after this many minutes of the whole run (a resumed run counts the minutes its checkpoint had spent);
    #: None: no limit
    max_minutes: float | None = None
    #: what ``max_minutes`` counts: the "wall" clock or this process's "cpu" time
    time_budget_clock: Literal["wall", "cpu"] = "wall"
    #: a second budget in CPU minutes of this process beside a wall-clock ``max_minutes`` (the run stops when
    #: either is spent); None: none
    max_cpu_minutes: float | None = None
    #: when the budgets are checked: after every optimiser "step" (the interrupted epoch is validated and
    #: checkpointed) or at the end of each "epoch" (training stops after the epoch in which a budget runs out)
    time_budget_check: Literal["step", "epoch"] = "step"
    #: end this job (not the run) after the epoch in which this many wall minutes of this job have passed;
    #: ``resume`` then continues the same budget and LR schedule. None: no limit
    job_minutes: float | None = None
    #: on Ctrl-C or SIGTERM save ``checkpoints/last.pt`` at the current step (resume continues from that step)
    checkpoint_on_interrupt: bool = True
    #: DDP options
    find_unused_parameters: bool = False
    sync_batchnorm: bool = False
    #: write weights.pt (+ .sha256) of the best model when training ends
    export_weights: bool = True

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the first setting out of range."""
        super().validate()
        checks = [
            ("epochs", self.epochs >= 1, "must be >= 1"),
            ("grad_accum_steps", self.grad_accum_steps >= 1, "must be >= 1"),
            ("grad_clip_norm", self.grad_clip_norm is None or self.grad_clip_norm > 0, "must be > 0 or null"),
            ("min_delta", self.min_delta >= 0, "must be >= 0"),
            ("patience", self.patience is None or self.patience >= 1, "must be >= 1 or null"),
            ("log_every_n_steps", self.log_every_n_steps >= 0, "must be >= 0"),
            ("batch_size", self.batch_size >= 1, "must be >= 1"),
            ("num_workers", self.num_workers >= 0, "must be >= 0"),
            ("lr", self.lr > 0, "must be > 0"),
            ("weight_decay", self.weight_decay >= 0, "must be >= 0"),
            ("device", isinstance(self.device, str) and bool(_DEVICE.match(self.device)),
             "must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"),
            ("mode", self.mode in ("min", "max"), "must be 'min' or 'max'"),
            ("amp_dtype", self.amp_dtype in ("bf16", "fp16"), "must be 'bf16' or 'fp16'"),
            ("scheduler_interval", self.scheduler_interval in ("epoch", "step"), "must be 'epoch' or 'step'"),
            ("progress_every_s", self.progress_every_s >= 0, "must be >= 0"),
            ("max_minutes", self.max_minutes is None or self.max_minutes > 0, "must be > 0 or null"),
            ("time_budget_clock", self.time_budget_clock in ("wall", "cpu"), "must be 'wall' or 'cpu'"),
            ("max_cpu_minutes", self.max_cpu_minutes is None or self.max_cpu_minutes > 0, "must be > 0 or null"),
            ("time_budget_check", self.time_budget_check in ("step", "epoch"), "must be 'step' or 'epoch'"),
            ("job_minutes", self.job_minutes is None or self.job_minutes > 0, "must be > 0 or null"),
        ]
        self.check_rules(checks)

    def budget_minutes(self) -> tuple[float | None, float | None]:
        """The run's (wall, CPU) budgets in minutes from ``max_minutes``, ``time_budget_clock``, ``max_cpu_minutes``."""
        wall = self.max_minutes if self.time_budget_clock == "wall" else None
        cpu = [m for m in (self.max_minutes if self.time_budget_clock == "cpu" else None, self.max_cpu_minutes)
               if m is not None]
        return wall, (min(cpu) if cpu else None)
