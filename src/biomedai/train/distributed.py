"""Multi-process training with ``torchrun``: detect the environment, set up the process group, reduce metrics.

``torchrun --nproc_per_node N script.py`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; the
:class:`~biomedai.train.engine.Trainer` reads them through :func:`distributed_from_env` and does the
rest (process group, ``DistributedDataParallel``, ``DistributedSampler``, rank-0-only writes).
"""
from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class DistributedContext:
    """Where this process sits in a (possibly single-process) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    #: True when this context initialised the process group (and so should destroy it)
    owns_group: bool = False

    @property
    def is_distributed(self) -> bool:
        """Whether more than one process takes part."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes checkpoints, logs and progress bars."""
        return self.rank == 0


def distributed_from_env(env: Mapping[str, str] | None = None) -> DistributedContext:
    """Read ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` (set by ``torchrun``); a single process otherwise.

    Example:
        >>> distributed_from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}).is_main
        False
    """
    env = os.environ if env is None else env
    try:
        world_size = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local_rank = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise ConfigError(f"torchrun environment: RANK/WORLD_SIZE/LOCAL_RANK must be integers ({exc})") from exc
    if world_size < 1 or not 0 <= rank < world_size:
        raise ConfigError(f"torchrun environment: RANK={rank} does not fit WORLD_SIZE={world_size}")
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank)


def setup_distributed(device_type: str) -> DistributedContext:
    """Initialise the default process group when running under ``torchrun`` with more than one process.

    The back end is ``nccl`` for CUDA and ``gloo`` for CPU. A group that already exists is reused.
    """
    import torch.distributed as dist

    ctx = distributed_from_env()
    if not ctx.is_distributed:
        return ctx
    if not dist.is_available():
        raise ConfigError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed")
    if dist.is_initialized():
        return dataclasses.replace(ctx, rank=dist.get_rank(), world_size=dist.get_world_size(),
                                   backend=str(dist.get_backend()), owns_group=False)
    backend = "nccl" if device_type == "cuda" else "gloo"
    if backend == "nccl":
        import torch

        torch.cuda.set_device(ctx.local_rank)
    dist.init_process_group(backend=backend)
    logger.info("process group ready: rank %d of %d (%s)", ctx.rank, ctx.world_size, backend)
    return dataclasses.replace(ctx, backend=backend, owns_group=True)


def teardown_distributed(ctx: DistributedContext) -> None:
    """Destroy the process group if ``ctx`` created it."""
    import torch.distributed as dist

    if ctx.owns_group and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistributedContext) -> None:
    """Wait for every rank (no-op for a single process)."""
    if ctx.is_distributed:
        import torch.distributed as dist

        dist.barrier()


def all_reduce_mean(values: Mapping[str, float], ctx: DistributedContext, device: Any = "cpu") -> dict[str, float]:
    """Average scalar metrics over ranks. Every rank must pass the same keys.

    Ranks see equal-sized shards under ``DistributedSampler``, so the mean of rank means is the
    mean over the whole (padded) data set.
    """
    values = {k: float(v) for k, v in values.items()}
    if not ctx.is_distributed or not values:
        return values
    import torch
    import torch.distributed as dist

    keys = sorted(values)
    all_keys = gather_objects(keys, ctx)
    if any(k != keys for k in all_keys):
        raise ConfigError(f"ranks returned different validation metric names: {all_keys}")
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    tensor /= ctx.world_size
    return dict(zip(keys, tensor.cpu().tolist()))


def gather_objects(obj: Any, ctx: DistributedContext) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank (``[obj]`` for a single process)."""
    if not ctx.is_distributed:
        return [obj]
    import torch.distributed as dist

    gathered: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(gathered, obj)
    return gathered
