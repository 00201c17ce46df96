"""Whole-image generation: classify each 224 px tile, generate it, and blend the tiles back (spec 2.9).

The large-image engine (:func:`biomedai.data.tiling.predict_tiled`) cuts overlapping tiles, runs one
function per batch and blends the outputs with tent (``linear``) weights, so no seam shows; the paper does
not discuss seams (spec 2.9), this is our choice. The per-tile function here is "MIL probability ->
condition -> generator", so the condition is the tile's own class, as in the paper's Fig. 1.

Example:
    >>> import numpy as np
    >>> img = np.full((40, 50, 3), 200, np.uint8)
    >>> out, probs = translate_image(img, lambda x, c: x, lambda x: np.zeros(len(x)), tile=16, overlap=4)
    >>> bool((out == 200).all()), probs.shape
    (True, (3, 4))
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from biomedai.data.tiling import predict_tiled, tile_grid
from biomedai.errors import InvalidInputError

#: ``generate(batch [B, 3, t, t] float in [-1, 1], condition values [B]) -> [B, 3, t, t]`` (numpy)
Generate = Callable[[np.ndarray, np.ndarray], np.ndarray]
#: ``classify(batch [B, 3, t, t] float in [-1, 1]) -> P(tumour) [B]`` (numpy)
Classify = Callable[[np.ndarray], np.ndarray]


def translate_image(rgb: np.ndarray, generate: Generate, classify: Classify, tile: int = 224, overlap: int = 32,
                    blend: str = "linear", batch_size: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Generate a full-size image tile by tile.

    Returns the blended uint8 RGB image and the tiles' MIL probabilities on the tile grid
    (``[rows, cols]``, NaN where no tile started). Images smaller than a tile are padded with white.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] < 3:
        raise InvalidInputError(f"expected an RGB image [y, x, 3], got shape {rgb.shape}")
    if tile % 4:
        raise InvalidInputError(f"the generator takes tiles whose size is a multiple of 4, got {tile}")
    x = rgb[..., :3].astype(np.float32) / 127.5 - 1.0
    seen: list[np.ndarray] = []

    def per_batch(batch: np.ndarray) -> np.ndarray:
        p = np.asarray(classify(batch), np.float64).reshape(-1)
        seen.append(p)
        return np.asarray(generate(batch, p), np.float32)

    out = predict_tiled(x, per_batch, tile=tile, overlap=overlap, batch_size=batch_size, blend=blend,
                        channel_axis=-1, framework="numpy", cval=1.0, progress=False)
    image = ((np.clip(out, -1.0, 1.0) + 1.0) * 127.5).round().astype(np.uint8)
    return image, _probability_grid(rgb.shape[:2], tile, overlap, seen)


def _probability_grid(shape: tuple[int, int], tile: int, overlap: int, batches: list[np.ndarray]) -> np.ndarray:
    grid, ys, xs = _grid(shape, tile, overlap)
    probs = np.concatenate(batches) if batches else np.zeros(0)
    out = np.full((len(ys), len(xs)), np.nan)
    for t, p in zip(grid, probs):
        out[ys.index(t.origin[0]), xs.index(t.origin[1])] = p
    return out


def tile_probability_rows(shape: tuple[int, int], tile: int, overlap: int,
                          probabilities: np.ndarray) -> list[dict[str, Any]]:
    """One row per tile of :func:`translate_image`'s grid: grid index, top-left ``(x, y)``, size, P(tumour).

    Example:
        >>> rows = tile_probability_rows((40, 50), 16, 4, np.zeros((3, 4)))
        >>> len(rows), rows[1]
        (12, {'row': 0, 'col': 1, 'x': 12, 'y': 0, 'width': 16, 'height': 16, 'p_tumour': 0.0})
    """
    grid, ys, xs = _grid(shape, tile, overlap)
    rows = []
    for t in grid:
        r, c = ys.index(t.origin[0]), xs.index(t.origin[1])
        p = float(probabilities[r, c])
        rows.append({"row": r, "col": c, "x": t.origin[1], "y": t.origin[0], "width": t.size[1], "height": t.size[0],
                     "p_tumour": round(p, 5) if np.isfinite(p) else None})
    return rows


def _grid(shape: tuple[int, int], tile: int, overlap: int) -> tuple[list[Any], list[int], list[int]]:
    padded = tuple(max(n, tile) for n in shape)
    grid = tile_grid(padded, tile, overlap)
    return grid, sorted({t.origin[0] for t in grid}), sorted({t.origin[1] for t in grid})
