"""Positivity-aware generation: a haematoxylin view of any input, a generator with a per-pixel positivity head,
and the DAB it draws.

Why: trained with L1 (+ GAN) alone, every small generator we trained drew no positive nucleus (README), because
Ki-67 positivity is weakly visible in haematoxylin and only ~12 % of the DeepLIIF nuclei are positive: the
loss-optimal guess is "no DAB anywhere". Here the generator gets a fourth output channel, a positive-nucleus
logit trained with a weighted BCE against the DeepLIIF positive mask, and the synthetic IHC is composed as
``base RGB x exp(-dab_od x L x DAB colour)`` where the head's probability exceeds a threshold chosen on
validation tiles (Beer-Lambert in the same Ruifrok-Johnston stain basis that ``skimage.color.rgb2hed`` and the
Ki-67 quantifier read back).

* :func:`haematoxylin_view` - any RGB (H&E, or a haematoxylin panel) -> colour deconvolution -> the
  haematoxylin optical density alone, scaled so its 99th percentile is ``reference_od``, rendered back to RGB.
  Training and inference inputs both pass through it, so the generator never sees eosin (or DAB).
* :class:`PositivityGenerator` - the Table 2 generator with four outputs: RGB (Tanh) and a positivity logit.
* :func:`draw_dab` - the composed synthetic IHC.
* :func:`positive_and_nucleus_masks` - training targets from a DeepLIIF mask.
* :func:`prior_threshold` - the probability threshold at which the share of nucleus pixels called positive
  equals a prior share (the training tiles' share).

Example:
    >>> import torch
    >>> g = PositivityGenerator(in_channels=3, width=8, res_blocks=1)
    >>> g(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 4, 32, 32])
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from biomedai.methods.ki67.deepliif import seg_to_instances

from .networks import TableTwoGenerator

#: skimage's ``rgb2hed`` maps ``log(max(rgb, 1e-6)) / log(1e-6)``: one optical-density unit is this many nepers
OD_SCALE = -math.log(1e-6)
#: the DeepLIIF haematoxylin panels' 99th percentile of haematoxylin OD (Bladder1 0.208, Lung1 0.141)
REFERENCE_H_OD = 0.175


def _rgb_from_hed() -> np.ndarray:
    from skimage.color import rgb_from_hed

    return np.asarray(rgb_from_hed, np.float64)


def haematoxylin_p99(rgb: np.ndarray) -> float:
    """The 99th percentile of the (non-negative) haematoxylin OD of ``rgb``: what :func:`haematoxylin_view`
    scales to ``reference_od``. A whole slide's value is estimated from a sample of its tissue tiles."""
    from skimage.color import rgb2hed

    return float(np.percentile(np.clip(rgb2hed(np.asarray(rgb)[..., :3])[..., 0], 0.0, None), 99))


def haematoxylin_view(rgb: np.ndarray, reference_od: float = REFERENCE_H_OD, p99: float | None = None) -> np.ndarray:
    """The haematoxylin of ``rgb`` alone, rendered as uint8 RGB, its OD scaled so the 99th percentile is
    ``reference_od`` (images with no haematoxylin are left unscaled). ``p99`` gives that percentile from
    elsewhere (the whole image or slide a tile belongs to), so tiles of one image are scaled alike.

    Example:
        >>> white = np.full((8, 8, 3), 255, np.uint8)
        >>> int(haematoxylin_view(white).min())
        255
    """
    from skimage.color import hed2rgb, rgb2hed

    h = rgb2hed(np.asarray(rgb)[..., :3])[..., 0]
    h = np.clip(h, 0.0, None)
    p99 = float(np.percentile(h, 99)) if p99 is None else float(p99)
    if p99 > 1e-3:
        h = h * (reference_od / p99)
    hed = np.zeros(h.shape + (3,))
    hed[..., 0] = h
    return (np.clip(hed2rgb(hed), 0.0, 1.0) * 255).round().astype(np.uint8)


class PositivityGenerator(nn.Module):
    """Table 2's generator with ``out_channels = 4``: Tanh RGB in [-1, 1] and a raw positive-nucleus logit."""

    def __init__(self, in_channels: int = 3, width: int = 64, res_blocks: int = 1,
                 padding_mode: str = "zeros") -> None:
        super().__init__()
        self.body = TableTwoGenerator(in_channels, 4, width, res_blocks, padding_mode)
        self.in_channels, self.out_channels = in_channels, 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.in_channels:
            raise ValueError(f"generator expects {self.in_channels} input channels, got {x.shape[1]}")
        z = self.body.model[:-1](x)  # everything but the final Tanh
        return torch.cat([torch.tanh(z[:, :3]), z[:, 3:]], dim=1)


def draw_dab(output: torch.Tensor, threshold: float, dab_od: float, softness: float = 0.05) -> torch.Tensor:
    """Compose the synthetic IHC from a :class:`PositivityGenerator` output ``[B, 4, H, W]``.

    DAB of optical density ``dab_od`` (rgb2hed units) is added where the positivity probability exceeds
    ``threshold`` (a logistic step of width ``softness`` in probability, so tile blending stays smooth).
    Returns RGB ``[B, 3, H, W]`` in [-1, 1].

    Example:
        >>> out = torch.zeros(1, 4, 2, 2); out[:, :3] = 1.0; out[:, 3] = 10.0   # white, surely positive
        >>> rgb = draw_dab(out, 0.5, 0.1)
        >>> bool((rgb[:, 2] < rgb[:, 0]).all())    # brown: less blue than red
        True
    """
    base = (output[:, :3].clamp(-1, 1) + 1.0) / 2.0
    prob = torch.sigmoid(output[:, 3:4])
    amount = torch.sigmoid((prob - threshold) / softness) * dab_od
    dab_colour = torch.as_tensor(_rgb_from_hed()[2], dtype=base.dtype, device=base.device).view(1, 3, 1, 1)
    rgb = base.clamp_min(1e-6) * torch.exp(-amount * OD_SCALE * dab_colour)
    return rgb * 2.0 - 1.0


def positive_and_nucleus_masks(seg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A DeepLIIF mask's positive-nucleus pixels (float32) and all nucleus pixels (bool), ``[H, W]`` each,
    read with the Ki-67 method's :func:`~biomedai.methods.ki67.deepliif.seg_to_instances`."""
    labels, classes = seg_to_instances(np.asarray(seg)[..., :3])
    return (classes[labels] == 1).astype(np.float32) * (labels > 0), labels > 0


def prior_threshold(probabilities: np.ndarray, prior_share: float) -> float:
    """The probability above which a ``prior_share`` of ``probabilities`` lie (a quantile), in (0, 1).

    Example:
        >>> prior_threshold(np.linspace(0, 1, 101), 0.2)
        0.8
    """
    p = np.asarray(probabilities, np.float64).ravel()
    if p.size == 0:
        raise ValueError("no probabilities to calibrate on")
    t = float(np.quantile(p, 1.0 - float(np.clip(prior_share, 0.0, 1.0))))
    return float(np.clip(round(t, 6), 1e-4, 1 - 1e-4))
