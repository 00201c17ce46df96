"""From the detector's maps to polylines: which grid cells become boxes, which image the contour check uses,
and the linking radii (spec 4.3 inference post-processing; the paper's numbers are unknown, spec 4.9).

Two ways of picking box centres (``peaks``):

* ``local_max``: CenterNet's 3x3 local maxima of the heat map above the score. Along a vessel the heat map is
  a ridge whose height hardly changes, so its 2-D maxima are sparse and fall where noise puts them: on the
  DRIVE validation images 38-40 a quarter of the manual centre line had no box within 8 px.
* ``ridge`` (default): cells that are a maximum across the ridge in at least one of the four grid directions
  and above the score, thinned greedily (highest score first) to at least ``min_distance`` pixels apart (the
  box step of the training boxes), so that boxes follow the vessel as densely as they were generated.

Two contour images (``contour``): ``image``, an adaptive threshold of the preprocessed plane
(:func:`linking.vessel_foreground`), or ``heatmap`` (default), the detector's heat map upsampled to the image
and thresholded at ``heat_foreground``: a link is kept when its segment stays on the detector's own vessel
evidence. Measured on the validation images 38-40 (README, decision 9).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from .config import VesselsConfig
from .detector import decode_detections
from .linking import link_detections, vessel_foreground
from .polylines import PolylineSet


@dataclass(frozen=True)
class Decoding:
    """Every setting between the detector's maps and the polylines (stored in a detector's ``model.json``)."""

    score: float = 0.3
    peaks: Literal["local_max", "ridge"] = "ridge"
    contour: Literal["image", "heatmap"] = "heatmap"
    heat_foreground: float = 0.3
    link_radius: float = 2.0
    min_fraction: float = 0.8
    end_link_radius: float = 0.0
    end_min_fraction: float = 0.5
    #: smallest distance between two box centres of the ``ridge`` decoding (px); None: the box step
    min_distance: float | None = None

    KEYS: ClassVar[dict[str, str]] = {"score": "detector_score", "peaks": "detector_peaks", "contour": "contour_image",
            "heat_foreground": "heat_foreground", "link_radius": "link_radius",
            "min_fraction": "contour_min_fraction", "end_link_radius": "end_link_radius",
            "end_min_fraction": "end_min_fraction", "min_distance": "detector_min_distance"}

    @classmethod
    def from_config(cls, cfg: VesselsConfig) -> Decoding:
        """The config's decoding (the fallback when a model folder stores none)."""
        return cls(score=cfg.detector_score, peaks=cfg.detector_peaks, contour=cfg.contour_image,
                   heat_foreground=cfg.heat_foreground, link_radius=cfg.link_radius,
                   min_fraction=cfg.contour_min_fraction, end_link_radius=cfg.end_link_radius,
                   end_min_fraction=cfg.end_min_fraction, min_distance=cfg.box_step)

    @classmethod
    def from_preprocessing(cls, stored: dict[str, Any], cfg: VesselsConfig) -> Decoding:
        """The decoding a detector's ``model.json`` stores; keys it lacks come from ``cfg``.

        A folder written before the ``ridge`` decoding existed (no ``detector_peaks`` key) keeps the decoding
        it was tuned with: 3x3 local maxima, the image contour and a contour fraction of 0.5.
        """
        base = cls.from_config(cfg)
        if "detector_peaks" not in stored and "detector_score" in stored:
            base = dataclasses.replace(base, peaks="local_max", contour="image", min_fraction=0.5)
        values = {field: stored[key] for field, key in cls.KEYS.items() if stored.get(key) is not None}
        for field, value in values.items():
            values[field] = value if field in ("peaks", "contour") else float(value)
        return dataclasses.replace(base, **values)

    def to_preprocessing(self) -> dict[str, Any]:
        """The ``model.json`` preprocessing keys of this decoding."""
        return {key: getattr(self, field) for field, key in self.KEYS.items()}


