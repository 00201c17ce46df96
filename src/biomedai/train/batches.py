"""Batch helpers: move nested batches to a device, split (input, target) batches, the default loss step."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ConfigError

#: keys tried, in order, when a batch is a mapping (MONAI style first)
INPUT_KEYS = ("image", "input", "inputs", "x")
TARGET_KEYS = ("label", "target", "targets", "y", "mask")


def move_to_device(batch: Any, device: Any, non_blocking: bool = True) -> Any:
    """Move every tensor in a nested tuple/list/dict batch to ``device``; other values are kept.

    Example:
        >>> import torch
        >>> move_to_device({"image": torch.zeros(1), "id": "a"}, "cpu")["id"]
        'a'
    """
    import torch

    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, Mapping):
        return {k: move_to_device(v, device, non_blocking) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(move_to_device(v, device, non_blocking) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to_device(v, device, non_blocking) for v in batch)
    return batch


def split_batch(batch: Any) -> tuple[Any, Any]:
    """``(input, target)`` from a pair/sequence or a mapping with ``image``/``label``-like keys."""
    if isinstance(batch, Mapping):
        inputs = next((batch[k] for k in INPUT_KEYS if k in batch), None)
        targets = next((batch[k] for k in TARGET_KEYS if k in batch), None)
        if inputs is None or targets is None:
            raise ConfigError(f"batch keys {sorted(batch)} hold no input {INPUT_KEYS} and target {TARGET_KEYS}; "
                              "pass batch_to_loss=... for this batch layout")
        return inputs, targets
    if isinstance(batch, (list, tuple)) and len(batch) >= 2:
        return batch[0], batch[1]
    raise ConfigError(f"a {type(batch).__name__} batch is not an (input, target) pair; "
                      "pass batch_to_loss=... for this batch layout")


def supervised_batch_to_loss(loss_fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """The default step: ``loss_fn(model(input), target)`` on an (input, target) batch."""

    def batch_to_loss(model: Any, batch: Any) -> Any:
        inputs, targets = split_batch(batch)
        return loss_fn(model(inputs), targets)

    return batch_to_loss


def split_loss(output: Any) -> tuple[Any, dict[str, Any]]:
    """A ``batch_to_loss`` result as ``(loss, extra scalars)``: a tensor, or a mapping with a ``loss`` key."""
    import torch

    if isinstance(output, torch.Tensor):
        loss, extras = output, {}
    elif isinstance(output, Mapping) and "loss" in output:
        loss = output["loss"]
        extras = {k: v for k, v in output.items() if k != "loss"}
    else:
        raise ConfigError(f"batch_to_loss must return a loss tensor or a mapping with a 'loss' key, "
                          f"got {type(output).__name__}")
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise ConfigError("batch_to_loss must return a single-element loss tensor")
    return loss.reshape(()), extras
