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


def wsi_probability_map(model: Any, path: str | Path, config: Ki67Config, device: Any = "cpu",
                        target_mpp: float | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """``([3, rows, cols] probabilities, info)`` for the slide at ``target_mpp`` microns per pixel (the model's
    training resolution; ``config.wsi_level`` "auto") or at level ``config.wsi_level``
    (:func:`biomedai.io.wsi.level_for_mpp`). Map positions are ``stride`` pixels of that resolution apart; the
    info's ``level_choice`` gives the level-0 pixels per such pixel (``downsample``)."""
    import torch

    from biomedai.io import open_wsi
    from biomedai.io.wsi import ResampledSlide, level_for_mpp

    path = Path(path)
    fcn = model.to(device).to_fcn()
    s, p = fcn.stride, config.patch_size

    def probabilities(region: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(region)).to(device).permute(2, 0, 1).float().div_(255.0)
        with torch.no_grad():
            return fcn(x[None])[0].float().cpu().numpy()

    with open_wsi(path) as slide:
        choice = level_for_mpp(slide, target_mpp, config.wsi_level, setting="wsi_level")
        width, height = choice.width, choice.height
        if width < p or height < p:
            raise InvalidInputError(f"level {choice.level} is {width}x{height} at the model's resolution, smaller "
                                    f"than one {p}x{p} patch", path)
        background = np.zeros(3, np.float32)
        background[BACKGROUND] = 1.0
        prob, info = predict_wsi_map(ResampledSlide(slide, choice), 0, probabilities, p, s, config.wsi_tile, 3,
                                     skip=is_glass, fill=background)
    info["level"] = choice.level
    info["level_choice"] = choice.to_dict()
    return prob, info
