"""The condition channel of the conditional CycleGAN (paper 2.5; Mirza & Osindero 2014).

A tile's MIL output (a hard tumour/normal label or the tumour probability) becomes extra input planes of
the generator: one constant plane holding the value (``plane``), or two planes holding ``(1 - p, p)``
(``onehot``). ``none`` gives the plain CycleGAN (the ablation).

Example:
    >>> import torch
    >>> x = torch.zeros(2, 3, 4, 4)
    >>> with_condition(x, torch.tensor([0.0, 1.0]), "onehot").shape
    torch.Size([2, 5, 4, 4])
"""
from __future__ import annotations

import torch

from .config import CONDITION_MODES


def condition_values(probabilities: torch.Tensor, source: str, threshold: float = 0.5) -> torch.Tensor:
    """The per-tile condition value: the hard label (``p >= threshold``) or the probability itself."""
    p = probabilities.float().reshape(-1)
    if source == "hard":
        return (p >= threshold).float()
    if source == "probability":
        return p.clamp(0.0, 1.0)
    raise ValueError(f"condition source must be 'hard' or 'probability', got {source!r}")


def condition_planes(values: torch.Tensor, mode: str, height: int, width: int) -> torch.Tensor | None:
    """``[B, C, height, width]`` planes for per-tile values in [0, 1] (None for ``mode="none"``)."""
    if mode not in CONDITION_MODES:
        raise ValueError(f"condition mode must be one of {CONDITION_MODES}, got {mode!r}")
    if mode == "none":
        return None
    v = values.float().reshape(-1, 1, 1, 1)
    channels = v if mode == "plane" else torch.cat([1.0 - v, v], dim=1)
    return channels.expand(-1, -1, height, width)


def with_condition(images: torch.Tensor, values: torch.Tensor | None, mode: str) -> torch.Tensor:
    """``images`` ``[B, 3, H, W]`` with the condition planes appended (unchanged for ``mode="none"``)."""
    if mode == "none":
        return images
    if values is None:
        raise ValueError(f"condition mode {mode!r} needs a condition value per tile")
    if values.numel() != images.shape[0]:
        raise ValueError(f"{values.numel()} condition values for a batch of {images.shape[0]} tiles")
    planes = condition_planes(values.to(images.device), mode, images.shape[2], images.shape[3])
    return torch.cat([images, planes.to(images.dtype)], dim=1)
