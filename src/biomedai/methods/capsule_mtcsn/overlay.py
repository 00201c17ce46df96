"""Pictures of one frame: the palette overlay and small thumbnails (no torch)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from biomedai.io import write_image
from biomedai.io.image import Image

from .palette import PALETTE


def resize_rgb(frame: np.ndarray, size: int) -> np.ndarray:
    """Square ``size`` x ``size`` RGB (PIL, antialiased)."""
    from PIL import Image as PILImage

    if frame.shape[:2] == (size, size):
        return frame
    return np.asarray(PILImage.fromarray(frame).resize((size, size), PILImage.BILINEAR))


def palette_overlay(frame: np.ndarray, index: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The frame (resized to the mask) beside nothing: palette colours blended over non-background pixels."""
    base = resize_rgb(frame, index.shape[0]).astype(np.float32)
    colours = PALETTE[index].astype(np.float32)
    blend = np.where((index > 0)[..., None], (1 - alpha) * base + alpha * colours, base)
    return blend.round().clip(0, 255).astype(np.uint8)


def write_rgb(array: np.ndarray, path: Path) -> Path:
    return write_image(Image(array, channel_axis=-1), path)
