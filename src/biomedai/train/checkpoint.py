"""Atomic training checkpoints and checksum-verified model weights.

Training checkpoints (``last.pt``, ``best.pt``) hold everything needed to resume a run.
Weights files hold only a model's ``state_dict`` and come with a ``<file>.sha256`` sidecar
(``sha256sum`` format) so that :func:`load_weights` can refuse a file that changed.
"""
from __future__ import annotations

import hashlib
import logging
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import WeightsError
from ..utils import atomic_path, sha256_file, write_text_atomic

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "biomedai-checkpoint"
CHECKPOINT_VERSION = 1
_REMOTE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module inside ``DistributedDataParallel``/``DataParallel``/``torch.compile`` wrappers."""
    while True:
        if hasattr(model, "module") and type(model).__name__ in ("DistributedDataParallel", "DataParallel"):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def save_checkpoint(path: str | Path, state: Mapping[str, Any]) -> Path:
    """Write a training checkpoint atomically: a crash mid-write keeps the previous file intact."""
    import torch

    path = Path(path)
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save(payload, handle)  # a file handle keeps the archive name fixed: same state, same bytes
    return path


def load_checkpoint(path: str | Path, map_location: str | Any = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; raises ``WeightsError`` if unusable."""
    path = _local_path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: checkpoint file not found")
    state = _torch_load(path, map_location)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise WeightsError(f"{path}: not a biomedai training checkpoint")
    if "model" not in state:
        raise WeightsError(f"{path}: checkpoint has no 'model' entry")
    return state


def copy_checkpoint(source: str | Path, target: str | Path) -> Path:
    """Copy a checkpoint file atomically (used to keep ``best.pt`` beside ``last.pt``)."""
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    return Path(target)


def state_dict_sha256(model_or_state: torch.nn.Module | Mapping[str, Any]) -> str:
    """A SHA-256 digest of a model's tensors (names, dtypes, shapes and bytes), independent of file format.

    Two models with bit-identical weights give the same digest, whatever device they live on.
    """
    import torch

    state = model_or_state
    if isinstance(model_or_state, torch.nn.Module):
        state = unwrap_model(model_or_state).state_dict()
    digest = hashlib.sha256()
    for key in sorted(state):
        value = state[key]
        digest.update(key.encode())
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu().contiguous()
            digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
        else:
            digest.update(repr(value).encode())
    return digest.hexdigest()


def save_weights(model: torch.nn.Module | Mapping[str, Any], path: str | Path) -> str:
    """Save a model's ``state_dict`` (on CPU) to ``path`` and its SHA-256 to ``path.sha256``.

    Returns the hex digest.

    Example:
        >>> import tempfile, torch
        >>> from pathlib import Path
        >>> folder = Path(tempfile.mkdtemp())
        >>> digest = save_weights(torch.nn.Linear(2, 1), folder / "w.pt")
        >>> (folder / "w.pt.sha256").read_text().split()[0] == digest
        True
    """
    import torch

    path = Path(path)
    state = model
    if isinstance(model, torch.nn.Module):
        state = unwrap_model(model).state_dict()
    cpu_state = {k: (v.detach().cpu() if isinstance(v, torch.Tensor) else v) for k, v in state.items()}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            torch.save(cpu_state, handle)  # a file handle keeps the archive name fixed: same state, same bytes
        digest = sha256_file(tmp)
    write_text_atomic(sidecar_path(path), f"{digest}  {path.name}\n")
    return digest


def sidecar_path(path: str | Path) -> Path:
    """``weights.pt`` -> ``weights.pt.sha256``."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def load_weights(model: torch.nn.Module | None, path: str | Path, expected_sha256: str | None = None,
                 map_location: str | Any = "cpu") -> dict[str, Any]:
    """Load a local weights file after checking its SHA-256, optionally into ``model``.

    The digest is checked against ``expected_sha256`` if given, else against the ``.sha256``
    sidecar (a warning is logged when there is neither). A training checkpoint is accepted too
    (its ``model`` entry is used). When ``model`` is given, every key and shape must fit it;
    otherwise ``WeightsError`` names the first bad key. Returns the state dict.

    Example:
        >>> import tempfile, torch
        >>> from pathlib import Path
        >>> path = Path(tempfile.mkdtemp()) / "w.pt"
        >>> _ = save_weights(torch.nn.Linear(2, 1), path)
        >>> sorted(load_weights(torch.nn.Linear(2, 1), path))
        ['bias', 'weight']
    """
    path = _local_path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    _verify_checksum(path, expected_sha256)
    loaded = _torch_load(path, map_location)
    state = _extract_state_dict(loaded, path)
    if model is not None:
        target = unwrap_model(model)
        state = _strip_prefix(state, target)
        check_state_dict_fits(target, state, source=path)
        target.load_state_dict(state, strict=True)
    return state


def check_state_dict_fits(model: torch.nn.Module, state: Mapping[str, Any], source: str | Path = "weights") -> None:
    """Raise ``WeightsError`` naming the first key that is missing, unexpected or of the wrong shape."""
    import torch

    expected = model.state_dict()
    for key, value in expected.items():
        if key not in state:
            raise WeightsError(f"{source}: key {key!r} the model needs is missing from the weights "
                               f"({len(state)} keys in file, {len(expected)} in model)")
        got = state[key]
        if isinstance(value, torch.Tensor) and isinstance(got, torch.Tensor) and got.shape != value.shape:
            raise WeightsError(f"{source}: key {key!r} has shape {tuple(got.shape)} in the weights "
                               f"but {tuple(value.shape)} in the model")
    for key in state:
        if key not in expected:
            raise WeightsError(f"{source}: key {key!r} in the weights does not exist in the model")


def _verify_checksum(path: Path, expected: str | None) -> None:
    actual = sha256_file(path)
    source = "expected"
    if expected is None:
        side = sidecar_path(path)
        if not side.is_file():
            logger.warning("%s: no expected SHA-256 and no %s sidecar; loading unverified", path, side.name)
            return
        parts = side.read_text(encoding="utf-8").split()
        if not parts:
            raise WeightsError(f"{side}: checksum sidecar is empty")
        expected, source = parts[0], f"sidecar {side.name}"
    if actual.lower() != expected.strip().lower():
        raise WeightsError(f"{path}: SHA-256 mismatch: {source} {expected.strip()}, file has {actual}")


def _torch_load(path: Path, map_location: Any) -> Any:
    import torch

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling problem becomes one clear error
        raise WeightsError(f"{path}: not a readable PyTorch file ({exc.__class__.__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})") from exc


def _extract_state_dict(loaded: Any, path: Path) -> dict[str, Any]:
    if isinstance(loaded, dict) and loaded.get("format") == CHECKPOINT_FORMAT:
        loaded = loaded.get("model")
    elif isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not all(isinstance(k, str) for k in loaded):
        raise WeightsError(f"{path}: does not hold a state dict (a mapping of parameter names to tensors)")
    return dict(loaded)


def _strip_prefix(state: dict[str, Any], model: torch.nn.Module) -> dict[str, Any]:
    """Accept weights saved from a DDP/DataParallel wrapper (keys prefixed ``module.``)."""
    expected = model.state_dict()
    if state and all(k.startswith("module.") for k in state) and not any(k.startswith("module.") for k in expected):
        return {k[len("module."):]: v for k, v in state.items()}
    return state


def _local_path(path: str | Path) -> Path:
    if isinstance(path, str) and _REMOTE.match(path):
        raise WeightsError(f"{path}: only local weight files are accepted; download it and pass the local path")
    return Path(path).expanduser()
