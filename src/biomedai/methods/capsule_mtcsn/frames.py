"""Frames as the network takes them: any grey, RGB(A), 16-bit or float picture -> ``[y, x, 3]`` uint8 RGB."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from biomedai.errors import InvalidInputError

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v", ".wmv")


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def to_rgb_uint8(array: np.ndarray, source: str | Path = "frame") -> np.ndarray:
    """Grey -> three equal channels, RGBA -> RGB, 16-bit -> 8-bit (full range / 257, logged), float in [0, 1] x 255.

    Anything else (a volume, no pixels, negative or non-finite values) raises :class:`InvalidInputError`.
    """
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[-1] == 4:
        array = array[..., :3]
    elif array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] != 3 or min(array.shape[:2]) < 8:
        raise InvalidInputError(f"a frame must be a grey or RGB picture of at least 8 x 8 pixels, got shape "
                                f"{array.shape}", source)
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if np.issubdtype(array.dtype, np.integer):
        if array.min() < 0:
            raise InvalidInputError(f"negative pixel values in a {array.dtype} frame", source)
        top = int(array.max())
        scale = 257.0 if top > 255 else 1.0
        if top > 65535:
            raise InvalidInputError(f"pixel values up to {top}: not an 8- or 16-bit frame", source)
        if scale != 1.0:
            logger.info("%s: 16-bit frame scaled to 8 bits (value / 257)", source)
        return (array / scale + 0.5).clip(0, 255).astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1.0 + 1e-6:
            raise InvalidInputError("a float frame must hold finite values in [0, 1]", source)
        return (array * 255 + 0.5).clip(0, 255).astype(np.uint8)
    raise InvalidInputError(f"unsupported pixel type {array.dtype}", source)
