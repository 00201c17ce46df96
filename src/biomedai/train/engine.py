"""The training engine every method uses: :class:`Trainer`, :func:`train_model` and :class:`TrainResult`.

Example:
    >>> import tempfile, torch
    >>> from torch.utils.data import TensorDataset
    >>> _ = torch.manual_seed(0)
    >>> x = torch.randn(64, 3); y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    >>> result = train_model(torch.nn.Linear(3, 1), TensorDataset(x, y), TensorDataset(x, y),
    ...                      loss_fn=torch.nn.functional.mse_loss, output_dir=tempfile.mkdtemp(),
    ...                      epochs=3, lr=0.05, progress=False)
    >>> result.history[-1]["val_loss"] < result.history[0]["val_loss"]
    True
"""
from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import logging
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, IterableDataset, RandomSampler

from ..config import BaseConfig
from ..errors import BiomedaiError, ConfigError, WeightsError
from ..utils import json_default, progress
from .batches import move_to_device, split_loss, supervised_batch_to_loss
from .callbacks import Callback, MetricTracker
from .checkpoint import (check_state_dict_fits, copy_checkpoint, load_checkpoint, save_checkpoint,
                         save_weights)
from .config import TrainerConfig
from .distributed import (DistributedContext, all_reduce_mean, distributed_from_env, gather_objects,
                          setup_distributed, teardown_distributed)
from .metrics_log import JsonlLogger
from .progress import ProgressLines, TimeBudget
from .seeding import get_rng_state, seed_everything, seed_worker, set_rng_state

logger = logging.getLogger(__name__)

#: ``biomedai train --resume`` sets this, and :func:`train_model` then resumes from ``checkpoints/last.pt``
RESUME_ENV = "BIOMEDAI_RESUME"

BatchToLoss = Callable[[torch.nn.Module, Any], Any]
ValidateFn = Callable[[torch.nn.Module, Iterable[Any]], Mapping[str, Any]]


class NonFiniteLossError(BiomedaiError, FloatingPointError):
    """The training loss became NaN or infinite; the last checkpoint is from before it happened."""


class TrainingInterrupted(BiomedaiError):
    """Ctrl-C or SIGTERM stopped training; ``checkpoint`` (when not None) resumes from the step reached."""

    def __init__(self, message: str, checkpoint: Path | None) -> None:
        super().__init__(message)
        self.checkpoint = checkpoint


@dataclasses.dataclass
class TrainResult:
    """What :meth:`Trainer.fit` produced. Epochs are counted from 1."""

    monitor: str
    mode: str
    best_metric: float | None
    best_epoch: int | None
    epochs_completed: int
    global_step: int
    stopped_early: bool
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    weights: Path | None
    weights_sha256: str | None
    metrics_log: Path | None
    history: list[dict[str, Any]]
    #: training stopped because the run's time budget (``max_minutes``/``max_cpu_minutes``) was spent
    time_budget_spent: bool = False
    #: this job stopped after ``job_minutes``; ``resume`` continues the run (same budget, same schedule)
    job_time_spent: bool = False
    #: seconds the run has spent on each clock (``{"wall": ..., "cpu": ...}``), earlier resumed jobs included
    time_spent_s: dict[str, float] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary of the result."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=json_default))


