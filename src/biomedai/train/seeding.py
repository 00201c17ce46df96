"""Seeded runs: one call seeds every random number generator; RNG states can be saved and restored."""
from __future__ import annotations

import logging
import os
import random
from typing import Any

logger = logging.getLogger(__name__)


def seed_everything(seed: int, deterministic: bool = False) -> int:
    """Seed Python's ``random``, NumPy and PyTorch (CPU and every CUDA device).

    With ``deterministic=True`` PyTorch is also asked for deterministic kernels (cuDNN benchmark
    off, ``torch.use_deterministic_algorithms(True, warn_only=True)``), which can be slower.

    Example:
        >>> import torch
        >>> _ = seed_everything(7); a = torch.rand(2)
        >>> _ = seed_everything(7); bool(torch.equal(a, torch.rand(2)))
        True
    """
    import numpy as np
    import torch

    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)
    return seed


def seed_worker(worker_id: int) -> None:
    """``DataLoader(worker_init_fn=...)``: seed NumPy and ``random`` in each worker from PyTorch's seed."""
    import numpy as np
    import torch

    worker_seed = torch.initial_seed() % (2**32)
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def get_rng_state() -> dict[str, Any]:
    """The state of every RNG, in a form ``torch.load(weights_only=True)`` accepts (no NumPy objects)."""
    import numpy as np
    import torch

    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": python_rng_state(random),
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore states written by :func:`get_rng_state`."""
    import numpy as np
    import torch

    if "python" in state:
        set_python_rng_state(random, state["python"])
    if "numpy" in state:
        name, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    if "torch" in state:
        torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states])
        else:
            logger.warning("checkpoint holds %d CUDA RNG states but %d devices are visible; CUDA RNG not restored",
                           len(cuda_states), torch.cuda.device_count())


def python_rng_state(rng: Any) -> list[Any]:
    """The state of a Python ``random.Random`` (or the ``random`` module) as lists (``weights_only`` loads it)."""
    return _to_lists(rng.getstate())


def set_python_rng_state(rng: Any, state: list[Any]) -> None:
    """Restore a state written by :func:`python_rng_state`."""
    version, internal, gauss = state
    rng.setstate((version, tuple(internal), gauss))


def _to_lists(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_to_lists(v) for v in value]
    return value