def ridge_centres(heat: np.ndarray, score: float, min_distance: float, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres ``(x, y)`` and scores of the ridge cells of a heat map (see the module docstring).

    Example:
        >>> heat = np.zeros((10, 20)); heat[5, 2:18] = 0.9; heat[4, 2:18] = heat[6, 2:18] = 0.4
        >>> xy, s = ridge_centres(heat, 0.5, 8.0, 4)
        >>> xy[:, 1].tolist() == [21.5] * len(xy), np.diff(np.sort(xy[:, 0])).min() >= 8
        (True, True)
    """
    heat = np.asarray(heat, np.float32)
    padded = np.pad(heat, 1, mode="constant", constant_values=-1.0)
    h, w = heat.shape

    def shifted(dy: int, dx: int) -> np.ndarray:
        return padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]

    ridge = np.zeros(heat.shape, bool)
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        ridge |= (heat >= shifted(dy, dx)) & (heat >= shifted(-dy, -dx))
    iy, ix = np.nonzero(ridge & (heat >= score))
    if iy.size == 0:
        return np.zeros((0, 2)), np.zeros(0)
    scores = heat[iy, ix]
    order = np.argsort(-scores, kind="stable")
    points = (np.stack([ix, iy], axis=1)[order] + 0.5) * stride - 0.5
    neighbours = cKDTree(points).query_ball_point(points, max(min_distance - 1e-6, 0.0))
    suppressed = np.zeros(len(points), bool)
    kept = []
    for i, near in enumerate(neighbours):
        if suppressed[i]:
            continue
        kept.append(i)
        suppressed[near] = True
    return points[kept], scores[order][kept]


def heat_foreground(heat: np.ndarray, shape: tuple[int, int], threshold: float) -> np.ndarray:
    """The heat map (probabilities at the detector's stride) upsampled bilinearly to ``shape``, thresholded."""
    heat = np.asarray(heat, np.float32)
    zoom = (shape[0] / heat.shape[0], shape[1] / heat.shape[1])
    up = ndi.zoom(heat, zoom, order=1, grid_mode=True, mode="nearest")[:shape[0], :shape[1]]
    return up >= threshold


def decode_boxes(maps: dict[str, torch.Tensor], decoding: Decoding, box_size: float, stride: int,
                 box_step: float) -> np.ndarray:
    """Boxes ``(x0, y0, x1, y1, score)`` from the maps of one image."""
    if decoding.peaks == "local_max":
        return decode_detections(maps, box_size, decoding.score, stride)
    heat = torch.sigmoid(maps["heatmap"])[0, 0].cpu().numpy()
    centres, scores = ridge_centres(heat, decoding.score, decoding.min_distance or box_step, stride)
    half = box_size / 2.0
    return np.concatenate([centres - half, centres + half, scores[:, None]], axis=1).astype(np.float32)


def contour_image(maps: dict[str, torch.Tensor], x: np.ndarray, decoding: Decoding) -> np.ndarray:
    """The foreground the contour check samples (see the module docstring)."""
    if decoding.contour == "image":
        return vessel_foreground(x)
    heat = torch.sigmoid(maps["heatmap"])[0, 0].cpu().numpy()
    return heat_foreground(heat, x.shape, decoding.heat_foreground)


def polylines_from_maps(maps: dict[str, torch.Tensor], x: np.ndarray, fov: np.ndarray, decoding: Decoding,
                        cfg: VesselsConfig, image: str = "", *, foreground: np.ndarray | None = None,
                        stride: int = 4) -> tuple[np.ndarray, PolylineSet, dict[str, int]]:
    """Boxes, polylines and link counts of one plane's detector maps (detections outside the FOV dropped)."""
    boxes = decode_boxes(maps, decoding, cfg.box_size, stride, cfg.box_step)
    if len(boxes):
        cx = np.clip(((boxes[:, 0] + boxes[:, 2]) / 2).astype(int), 0, x.shape[1] - 1)
        cy = np.clip(((boxes[:, 1] + boxes[:, 3]) / 2).astype(int), 0, x.shape[0] - 1)
        boxes = boxes[fov[cy, cx]]
    fg = contour_image(maps, x, decoding) if foreground is None else foreground
    return (boxes, *link_detections(
        boxes, x, box_size=cfg.box_size, link_radius=decoding.link_radius, min_fraction=decoding.min_fraction,
        image=image, foreground=fg, end_link_radius=decoding.end_link_radius,
        end_min_fraction=decoding.end_min_fraction))
