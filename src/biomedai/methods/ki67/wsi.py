"""Whole-slide mode: the FCN over a slide level, tile by tile through :func:`biomedai.io.open_wsi` (tiffslide)
and the shared engine :func:`biomedai.data.tiling.predict_wsi_map`.

Tiles start at multiples of the stride (32 px) and overlap by ``patch - stride`` (the receptive field
of the padding-free variant less one stride) so their maps join into one grid, as
:func:`biomedai.nn.fcn.fcn_map_tiled` does for an in-memory region. With ``resnet18_valid`` every map
position depends only on its own 64x64 window, so the tiled map equals the one-pass map exactly (no
seams); with the padded ``resnet18`` positions at tile borders see zero padding instead of the
neighbouring tile. Tiles that are almost white (glass) are not run; their positions get P(background) = 1.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from biomedai.data.tiling import predict_wsi_map
from biomedai.errors import InvalidInputError

from .config import BACKGROUND, Ki67Config

#: a tile is glass when its mean grey is above this and its grey standard deviation below GLASS_STD
GLASS_MEAN, GLASS_STD = 225.0, 8.0


def is_glass(region: np.ndarray) -> bool:
    """True for an almost white, flat window (glass, no tissue)."""
    grey = region.mean(axis=-1)
    return bool(grey.mean() > GLASS_MEAN and grey.std() < GLASS_STD)


def wsi_probability_map(model: Any, path: str | Path, config: Ki67Config,
                        device: Any = "cpu") -> tuple[np.ndarray, dict[str, Any]]:
    """``([3, rows, cols] probabilities, info)`` for slide level ``config.wsi_level``."""
    import torch

    from biomedai.io import open_wsi

    path = Path(path)
    fcn = model.to(device).to_fcn()
    s, p = fcn.stride, config.patch_size

    def probabilities(region: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(region)).to(device).permute(2, 0, 1).float().div_(255.0)
        with torch.no_grad():
            return fcn(x[None])[0].float().cpu().numpy()

    with open_wsi(path) as slide:
        level = config.wsi_level
        if not 0 <= level < slide.level_count:
            raise InvalidInputError(f"level {level} does not exist; the slide has levels 0..{slide.level_count - 1}",
                                    path)
        width, height = slide.level_dimensions[level]
        if width < p or height < p:
            raise InvalidInputError(f"level {level} is {width}x{height}, smaller than one {p}x{p} patch", path)
        background = np.zeros(3, np.float32)
        background[BACKGROUND] = 1.0
        return predict_wsi_map(slide, level, probabilities, p, s, config.wsi_tile, 3, skip=is_glass,
                               fill=background)
