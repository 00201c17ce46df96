"""Image quality: PSNR and SSIM. ``data_range`` is always explicit (max - min of the intensity scale)."""
from __future__ import annotations

from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.metrics._validate import as_array, check_finite, check_not_empty, check_same_shape

__all__ = ["psnr", "ssim"]


def _images(true: Any, pred: Any) -> tuple[np.ndarray, np.ndarray]:
    out = []
    for x, name in ((true, "true"), (pred, "pred")):
        arr = as_array(x, name)
        check_not_empty(arr, name)
        if arr.dtype.kind not in "iufb":
            raise InvalidInputError(f"{name}: dtype {arr.dtype} is not a numeric image")
        check_finite(arr, name)
        out.append(arr.astype(np.float64))
    check_same_shape(out[0], out[1])
    return out[0], out[1]


def _range(data_range: float) -> float:
    r = float(data_range)
    if not np.isfinite(r) or r <= 0:
        raise InvalidInputError(f"data_range: must be positive and finite, got {data_range}")
    return r


def psnr(true: Any, pred: Any, *, data_range: float) -> float:
    """Peak signal-to-noise ratio ``10 log10(data_range^2 / MSE)`` in dB; ``inf`` for identical images.

    ``data_range`` is required: 255 for 8-bit images, 1.0 for images scaled to [0, 1], and so on.

    >>> round(psnr(np.zeros(4), np.array([0, 0, 0, 2.0]), data_range=255), 4)
    48.1308
    """
    t, p = _images(true, pred)
    r = _range(data_range)
    mse = float(np.mean((t - p) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(r * r / mse))


def ssim(
    true: Any,
    pred: Any,
    *,
    data_range: float,
    channel_axis: int | None = None,
    win_size: int | None = None,
    gaussian_weights: bool = False,
) -> float:
    """Mean structural similarity (Wang et al. 2004) through ``skimage.metrics.structural_similarity``.

    Works on 2-D and 3-D images; colour images need ``channel_axis``. With ``gaussian_weights=True``
    it uses the paper's 11x11 Gaussian window (sigma 1.5); otherwise skimage's 7x7 uniform window.

    >>> img = np.tile(np.linspace(0, 1, 32), (32, 1))
    >>> ssim(img, img, data_range=1.0)
    1.0
    """
    from skimage.metrics import structural_similarity

    t, p = _images(true, pred)
    r = _range(data_range)
    spatial = [s for k, s in enumerate(t.shape) if channel_axis is None or k != channel_axis % t.ndim]
    w = win_size if win_size is not None else (11 if gaussian_weights else 7)
    if min(spatial) < w:
        raise InvalidInputError(f"true: image shape {t.shape} is smaller than the SSIM window {w}; pass win_size")
    kwargs: dict[str, Any] = {"data_range": r, "channel_axis": channel_axis, "gaussian_weights": gaussian_weights}
    if win_size is not None:
        kwargs["win_size"] = win_size
    if gaussian_weights:
        kwargs.update(sigma=1.5, use_sample_covariance=False)
    return float(structural_similarity(t, p, **kwargs))
