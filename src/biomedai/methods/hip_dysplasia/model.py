"""The landmark detector (beyond the paper): heat-map regression of the points the angles need.

The paper's automatic contouring (U-Net) failed on its small data. Instead of contours, this network
predicts the eight points the angles need directly (per hip: head centre H, lateral edge L, teardrop
T, sourcil medial edge S), one Gaussian heat map per point, as in landmark-detection practice.
Channels are positional (the hip on the image's left first), so the network never has to know the
patient's side; :func:`positional_to_sides` maps them with the film's orientation.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

POINTS = ("H", "L", "T", "S")
POSITIONS = ("image_left", "image_right")
N_LANDMARKS = len(POINTS) * len(POSITIONS)


class LandmarkHeatmapNet(nn.Module):
    """A 2-D U-Net (MONAI) with one output heat map per landmark.

    Args:
        in_channels: image channels (1 for radiographs).
        out_channels: number of landmarks.
        features: channels per level, coarsest last.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = N_LANDMARKS,
                 features: Sequence[int] = (16, 32, 64, 128)) -> None:
        super().__init__()
        from monai.networks.nets import UNet

        self.unet = UNet(spatial_dims=2, in_channels=in_channels, out_channels=out_channels,
                         channels=tuple(features), strides=(2,) * (len(features) - 1), num_res_units=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.unet(x)


def gaussian_heatmaps(points: np.ndarray, size: int, sigma: float) -> np.ndarray:
    """``(n_points, size, size)`` float32 heat maps with peak 1 at each ``(x, y)`` point."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    out = np.empty((len(points), size, size), np.float32)
    for k, (x, y) in enumerate(points):
        out[k] = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma * sigma))
    return out


def spatial_softmax(logits: torch.Tensor) -> torch.Tensor:
    """Per-map softmax over all pixels: ``(b, k, h, w)`` logits -> probability maps summing to 1."""
    b, k, h, w = logits.shape
    return torch.softmax(logits.float().reshape(b, k, h * w), dim=-1).reshape(b, k, h, w)


def expected_coordinates(prob: torch.Tensor) -> torch.Tensor:
    """Soft-argmax: ``(b, k, h, w)`` probability maps -> ``(b, k, 2)`` expected ``(x, y)`` in pixels."""
    h, w = prob.shape[-2:]
    xs = torch.arange(w, dtype=prob.dtype, device=prob.device)
    ys = torch.arange(h, dtype=prob.dtype, device=prob.device)
    return torch.stack([(prob.sum(-2) * xs).sum(-1), (prob.sum(-1) * ys).sum(-1)], dim=-1)


def heatmap_loss(logits: torch.Tensor, target: torch.Tensor, coordinate_weight: float = 0.05) -> torch.Tensor:
    """Cross-entropy between the spatial softmax of the logits and the normalised Gaussian target, plus the
    mean pixel distance between their soft-argmax coordinates (DSNT-style; learns quickly from scratch)."""
    b, k, h, w = logits.shape
    log_p = torch.log_softmax(logits.float().reshape(b, k, h * w), dim=-1)
    t = target.float().reshape(b, k, h * w)
    t = t / t.sum(-1, keepdim=True).clamp_min(1e-12)
    ce = -(t * log_p).sum(-1).mean()
    coords = expected_coordinates(log_p.exp().reshape(b, k, h, w))
    true = expected_coordinates(t.reshape(b, k, h, w))
    return ce + coordinate_weight * (coords - true).norm(dim=-1).mean()


def decode_heatmaps(maps: torch.Tensor | np.ndarray, window: int = 2) -> np.ndarray:
    """``(..., n, h, w)`` heat or probability maps -> ``(..., n, 3)`` of ``(x, y, peak value)``: arg-max refined by the
    weighted centroid of the positive values in a ``(2 * window + 1)`` square around it."""
    arr = maps.detach().float().cpu().numpy() if isinstance(maps, torch.Tensor) else np.asarray(maps, np.float32)
    lead = arr.shape[:-2]
    flat = arr.reshape(-1, *arr.shape[-2:])
    out = np.empty((len(flat), 3), np.float64)
    h, w = flat.shape[-2:]
    for i, m in enumerate(flat):
        y, x = np.unravel_index(int(np.argmax(m)), m.shape)
        y0, y1, x0, x1 = max(y - window, 0), min(y + window + 1, h), max(x - window, 0), min(x + window + 1, w)
        patch = np.clip(m[y0:y1, x0:x1], 0, None)
        total = float(patch.sum())
        if total > 0:
            gy, gx = np.mgrid[y0:y1, x0:x1]
            out[i] = (float((gx * patch).sum() / total), float((gy * patch).sum() / total), float(m[y, x]))
        else:
            out[i] = (float(x), float(y), float(m[y, x]))
    return out.reshape(*lead, 3)


def positional_to_sides(points: np.ndarray, image_left_side: str = "right") -> dict[str, dict[str, list[float]]]:
    """``(8, 2)`` positional points -> ``{"right": {"H": [x, y], ...}, "left": {...}}``."""
    other = "left" if image_left_side == "right" else "right"
    out: dict[str, dict[str, list[float]]] = {}
    for p, side in ((0, image_left_side), (1, other)):
        out[side] = {name: [float(v) for v in points[p * len(POINTS) + k][:2]] for k, name in enumerate(POINTS)}
    return out


def sides_to_positional(marks: dict[str, dict[str, Any]]) -> np.ndarray:
    """The inverse: order the two hips by the x of their head centres (image left first)."""
    sides = sorted(marks, key=lambda s: float(np.asarray(marks[s]["H"])[0]))
    return np.array([np.asarray(marks[s][name], float)[:2] for s in sides for name in POINTS])