class Trainer:
    """Train any ``nn.Module`` with any loss, optimiser and scheduler, on CPU, CUDA or under ``torchrun``.

    Args:
        model: an ``nn.Module``, or a zero-argument factory (called after seeding).
        train_data: a ``DataLoader``, a torch ``Dataset`` (batched with ``config.batch_size``) or any
            iterable of ready batches (used as is, not sharded under DDP). A training data set (or
            iterable) with a ``set_epoch(epoch)`` method is told the 0-based epoch before each epoch,
            resumed epochs included, as ``DistributedSampler`` is (for data that redraw samples per epoch).
        val_data: the same for validation, or None.
        optimizer: an optimiser over ``model``'s parameters, or ``factory(params)``; default AdamW.
        loss_fn: ``loss_fn(model(input), target)`` for (input, target) batches.
        batch_to_loss: ``batch_to_loss(model, batch) -> loss`` (or ``{"loss": ..., "other": ...}``) for
            any other batch layout; the batch is already on the device.
        scheduler: an LR scheduler, ``factory(optimizer)`` or ``factory(optimizer, trainer)`` (the last can
            follow :meth:`budget_fraction`, e.g. :func:`biomedai.train.schedules.budget_cosine`); stepped per
            epoch or per step.
        validate: ``validate(model, loader) -> {"name": value}``, called in eval mode under ``no_grad``
            with the raw loader (move batches with :func:`move_to_device`); default: mean loss.
            Metric names get a ``val_`` prefix unless they have one. ``validate(model, loader, trainer)``
            (three required positional arguments) also gets the Trainer, for hooks that depend on the run's
            progress (``trainer.epoch`` epochs done before this one, :meth:`budget_fraction`, ``trainer.budget``).
        output_dir: where ``checkpoints/last.pt``, ``checkpoints/best.pt``, ``metrics.jsonl`` and
            ``weights.pt`` go; None keeps nothing on disk.
        config: a :class:`TrainerConfig` (or dict); keyword ``overrides`` replace its fields.
        run_config: the calling method's config, stored in checkpoints for provenance.
        stateful: named objects with ``state_dict()`` and ``load_state_dict(state)`` whose state a resume
            needs beyond the model, optimiser and scheduler (a GAN's image pools, a data stream's own
            selection); their states go into every checkpoint under ``"stateful"`` (rank 0's under DDP) and
            are loaded back on resume. States hold only tensors and plain Python values (checkpoints load
            with ``weights_only=True``).

    Construction seeds every RNG with ``config.seed`` (before a model factory runs); a fresh
    ``fit`` seeds again with ``seed + rank``. Under ``torchrun`` only rank 0 writes files.
    """

    def __init__(self, model: torch.nn.Module | Callable[[], torch.nn.Module], train_data: Any, val_data: Any = None,
                 *, optimizer: Any = None, loss_fn: Callable[[Any, Any], Any] | None = None,
                 batch_to_loss: BatchToLoss | None = None, scheduler: Any = None,
                 validate: Callable[..., Mapping[str, Any]] | None = None, output_dir: str | Path | None = None,
                 config: TrainerConfig | Mapping[str, Any] | None = None,
                 callbacks: Iterable[Callback] = (), collate_fn: Callable[[list[Any]], Any] | None = None,
                 run_config: BaseConfig | Mapping[str, Any] | None = None,
                 stateful: Mapping[str, Any] | None = None, **overrides: Any) -> None:
        self.config = _make_config(config, overrides)
        cfg = self.config
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.env = distributed_from_env()
        self.device = resolve_device(cfg.device, self.env)
        seed_everything(cfg.seed, cfg.deterministic)
        self.model = (model if isinstance(model, torch.nn.Module) else model()).to(self.device)
        if batch_to_loss is None:
            if loss_fn is None:
                raise ConfigError("Trainer needs loss_fn (for (input, target) batches) or batch_to_loss")
            batch_to_loss = supervised_batch_to_loss(loss_fn)
        self.batch_to_loss = batch_to_loss
        self.validate_fn: ValidateFn = _bind_trainer(validate, self) if validate is not None else self._mean_loss
        self.optimizer = _make_optimizer(optimizer, self.model, cfg)
        self.budget = TimeBudget(*cfg.budget_minutes(), cfg.job_minutes)
        self.budget_exhausted = False
        self.job_time_spent = False
        self._spent_before: dict[str, float] = {}  # budget seconds spent by earlier jobs of a resumed run
        self.scheduler = _make_scheduler(scheduler, self.optimizer, self)
        if cfg.scheduler_interval == "step" and _is_plateau(self.scheduler):
            raise ConfigError("key 'scheduler_interval' must be 'epoch' for ReduceLROnPlateau")
        self.amp_dtype = _amp_dtype(cfg, self.device)
        use_scaler = self.amp_dtype == torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=True) if use_scaler else None
        self.callbacks = list(callbacks)
        self.stateful = _check_stateful(stateful)
        self.run_config = _plain(run_config.to_dict() if isinstance(run_config, BaseConfig) else run_config)
        self._own_generator: torch.Generator | None = None
        self._epoch_start_generator: torch.Tensor | None = None  # the data's own generator as the epoch began
        self.train_loader = self._make_loader(train_data, collate_fn, train=True)
        self.val_loader = self._make_loader(val_data, collate_fn, train=False) if val_data is not None else None
        self.monitor = cfg.monitor or ("val_loss" if self.val_loader is not None else "train_loss")
        self.tracker = MetricTracker(cfg.mode, cfg.min_delta, cfg.patience)
        self.epoch = 0  # epochs completed
        self.global_step = 0
        self.stopped_early = False
        self.history: list[dict[str, Any]] = []
        self.ctx = DistributedContext()
        self._fit_start = 0.0
        self._skip_batches = 0  # batches of the current epoch already trained before an interruption
        self._batches_done = 0
        self._progress_lines: ProgressLines | None = None
        self._stop_signal: int | None = None

    # ---------------------------------------------------------------- paths
    @property
    def last_checkpoint_path(self) -> Path | None:
        """Path of the last checkpoint, or None without an output folder."""
        return self.output_dir / "checkpoints" / "last.pt" if self.output_dir else None

    @property
    def best_checkpoint_path(self) -> Path | None:
        """Path of the best checkpoint, or None without an output folder."""
        return self.output_dir / "checkpoints" / "best.pt" if self.output_dir else None

    @property
    def metrics_log_path(self) -> Path | None:
        """Path of the JSON-lines metrics log, or None without an output folder."""
        return self.output_dir / "metrics.jsonl" if self.output_dir else None

    @property
    def weights_path(self) -> Path | None:
        """Path of the exported best weights, or None without an output folder."""
        return self.output_dir / "weights.pt" if self.output_dir else None

    # ---------------------------------------------------------------- time budget
    def budget_fraction(self) -> float:
        """Share of the run's time budget spent so far, in [0, 1] (earlier resumed jobs included; 0 without one).

        With both a wall and a CPU budget it is the larger share. Schedules that follow the budget read it,
        e.g. ``scheduler=lambda opt, trainer: budget_cosine(opt, trainer.budget_fraction)``.
        """
        return self.budget.fraction()

    def _budget_check(self, at: str) -> bool:
        """At a step or epoch end: mark the run's budget (or, at epoch ends, this job's limit) spent; True to stop."""
        if at == self.config.time_budget_check and self.budget.exhausted():
            self.budget_exhausted = True
        elif at == "epoch" and self.budget.job_exhausted():
            self.job_time_spent = True
        return self.budget_exhausted or self.job_time_spent

    def _log_budget_stop(self) -> None:
        if not self.ctx.is_main:
            return
        spent = self.budget.spent_s()
        if self.budget_exhausted:
            wall, cpu = self.budget.wall.minutes, self.budget.cpu.minutes
            limits = " and ".join(f"{m:.3g} {kind} minutes" for kind, m in (("wall", wall), ("cpu", cpu)) if m)
            logger.info("time budget of %s spent (%.1f wall, %.1f cpu minutes) after step %d (epoch %d); "
                        "training stops", limits, spent["wall"] / 60, spent["cpu"] / 60, self.global_step, self.epoch)
        elif self.job_time_spent:
            logger.info("this job's %.3g minutes are spent after epoch %d (%.1f of the run's budget used); "
                        "resume to continue", self.config.job_minutes, self.epoch, self.budget.fraction())

    # ---------------------------------------------------------------- main loop
    def fit(self, resume: bool | str | Path = False) -> TrainResult:
        """Train until ``config.epochs`` epochs are done or early stopping triggers.

        ``resume=True`` continues from ``output_dir/checkpoints/last.pt`` when it exists (weights,
        optimiser, scheduler, scaler, counters, best metric, RNG states and the ``stateful`` parts),
        reaching the same final weights as an uninterrupted run; a path resumes from that checkpoint file.
        Runs resume after the last completed epoch (work done after it is repeated), or at the step an
        interruption (Ctrl-C, SIGTERM) checkpointed.
        """
        self.ctx = setup_distributed(self.device.type)
        try:
            self.metrics_logger = JsonlLogger(self.metrics_log_path, enabled=self.ctx.is_main)
            resumed = self._resume(resume) if resume else False
            if not resumed:
                self._start_fresh()
            train_model = self._wrap_model()
            for callback in self.callbacks:
                callback.on_fit_start(self)
            self._fit_start = time.perf_counter()
            self.budget.start(self._spent_before)
            self.job_time_spent = False
            self.budget_exhausted = bool(self._spent_before) and self.budget.exhausted()  # spent by earlier jobs
            n_batches = _safe_len(self.train_loader)
            self._progress_lines = ProgressLines(
                n_batches * self.config.epochs // self.config.grad_accum_steps if n_batches else None, self.budget,
                self.config.progress_every_s,
                enabled=self.ctx.is_main and self.config.progress_every_s > 0 and self._bar_hidden())
            with self._interrupt_guard():
                while (self.epoch < self.config.epochs and not self.stopped_early and not self.budget_exhausted
                       and not self.job_time_spent):
                    self._run_epoch(train_model)
                    self._budget_check("epoch")
            self._log_budget_stop()
            for callback in self.callbacks:
                callback.on_fit_end(self)
            return self._finish()
        finally:
            teardown_distributed(self.ctx)

    def _bar_hidden(self) -> bool:
        """True when no tqdm bar is drawn (progress off, or stderr not a terminal): plain lines then."""
        if not self.config.progress:
            return True
        try:
            return not sys.stderr.isatty()
        except (AttributeError, ValueError):
            return True

    @contextlib.contextmanager
    def _interrupt_guard(self) -> Any:
        """Ctrl-C and SIGTERM ask training to stop at the end of the current step (a second Ctrl-C stops at once).

        The step finishes, ``checkpoints/last.pt`` is written at that step and :class:`TrainingInterrupted`
        is raised; ``fit(resume=True)`` continues from that very step.
        """
        installed: dict[int, Any] = {}
        if self.config.checkpoint_on_interrupt and threading.current_thread() is threading.main_thread():
            def request_stop(signum: int, frame: Any) -> None:
                if self._stop_signal is not None and signum == signal.SIGINT:
                    raise KeyboardInterrupt  # the second Ctrl-C: stop now, keep the last epoch's checkpoint
                self._stop_signal = signum
                logger.warning("signal %d: stopping after this step and saving a checkpoint", signum)

            for signum in (signal.SIGINT, signal.SIGTERM):
                installed[signum] = signal.signal(signum, request_stop)
        try:
            yield
        finally:
            for signum, previous in installed.items():
                signal.signal(signum, previous)

    def _stop_if_asked(self) -> None:
        """Called at step boundaries: on a pending stop signal, checkpoint this step and raise."""
        if self._stop_signal is None:
            return
        path = self._save_interrupted()
        where = (f"{path} holds step {self.global_step} ({self._batches_done} batches into epoch {self.epoch + 1});"
                 " run the same command with --resume (Trainer.fit(resume=True)) to continue from it"
                 if path is not None else "no checkpoint written (no output folder)")
        raise TrainingInterrupted(f"training interrupted by signal {self._stop_signal}; {where}", path)

    def _save_interrupted(self) -> Path | None:
        if not self.ctx.is_main or self.last_checkpoint_path is None:
            return None
        state = self.checkpoint_state([self._rng_state(epoch_start=True)])
        state["batches_done"] = self._batches_done
        state["interrupted"] = True
        save_checkpoint(self.last_checkpoint_path, state)
        logger.warning("interrupted: saved %s at step %d", self.last_checkpoint_path, self.global_step)
        return self.last_checkpoint_path

    def _start_fresh(self) -> None:
        self._spent_before = {}
        seed_everything(self.config.seed + self.ctx.rank, self.config.deterministic)
        self.metrics_logger.keep_epochs_up_to(0)
        best = self.best_checkpoint_path
        if self.ctx.is_main and best is not None and best.is_file():
            best.unlink()  # from an earlier run in the same folder

    def _run_epoch(self, train_model: torch.nn.Module) -> None:
        epoch = self.epoch + 1
        start = time.perf_counter()
        lr = self.optimizer.param_groups[0]["lr"]
        train_metrics = self._train_epoch(train_model, epoch)
        self._stop_if_asked()
        val_metrics = self._validate(epoch)
        record = {"kind": "epoch", "epoch": epoch, "step": self.global_step, "lr": lr, **train_metrics,
                  **val_metrics, "time": round(time.perf_counter() - start, 4)}
        value = self._monitored_value(record)
        improved = self.tracker.update(value, epoch)
        record["is_best"] = improved
        self.stopped_early = self.tracker.should_stop
        if self.scheduler is not None and _is_plateau(self.scheduler):
            self.scheduler.step(value)
        elif self.scheduler is not None and self.config.scheduler_interval == "epoch":
            self.scheduler.step()
        self.epoch = epoch
        self.history.append(record)
        self.metrics_logger.log(record)
        self._save_checkpoint(improved)
        if self.ctx.is_main:
            logger.info("epoch %d/%d %s", epoch, self.config.epochs,
                        " ".join(f"{k}={v:.4g}" for k, v in record.items() if isinstance(v, float)))
        for callback in self.callbacks:
            callback.on_epoch_end(self, record)
        if self.stopped_early and self.ctx.is_main:
            logger.info("early stopping after epoch %d: %s has not improved for %d epochs (best %.4g at epoch %s)",
                        epoch, self.monitor, self.tracker.bad_epochs, self.tracker.best, self.tracker.best_epoch)

    def _train_epoch(self, train_model: torch.nn.Module, epoch: int) -> dict[str, float]:
        loader = self.train_loader
        _set_loader_epoch(loader, epoch - 1, self._own_generator, self.config.seed)
        _set_data_epoch(loader, epoch - 1)
        generator = self._data_generator()
        self._epoch_start_generator = generator.get_state() if generator is not None else None
        n_batches = _safe_len(loader)
        if n_batches == 0:
            raise ConfigError("training data yields no batches (empty data set, or drop_last with too few items)")
        accum = self.config.grad_accum_steps
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        sums: dict[str, torch.Tensor] = {}
        count, window_loss, window_count, group_size, pending = 0, 0.0, 0, accum, 0
        epoch_start = time.perf_counter()
        bar = progress(loader, desc=f"epoch {epoch}/{self.config.epochs}", total=n_batches,
                       disable=self._progress_disabled())
        skip, self._skip_batches = self._skip_batches, 0
        self._batches_done = skip
        for index, batch in enumerate(bar):
            if index < skip:  # trained before an interruption: same order, resumed at the batch reached
                continue
            if index % accum == 0 and n_batches is not None:
                group_size = min(accum, n_batches - index)
            pending += 1
            boundary = pending == group_size
            loss, extras = self._forward_backward(train_model, batch, group_size, sync=boundary or n_batches is None)
            detached = {"train_loss": loss.detach().float(),
                        **{f"train_{k}": torch.as_tensor(v).detach().float().mean() for k, v in extras.items()}}
            for key, value in detached.items():
                sums[key] = sums[key] + value if key in sums else value
            count += 1
            if self.config.log_every_n_steps:
                window_loss, window_count = window_loss + loss.detach().float(), window_count + 1
            if boundary:
                self._optimizer_step()
                pending = 0
                self._batches_done = index + 1
                if self.config.log_every_n_steps and self.global_step % self.config.log_every_n_steps == 0:
                    self._log_step(epoch, window_loss / window_count, epoch_start)
                    window_loss, window_count = 0.0, 0
                if self._progress_lines is not None:
                    self._progress_lines.step(epoch, self.config.epochs, self.global_step, float(loss.detach()))
                self._stop_if_asked()
                if self._budget_check("step"):
                    break
        if pending:  # iterable data of unknown length: flush the last partial group
            self._optimizer_step()
        if count == 0:  # resumed exactly at the end of an epoch
            return {}
        local = {k: float(v / count) for k, v in sums.items()}
        metrics = all_reduce_mean(local, self.ctx, self._reduce_device())
        if not math.isfinite(metrics["train_loss"]):
            raise NonFiniteLossError(f"epoch {epoch}: training loss is {metrics['train_loss']}; "
                                     f"the last checkpoint holds epoch {self.epoch}")
        return metrics

    def _forward_backward(self, train_model: torch.nn.Module, batch: Any, group_size: int,
                          sync: bool) -> tuple[torch.Tensor, dict[str, Any]]:
        batch = move_to_device(batch, self.device)
        no_sync = self.ctx.is_distributed and not sync and hasattr(train_model, "no_sync")
        with train_model.no_sync() if no_sync else contextlib.nullcontext():
            with self._autocast():
                loss, extras = split_loss(self.batch_to_loss(train_model, batch))
            scaled = loss.float() / group_size
            (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
        return loss, extras

    def _optimizer_step(self) -> None:
        clip = self.config.grad_clip_norm
        if self.scaler is not None:
            if clip:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            if clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.global_step += 1
        if self.scheduler is not None and self.config.scheduler_interval == "step":
            self.scheduler.step()

    def _log_step(self, epoch: int, loss: Any, epoch_start: float) -> None:
        record = {"kind": "step", "epoch": epoch, "step": self.global_step,
                  "lr": self.optimizer.param_groups[0]["lr"], "train_loss": float(loss),
                  "time": round(time.perf_counter() - epoch_start, 4)}
        self.metrics_logger.log(record)
        for callback in self.callbacks:
            callback.on_step_end(self, record)

    # ---------------------------------------------------------------- validation
    def _validate(self, epoch: int) -> dict[str, float]:
        if self.val_loader is None:
            return {}
        _set_loader_epoch(self.val_loader, epoch - 1, None, self.config.seed)
        self.model.eval()
        with torch.no_grad(), self._autocast():
            raw = self.validate_fn(self.model, self.val_loader)
        if not isinstance(raw, Mapping):
            raise ConfigError(f"validate must return a mapping of metric names to numbers, got {type(raw).__name__}")
        local = {}
        for key, value in raw.items():
            try:
                local[key if key.startswith("val_") else f"val_{key}"] = float(value)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"validate returned a non-scalar value for metric {key!r}") from exc
        return all_reduce_mean(local, self.ctx, self._reduce_device())

    def _mean_loss(self, model: torch.nn.Module, loader: Iterable[Any]) -> dict[str, float]:
        """Default validation: the mean of ``batch_to_loss`` over the validation batches."""
        total, count = torch.zeros((), device=self.device), 0
        for batch in progress(loader, desc="validate", disable=self._progress_disabled()):
            loss, _ = split_loss(self.batch_to_loss(model, move_to_device(batch, self.device)))
            total, count = total + loss.float(), count + 1
        return {"loss": float(total / max(count, 1)) if count else float("nan")}

    def _monitored_value(self, record: Mapping[str, Any]) -> float:
        for key in (self.monitor, f"val_{self.monitor}"):
            if key in record:
                self.monitor = key
                return float(record[key])
        available = sorted(k for k, v in record.items() if isinstance(v, float))
        raise ConfigError(f"key 'monitor': metric {self.monitor!r} is not produced; available: {available}")

    # ---------------------------------------------------------------- checkpoints
    def checkpoint_state(self, rng_states: list[dict[str, Any]]) -> dict[str, Any]:
        """Everything needed to resume: weights, optimiser, scheduler, scaler, counters, RNG, config."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "epoch": self.epoch,
            "global_step": self.global_step,
            "monitor": self.monitor,
            "mode": self.config.mode,
            "tracker": self.tracker.state_dict(),
            "best_metric": self.tracker.best,
            "best_epoch": self.tracker.best_epoch,
            "stopped_early": self.stopped_early,
            "history": _plain(self.history),
            "rng": rng_states,
            "stateful": {name: part.state_dict() for name, part in self.stateful.items()},
            "world_size": self.ctx.world_size,
            "time_spent_s": self.budget.spent_s(),
            "config": {"trainer": _plain(self.config.to_dict()), "run": self.run_config},
        }

    def _data_generator(self) -> torch.Generator | None:
        """The training data's own generator (a DataLoader's or an iterable's), unless the engine reseeds it.

        The engine's own per-epoch generator is left out: it is reseeded every epoch.
        """
        generator = getattr(self.train_loader, "generator", None)
        return generator if generator is not None and generator is not self._own_generator else None

    def _rng_state(self, epoch_start: bool = False) -> dict[str, Any]:
        """Global RNG states and the data's own generator.

        ``epoch_start`` (a mid-epoch checkpoint) stores the generator as the epoch began, since the resumed
        epoch draws its batches again to skip those done.
        """
        state = {"global": get_rng_state()}
        generator = self._data_generator()
        if generator is not None:
            saved = self._epoch_start_generator if epoch_start else None
            state["loader_generator"] = saved if saved is not None else generator.get_state()
        return state

    def _save_checkpoint(self, improved: bool) -> None:
        rng_states = gather_objects(self._rng_state(), self.ctx)  # collective: every rank takes part
        if not self.ctx.is_main or self.last_checkpoint_path is None:
            return
        save_checkpoint(self.last_checkpoint_path, self.checkpoint_state(rng_states))
        if improved and self.best_checkpoint_path is not None:
            copy_checkpoint(self.last_checkpoint_path, self.best_checkpoint_path)

    def _resume(self, resume: bool | str | Path) -> bool:
        if resume is True:
            path = self.last_checkpoint_path
            if path is None:
                raise ConfigError("resume=True needs an output_dir holding checkpoints/last.pt")
            if not path.is_file():
                logger.info("no checkpoint at %s; starting a fresh run", path)
                return False
        else:
            path = Path(resume)
        state = load_checkpoint(path)
        check_state_dict_fits(self.model, state["model"], source=path)
        self.model.load_state_dict(state["model"])
        _load_component(self.optimizer, state.get("optimizer"), "optimizer", path)
        _load_component(self.scheduler, state.get("scheduler"), "scheduler", path)
        _load_component(self.scaler, state.get("scaler"), "scaler", path)
        self.epoch, self.global_step = int(state["epoch"]), int(state["global_step"])
        self.tracker.load_state_dict(state.get("tracker", {}))
        self.stopped_early = bool(state.get("stopped_early", False))
        self.history = list(state.get("history", []))
        saved_parts = state.get("stateful") or {}
        for name, part in self.stateful.items():
            _load_component(part, saved_parts.get(name), f"{name!r}", path)
        self._skip_batches = int(state.get("batches_done", 0))
        self._spent_before = {k: float(v) for k, v in (state.get("time_spent_s") or {}).items()}
        if state.get("monitor") not in (None, self.monitor, f"val_{self.monitor}"):
            logger.warning("%s: checkpoint monitored %r, this run monitors %r", path, state["monitor"], self.monitor)
        self._restore_rng(state.get("rng") or [], path)
        self.metrics_logger.keep_epochs_up_to(self.epoch)
        if self.ctx.is_main:
            logger.info("resumed from %s after epoch %d (step %d%s; %.1f wall, %.1f cpu minutes spent before)", path,
                        self.epoch, self.global_step,
                        f", {self._skip_batches} batches into epoch {self.epoch + 1}" if self._skip_batches else "",
                        self._spent_before.get("wall", 0.0) / 60, self._spent_before.get("cpu", 0.0) / 60)
        return True

    def _restore_rng(self, states: list[dict[str, Any]], path: Path) -> None:
        if not states:
            return
        if len(states) != self.ctx.world_size:
            logger.warning("%s: saved by %d processes, resumed by %d; RNG streams will differ",
                           path, len(states), self.ctx.world_size)
        mine = states[self.ctx.rank % len(states)]
        set_rng_state(mine["global"])
        generator = self._data_generator()
        if "loader_generator" in mine and generator is not None:
            generator.set_state(mine["loader_generator"])

    def _finish(self) -> TrainResult:
        weights_path, digest = None, None
        if self.ctx.is_main and self.config.export_weights and self.weights_path is not None:
            best = self.best_checkpoint_path
            state = load_checkpoint(best)["model"] if best is not None and best.is_file() else self.model.state_dict()
            digest = save_weights(state, self.weights_path)
            weights_path = self.weights_path
        last, best = self.last_checkpoint_path, self.best_checkpoint_path
        return TrainResult(
            monitor=self.monitor, mode=self.config.mode, best_metric=self.tracker.best,
            best_epoch=self.tracker.best_epoch, epochs_completed=self.epoch, global_step=self.global_step,
            stopped_early=self.stopped_early,
            last_checkpoint=last if last is not None and last.is_file() else None,
            best_checkpoint=best if best is not None and best.is_file() else None,
            weights=weights_path, weights_sha256=digest,
            metrics_log=self.metrics_log_path if self.ctx.is_main else None, history=list(self.history),
            time_budget_spent=self.budget_exhausted, job_time_spent=self.job_time_spent,
            time_spent_s=self.budget.spent_s())

    # ---------------------------------------------------------------- set-up helpers
    def _wrap_model(self) -> torch.nn.Module:
        if not self.ctx.is_distributed:
            return self.model
        from torch.nn.parallel import DistributedDataParallel

        if self.config.sync_batchnorm:
            self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(self.model, device_ids=device_ids,
                                       find_unused_parameters=self.config.find_unused_parameters)

    def _make_loader(self, data: Any, collate_fn: Callable[[list[Any]], Any] | None, train: bool) -> Any:
        cfg, env = self.config, self.env
        if isinstance(data, DataLoader):
            return _distributed_loader(data, env, train, cfg.seed) if env.is_distributed else data
        if not isinstance(data, Dataset):
            return data  # any other iterable is taken to yield ready batches
        shuffle = train and cfg.shuffle and not isinstance(data, IterableDataset)
        sampler, generator = None, None
        if env.is_distributed and not isinstance(data, IterableDataset):
            sampler = DistributedSampler(data, num_replicas=env.world_size, rank=env.rank, shuffle=shuffle,
                                         seed=cfg.seed, drop_last=False)
            shuffle = False
        elif shuffle:
            generator = torch.Generator()
            generator.manual_seed(cfg.seed)
            if train:
                self._own_generator = generator
        return DataLoader(data, batch_size=cfg.batch_size, shuffle=shuffle, sampler=sampler, generator=generator,
                          num_workers=cfg.num_workers, collate_fn=collate_fn, drop_last=train and cfg.drop_last,
                          worker_init_fn=seed_worker, pin_memory=self.device.type == "cuda")

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.amp_dtype)

    def _progress_disabled(self) -> bool | None:
        """Hidden off rank 0 or when ``config.progress`` is false; else the helper decides (BIOMEDAI_PROGRESS)."""
        return None if self.ctx.is_main and self.config.progress else True

    def _reduce_device(self) -> torch.device:
        return self.device if self.ctx.backend == "nccl" else torch.device("cpu")


def train_model(model: torch.nn.Module | Callable[[], torch.nn.Module], train_data: Any, val_data: Any = None, *,
                resume: bool | str | Path | None = None, **kwargs: Any) -> TrainResult:
    """One-call training: ``Trainer(model, train_data, val_data, **kwargs).fit(resume)``.

    Keyword arguments are the :class:`Trainer`'s (``loss_fn``, ``optimizer``, ``output_dir``, ...)
    and any :class:`TrainerConfig` field (``epochs=5``, ``monitor="val_dice"``, ``mode="max"``).
    ``resume=None`` follows the environment variable ``BIOMEDAI_RESUME`` (set to 1 by ``biomedai
    train --resume``), so every method's training can continue an interrupted run.
    """
    if resume is None:
        resume = os.environ.get(RESUME_ENV, "") not in ("", "0")
    return Trainer(model, train_data, val_data, **kwargs).fit(resume=resume)


def resolve_device(name: str, env: DistributedContext | None = None) -> torch.device:
    """``"auto"`` -> CUDA when available (``cuda:LOCAL_RANK`` under torchrun), else CPU."""
    env = env or DistributedContext()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"key 'device' is {name!r} but no CUDA device is available")
        if name == "cuda":
            return torch.device("cuda", env.local_rank if env.is_distributed else torch.cuda.current_device())
    return torch.device(name)


# -------------------------------------------------------------------- module helpers
def _make_config(config: TrainerConfig | Mapping[str, Any] | None, overrides: Mapping[str, Any]) -> TrainerConfig:
    if config is None:
        config = TrainerConfig()
    elif isinstance(config, Mapping):
        config = TrainerConfig.from_dict(dict(config), source="trainer config")
    elif not isinstance(config, TrainerConfig):
        raise ConfigError(f"config must be a TrainerConfig or a mapping, got {type(config).__name__}")
    return config.replace(**overrides) if overrides else config


def _check_stateful(stateful: Mapping[str, Any] | None) -> dict[str, Any]:
    parts = dict(stateful or {})
    for name, part in parts.items():
        if not (callable(getattr(part, "state_dict", None)) and callable(getattr(part, "load_state_dict", None))):
            raise ConfigError(f"stateful[{name!r}] needs state_dict() and load_state_dict(), "
                              f"got {type(part).__name__}")
    return parts


def _make_optimizer(optimizer: Any, model: torch.nn.Module, cfg: TrainerConfig) -> torch.optim.Optimizer:
    if optimizer is None:
        return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if callable(optimizer):
        built = optimizer(model.parameters())
        if not isinstance(built, torch.optim.Optimizer):
            raise ConfigError(f"optimizer factory returned {type(built).__name__}, not a torch optimizer")
        return built
    raise ConfigError(f"optimizer must be a torch optimizer or factory(params), got {type(optimizer).__name__}")


def _make_scheduler(scheduler: Any, optimizer: torch.optim.Optimizer, trainer: Trainer) -> Any:
    if scheduler is None or (hasattr(scheduler, "step") and hasattr(scheduler, "state_dict")):
        return scheduler
    if callable(scheduler):
        return scheduler(optimizer, trainer) if _positional_arity(scheduler) >= 2 else scheduler(optimizer)
    raise ConfigError(f"scheduler must be an LR scheduler, factory(optimizer) or factory(optimizer, trainer), "
                      f"got {type(scheduler).__name__}")


def _bind_trainer(validate: Callable[..., Mapping[str, Any]], trainer: Trainer) -> ValidateFn:
    """``validate`` as ``(model, loader)``: one that takes three positional arguments gets the trainer third."""
    if _positional_arity(validate) >= 3:
        return lambda model, loader: validate(model, loader, trainer)
    return validate


def _positional_arity(function: Callable[..., Any]) -> int:
    """How many positional arguments without a default ``function`` requires."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return 1
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in positional and p.default is inspect.Parameter.empty for p in parameters)


