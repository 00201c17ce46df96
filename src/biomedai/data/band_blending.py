"""Overlapping tiles blended into row bands, for outputs too large to hold: whole-slide image-to-image models.

:func:`biomedai.data.tiling.predict_tiled` blends tiles into one array the size of the input. Here the
tiles of the same grid (:func:`~biomedai.data.tiling.tile_grid`, same tent/Gaussian/constant weights) are
run one tile row after the other, and as soon as no later tile can touch a row it is normalised and handed
on in bands of ``band`` rows (e.g. to :func:`biomedai.io.wsi.write_pyramidal_tiff_bands`). Memory holds
``tile + band`` rows of the output width, whatever the image height. Tiles for which ``skip`` says so (no
tissue) are not run: they contribute ``fill`` with their usual weight, so blending stays seamless.

Example:
    >>> img = np.random.default_rng(0).random((70, 50, 1)).astype(np.float32)
    >>> run = lambda tiles: np.stack([img[t.slices] for t in tiles])
    >>> out = np.concatenate([b for _, b in blend_in_bands((70, 50), 1, run, tile=32, overlap=8, band=16)])
    >>> out.shape, bool(np.allclose(out, img))
    ((70, 50, 1), True)
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.io.limits import check_array_size

from .tiling import BLEND_MODES, Tile, gaussian_weights, linear_weights, tile_grid

logger = logging.getLogger(__name__)

#: ``run(tiles)`` -> ``[len(tiles), tile, tile, n_channels]`` float predictions, one per tile in order
RunTiles = Callable[[list[Tile]], np.ndarray]


def tile_rows(shape: tuple[int, int], tile: int, overlap: int) -> list[list[Tile]]:
    """The grid of :func:`tile_grid` grouped by tile row (top to bottom), each row left to right.

    Example:
        >>> [[t.origin for t in row] for row in tile_rows((20, 20), 16, 4)]
        [[(0, 0), (0, 4)], [(4, 0), (4, 4)]]
    """
    rows: dict[int, list[Tile]] = {}
    for t in tile_grid(shape, tile, overlap):
        rows.setdefault(t.origin[0], []).append(t)
    return [rows[y] for y in sorted(rows)]


def blend_in_bands(shape: tuple[int, int], n_channels: int, run: RunTiles, tile: int, overlap: int, band: int,
                   blend: str = "linear", batch_size: int = 4, skip: Callable[[Tile], bool] | None = None,
                   fill: Sequence[float] | float = 0.0, sigma_scale: float = 0.125,
                   on_tiles: Callable[[int, int], None] | None = None, source: object = None
                   ) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first_row, values)`` bands of the blended output, top to bottom.

    Parameters
    ----------
    shape : (int, int)
        Output ``(height, width)``; both at least ``tile`` (the model takes whole tiles).
    n_channels : int
        Channels ``run`` returns.
    run : callable
        ``run(tiles)`` returns the predictions of a batch of tiles, ``[B, tile, tile, n_channels]``.
    tile, overlap : int
        Square tile side and overlap in pixels (the grid of :func:`tile_grid`).
    band : int
        Rows per yielded band (the last may be shorter).
    blend : str
        ``linear`` (tent), ``gaussian`` or ``constant`` weights.
    skip : callable, optional
        ``skip(tile)`` True for a tile not worth running; it contributes ``fill``.
    fill : float or sequence of float
        The prediction of a skipped tile (per channel).
    on_tiles : callable, optional
        ``on_tiles(done, total)`` after each tile row (progress).
    source : optional
        Named in errors (the input file).

    Yields
    ------
    tuple of (int, ndarray)
        The band's first row and its float32 ``[rows, width, n_channels]`` values.
    """
    height, width = (int(n) for n in shape)
    if blend not in BLEND_MODES:
        raise InvalidInputError(f"blend must be one of {BLEND_MODES}, got {blend!r}")
    if height < tile or width < tile:
        raise InvalidInputError(f"the image ({width} x {height}) is smaller than one {tile} x {tile} tile", source)
    if band < 1 or batch_size < 1:
        raise InvalidInputError(f"band and batch_size must be >= 1, got {band}, {batch_size}")
    capacity = tile + band
    check_array_size((capacity, width, n_channels + 1), 4, source, "blending band")  # before allocating
    sums = np.zeros((capacity, width, n_channels), np.float32)
    weights = np.zeros((capacity, width), np.float32)
    kernel = {"linear": lambda: linear_weights((tile, tile)), "constant": lambda: np.ones((tile, tile), np.float32),
              "gaussian": lambda: gaussian_weights((tile, tile), sigma_scale)}[blend]()
    fill_values = np.broadcast_to(np.asarray(fill, np.float32), (n_channels,))
    rows = tile_rows((height, width), tile, overlap)
    total, done, top = sum(len(r) for r in rows), 0, 0
    for index, row in enumerate(rows):
        y = row[0].origin[0]
        if y + tile - top > capacity:  # cannot happen: rows above y were emitted down to fewer than `band`
            raise RuntimeError("blending band overflow")
        run_these = [t for t in row if skip is None or not skip(t)]
        skipped = {t for t in row} - set(run_these)
        for t in skipped:
            _add(sums, weights, t, y - top, np.broadcast_to(fill_values, (tile, tile, n_channels)), kernel)
        for i in range(0, len(run_these), batch_size):
            batch = run_these[i:i + batch_size]
            out = np.asarray(run(batch), np.float32)
            if out.shape != (len(batch), tile, tile, n_channels):
                raise InvalidInputError(f"run returned shape {out.shape} for {len(batch)} tiles; expected "
                                        f"{(len(batch), tile, tile, n_channels)}", source)
            for t, pred in zip(batch, out):
                _add(sums, weights, t, y - top, pred, kernel)
        done += len(row)
        if on_tiles is not None:
            on_tiles(done, total)
        final = rows[index + 1][0].origin[0] if index + 1 < len(rows) else height  # rows above are complete
        while final - top >= band or (final == height and top < height):
            n = min(band, final - top)
            yield top, sums[:n] / np.maximum(weights[:n], 1e-12)[..., None]
            sums[:capacity - n] = sums[n:].copy()
            weights[:capacity - n] = weights[n:].copy()
            sums[capacity - n:] = 0
            weights[capacity - n:] = 0
            top += n


def _add(sums: np.ndarray, weights: np.ndarray, t: Tile, row: int, prediction: np.ndarray,
         kernel: np.ndarray) -> None:
    x = t.origin[1]
    sums[row:row + kernel.shape[0], x:x + kernel.shape[1]] += prediction * kernel[..., None]
    weights[row:row + kernel.shape[0], x:x + kernel.shape[1]] += kernel
