"""The paper's Fig. 5 picture: each tooth instance in its own colour with its FDI number on it."""
from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np

from .calibration import LOWER_SEQUENCE, UPPER_SEQUENCE
from .data import ToothInstances


def fdi_colour(fdi: int) -> tuple[int, int, int]:
    """A fixed colour per FDI number (hue along the arch; the lower arch paler); grey when unnumbered."""
    if fdi in UPPER_SEQUENCE:
        h, s = UPPER_SEQUENCE.index(fdi) / 16, 0.9
    elif fdi in LOWER_SEQUENCE:
        h, s = LOWER_SEQUENCE.index(fdi) / 16, 0.5
    else:
        return (160, 160, 160)
    return tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(h, s, 1.0))  # type: ignore[return-value]


def draw_numbered_teeth(image: np.ndarray, teeth: ToothInstances, alpha: float = 0.4, scale: int = 1) -> np.ndarray:
    """RGB uint8 picture: coloured masks, outlines and FDI numbers ("?" for an unnumbered tooth)."""
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageFont
    from skimage.segmentation import find_boundaries

    grey = np.asarray(image)
    rgb = np.repeat(grey[..., None], 3, axis=-1).astype(np.float32) if grey.ndim == 2 else grey[..., :3].astype(
        np.float32)
    order = np.argsort(teeth.scores) if teeth.scores is not None else np.arange(len(teeth))
    for k in order:
        mask = teeth.masks[k]
        colour = np.asarray(fdi_colour(int(teeth.fdi[k])), np.float32)
        rgb[mask] = (1 - alpha) * rgb[mask] + alpha * colour
        rgb[find_boundaries(mask, mode="inner")] = colour
    picture = PILImage.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), PILImage.NEAREST)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=max(9, picture.height // 45))
    for k in range(len(teeth)):
        ys, xs = np.nonzero(teeth.masks[k])
        if not len(xs):
            continue
        text = str(int(teeth.fdi[k])) if teeth.fdi[k] else "?"
        draw.text((xs.mean() * scale, ys.mean() * scale), text, fill=(255, 255, 255), font=font, anchor="mm",
                  stroke_width=2, stroke_fill=(0, 0, 0))
    return np.asarray(picture)


def save_numbered_overlay(image: np.ndarray, teeth: ToothInstances, path: str | Path, scale: int = 1) -> Path:
    from biomedai.viz import save_png

    return save_png(draw_numbered_teeth(image, teeth, scale=scale), path)