def _is_plateau(scheduler: Any) -> bool:
    return isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)


def _amp_dtype(cfg: TrainerConfig, device: torch.device) -> torch.dtype | None:
    if not cfg.amp or device.type != "cuda":
        return None
    if cfg.amp_dtype == "bf16":
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16
        logger.warning("this GPU has no bfloat16 support; using float16 mixed precision")
    return torch.float16


def _distributed_loader(loader: DataLoader, env: DistributedContext, train: bool, seed: int) -> Any:
    """Rebuild a DataLoader with a DistributedSampler so that each rank sees its own shard."""
    if isinstance(loader.dataset, IterableDataset) or loader.batch_size is None:
        logger.warning("cannot shard this DataLoader across ranks (iterable data or custom batching); "
                       "each rank must yield its own shard")
        return loader
    shuffle = train and isinstance(loader.sampler, RandomSampler)
    sampler = DistributedSampler(loader.dataset, num_replicas=env.world_size, rank=env.rank, shuffle=shuffle,
                                 seed=seed, drop_last=False)
    return DataLoader(loader.dataset, batch_size=loader.batch_size, sampler=sampler, num_workers=loader.num_workers,
                      collate_fn=loader.collate_fn, pin_memory=loader.pin_memory, drop_last=loader.drop_last,
                      worker_init_fn=loader.worker_init_fn, timeout=loader.timeout,
                      persistent_workers=loader.persistent_workers if loader.num_workers else False)


