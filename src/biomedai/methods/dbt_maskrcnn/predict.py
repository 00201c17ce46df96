"""One DBT view through the trained model at its voxel spacing, results mapped back to the input's grid."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from skimage.transform import resize

from biomedai.errors import InvalidInputError

from .data import downsample, resample_factors, standardise
from .inference import VolumeDetections, detect_volume
from .outputs import label_volume
from .reader import DbtVolume, breast_mask_by_threshold

logger = logging.getLogger(__name__)

__all__ = ["ViewPrediction", "to_model_grid", "predict_view"]


@dataclass
class ViewPrediction:
    """Detections on the model grid and the label volume on the input grid."""

    found: VolumeDetections            # model grid
    found_input: VolumeDetections      # boxes on the input grid (masks left on the model grid)
    labels: np.ndarray                 # input grid, uint8
    model_volume: np.ndarray           # standardised, model grid
    mass_probability: float            # the highest detection score (spec 1.3 decision)


def to_model_grid(volume: np.ndarray, spacing: Sequence[float], target: Sequence[float], where: str) -> np.ndarray:
    """Block-average to the model spacing where the factors are integers, else trilinear resampling."""
    try:
        return downsample(volume.astype(np.float32), resample_factors(spacing, target, where))
    except InvalidInputError:
        zoom = [s / t for s, t in zip(spacing, target)]
        if min(int(round(n * z)) for n, z in zip(volume.shape, zoom)) < 2:
            raise InvalidInputError(f"volume of shape {volume.shape} at {tuple(spacing)} mm is too small", where) from None
        return ndimage.zoom(volume.astype(np.float32), zoom, order=1)


def predict_view(model: torch.nn.Module, dbt: DbtVolume, patch: Sequence[int], margin: Sequence[int],
                 spacing: Sequence[float], nms_iou: float, max_detections: int) -> ViewPrediction:
    """Sliding-patch detection on one view; detections centred outside the breast mask are dropped."""
    raw = dbt.image.array.astype(np.float32)
    grid = to_model_grid(raw, dbt.image.spacing, spacing, str(dbt.path))
    grid = np.clip(grid - float(np.percentile(grid, 1)), 0, None)  # background near 0, as the cohort's volumes
    volume = standardise(grid)
    found = detect_volume(model, volume, patch, margin, nms_iou, max_detections)
    breast = breast_mask_by_threshold(grid)
    if len(found) and breast.any():
        centre = np.clip(((found.boxes[:, :3] + found.boxes[:, 3:]) / 2).astype(int), 0, np.asarray(volume.shape) - 1)
        inside = breast[centre[:, 0], centre[:, 1], centre[:, 2]]
        found = VolumeDetections(found.boxes[inside], found.scores[inside], [m for m, k in zip(found.masks, inside) if k])
    scale = np.tile(np.asarray(raw.shape, float) / np.asarray(volume.shape, float), 2)
    found_input = VolumeDetections(found.boxes * scale, found.scores, found.masks)
    labels = label_volume(found, volume.shape)
    if labels.shape != raw.shape:
        labels = resize(labels, raw.shape, order=0, preserve_range=True, anti_aliasing=False).astype(np.uint8)
    prob = float(found.scores.max()) if len(found) else 0.0
    return ViewPrediction(found, found_input, labels, volume, prob)
