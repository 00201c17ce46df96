"""Pre-processing (spec 4.4 steps 1-4): N4 bias correction, resampling, phase choice and subtraction image."""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

from .series import DceSeries

logger = logging.getLogger(__name__)


def n4_correct(image: Any, *, shrink: int = 4, iterations: tuple[int, ...] = (50, 50, 30)) -> Any:
    """N4 bias-field correction (SimpleITK) on an Otsu foreground mask, fitted on a shrunk copy and applied at
    full resolution; returns a float32 image on the input's grid."""
    import SimpleITK as sitk

    img = sitk.Cast(image, sitk.sitkFloat32)
    mask = sitk.OtsuThreshold(img, 0, 1, 200)
    small = sitk.Shrink(img, [shrink] * img.GetDimension()) if shrink > 1 else img
    small_mask = sitk.Shrink(mask, [shrink] * img.GetDimension()) if shrink > 1 else mask
    n4 = sitk.N4BiasFieldCorrectionImageFilter()
    n4.SetMaximumNumberOfIterations(list(iterations))
    n4.Execute(small, small_mask)
    log_bias = n4.GetLogBiasFieldAsImage(img)
    return img / sitk.Exp(log_bias)


def resample_to_spacing(image: Any, spacing: tuple[float, float, float], *, label: bool = False) -> Any:
    """``image`` on a grid of ``spacing`` mm covering the same extent (linear, nearest for labels)."""
    import SimpleITK as sitk

    if any(s <= 0 for s in spacing):
        raise InvalidInputError(f"spacing must be > 0 mm, got {spacing}")
    old_sp, old_size = np.array(image.GetSpacing()), np.array(image.GetSize())
    size = np.maximum(1, np.round(old_size * old_sp / np.array(spacing))).astype(int)
    return sitk.Resample(image, [int(v) for v in size], sitk.Transform(), sitk.sitkNearestNeighbor if label
                         else sitk.sitkLinear, image.GetOrigin(), [float(s) for s in spacing], image.GetDirection(),
                         0, image.GetPixelID())


def choose_phase(series: DceSeries, rule: str = "index", *, index: int = 3, target_time: float = 150.0,
                 mask: np.ndarray | None = None) -> tuple[int, str]:
    """The post-contrast phase for segmentation and subtraction, and why (spec 4.8 point 1).

    ``rule``: "index" (the paper: the ``index``-th post-contrast phase, 3 = "third"; the last one if fewer),
    "time" (closest to ``target_time`` s after the pre-contrast phase), "max_enhancement" (highest mean
    enhancement inside ``mask``, or the whole volume).
    """
    n_post = len(series) - 1
    if rule == "index":
        k = min(max(index, 1), n_post)
        return k, f"post-contrast phase {k} of {n_post} (rule: index {index})"
    if rule == "time":
        k = 1 + int(np.argmin(np.abs(series.times[1:] - target_time)))
        return k, f"phase at {series.times[k]:.0f} s, closest to {target_time:.0f} s"
    if rule == "max_enhancement":
        arr = series.array()
        sel = np.ones(arr.shape[1:], bool) if mask is None else np.asarray(mask, bool)
        if not sel.any():
            raise InvalidInputError("the mask for the phase choice is empty")
        enh = [float((arr[k][sel] - arr[0][sel]).mean()) for k in range(1, len(series))]
        k = 1 + int(np.argmax(enh))
        return k, f"phase {k} has the highest mean enhancement ({enh[k - 1]:.4g})"
    raise InvalidInputError(f"unknown phase rule {rule!r} (index, time, max_enhancement)")


def subtraction_image(series: DceSeries, phase: int, n_pre: int = 1) -> Any:
    """Chosen post-contrast phase minus the mean of the first ``n_pre`` (pre-contrast) phases, float32."""
    import SimpleITK as sitk

    if not n_pre <= phase < len(series):
        raise InvalidInputError(f"phase {phase} is not a post-contrast phase of {len(series)} phases")
    arr = [sitk.GetArrayFromImage(series.phases[i]).astype(np.float32) for i in range(n_pre)]
    diff = sitk.GetArrayFromImage(series.phases[phase]).astype(np.float32) - np.mean(arr, axis=0)
    out = sitk.GetImageFromArray(diff.astype(np.float32))
    out.CopyInformation(series.phases[phase])
    return out
