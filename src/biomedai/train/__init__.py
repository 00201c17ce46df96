"""The one training engine every method uses.

``Trainer``/``train_model`` train any model on CPU, CUDA or under ``torchrun`` (DDP), with AMP,
gradient clipping and accumulation, atomic checkpoints with exact resume, best-checkpoint
selection, early stopping, time budgets that carry over a resume, seeded runs, a progress bar and a
JSON-lines metrics log.
``save_weights``/``load_weights`` write and read checksum-verified weights files.

Names are imported lazily so that ``import biomedai.train`` does not pull in torch until used.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..utils import lazy_exports

if TYPE_CHECKING:  # for type checkers and IDEs; at run time names load on first use
    from .batches import move_to_device, split_batch
    from .callbacks import Callback, MetricTracker
    from .checkpoint import (check_state_dict_fits, load_checkpoint, load_weights, save_checkpoint, save_weights,
                             state_dict_sha256, unwrap_model)
    from .config import TrainerConfig
    from .distributed import DistributedContext, all_reduce_mean, distributed_from_env
    from .engine import NonFiniteLossError, Trainer, TrainResult, resolve_device, train_model
    from .metrics_log import JsonlLogger, read_jsonl
    from .model_folder import (BundledModel, ModelInfo, bundled_models, default_model_folder, load_model_folder,
                               read_model_info, save_model_folder)
    from .progress import TimeBudget
    from .schedules import budget_cosine, budget_progress, warmup_cosine
    from .seeding import get_rng_state, seed_everything, seed_worker, set_rng_state

_EXPORTS = {
    "Trainer": "engine", "TrainResult": "engine", "train_model": "engine", "resolve_device": "engine",
    "NonFiniteLossError": "engine",
    "TrainerConfig": "config",
    "save_weights": "checkpoint", "load_weights": "checkpoint", "save_checkpoint": "checkpoint",
    "load_checkpoint": "checkpoint", "state_dict_sha256": "checkpoint", "unwrap_model": "checkpoint",
    "check_state_dict_fits": "checkpoint",
    "seed_everything": "seeding", "seed_worker": "seeding", "get_rng_state": "seeding", "set_rng_state": "seeding",
    "DistributedContext": "distributed", "distributed_from_env": "distributed", "all_reduce_mean": "distributed",
    "Callback": "callbacks", "MetricTracker": "callbacks",
    "JsonlLogger": "metrics_log", "read_jsonl": "metrics_log",
    "move_to_device": "batches", "split_batch": "batches",
    "ModelInfo": "model_folder", "BundledModel": "model_folder", "save_model_folder": "model_folder",
    "load_model_folder": "model_folder", "read_model_info": "model_folder", "bundled_models": "model_folder",
    "default_model_folder": "model_folder",
    "warmup_cosine": "schedules", "budget_cosine": "schedules", "budget_progress": "schedules",
    "TimeBudget": "progress",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