def _set_loader_epoch(loader: Any, epoch_index: int, own_generator: torch.Generator | None, seed: int) -> None:
    """Make the shuffling order a function of (seed, epoch), so resumed runs see the same batches."""
    sampler = getattr(loader, "sampler", None)
    if isinstance(sampler, DistributedSampler):
        sampler.set_epoch(epoch_index)
    if own_generator is not None:
        own_generator.manual_seed(seed * 100_003 + epoch_index)


def _set_data_epoch(loader: Any, epoch_index: int) -> None:
    """Tell training data that redraw samples per epoch which epoch starts (``dataset.set_epoch``)."""
    data = loader.dataset if isinstance(loader, DataLoader) else loader
    set_epoch = getattr(data, "set_epoch", None)
    if callable(set_epoch):
        set_epoch(epoch_index)


def _safe_len(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


def _load_component(component: Any, state: Any, name: str, path: Path) -> None:
    if component is None:
        return
    if state is None:
        logger.warning("%s: checkpoint has no %s state; it starts fresh", path, name)
        return
    try:
        component.load_state_dict(state)
    except (KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise WeightsError(f"{path}: {name} state does not fit this run ({exc})") from exc


def _plain(value: Any) -> Any:
    """JSON-safe copy (paths to strings, tuples to lists) so checkpoints load with ``weights_only=True``."""
    if value is None:
        return None
    return json.loads(json.dumps(value, default=json_default))
