"""Tiling with overlap and blending, for images and volumes too large for one forward pass.

The grid follows MONAI's ``sliding_window_inference``: tiles start every ``tile - overlap``
pixels along each axis and the last tile is snapped to the far edge, so the grid covers the
whole array with full-size tiles. Overlapping predictions are blended with constant or Gaussian
weights (MONAI's importance map: ``sigma = sigma_scale * tile``, floored at 1e-3) and
normalised by the summed weights; sums are kept in float32.

Example:
    >>> x = np.arange(70 * 50, dtype=np.float32).reshape(70, 50)
    >>> y = predict_tiled(x, lambda b: b, tile=32, overlap=8, progress=False)
    >>> np.allclose(x, y)
    True
"""
from __future__ import annotations

import itertools
import logging
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.utils import progress as _progress

logger = logging.getLogger(__name__)

__all__ = [
    "Tile",
    "WSITile",
    "tile_grid",
    "iter_tiles",
    "gaussian_weights",
    "linear_weights",
    "TileAccumulator",
    "blend_tiles",
    "predict_tiled",
    "iter_wsi_tiles",
    "tissue_fraction",
    "SlideRowStrips",
    "MapWindow",
    "strided_map_windows",
    "predict_wsi_map",
]

BLEND_MODES = ("constant", "gaussian", "linear")


class Tile(NamedTuple):
    """One tile of a grid: ``origin`` (first index per spatial axis) and ``size`` (pixels)."""

    origin: tuple[int, ...]
    size: tuple[int, ...]

    @property
    def slices(self) -> tuple[slice, ...]:
        """Spatial slices selecting the tile from the full array."""
        return tuple(slice(o, o + s) for o, s in zip(self.origin, self.size))


class WSITile(NamedTuple):
    """A tile of a whole-slide image at one level.

    A tile of a whole-slide image at ``level``: ``x``/``y`` are the column/row of its top-left
    pixel at that level, ``location`` the same point in level-0 pixels (what ``read_region``
    takes), ``width``/``height`` its size at that level.
    """

    level: int
    x: int
    y: int
    width: int
    height: int
    location: tuple[int, int]

    @property
    def slices(self) -> tuple[slice, slice]:
        """Row and column slices of the tile in a full image at ``level``."""
        return slice(self.y, self.y + self.height), slice(self.x, self.x + self.width)


# ----------------------------------------------------------------------------------------------
# Grid
# ----------------------------------------------------------------------------------------------

def _per_axis(value: Any, ndim: int, name: str) -> tuple[Any, ...]:
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return (value,) * ndim
    values = tuple(value)
    if len(values) != ndim:
        raise InvalidInputError(f"{name} needs {ndim} values (one per spatial axis), got {values}")
    return values


def _tile_and_overlap(shape: Sequence[int], tile: int | Sequence[int],
                      overlap: int | float | Sequence[int | float]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Tile size clipped to ``shape`` and overlap in pixels (a float in [0, 1) is a fraction of the tile)."""
    ndim = len(shape)
    tiles = _per_axis(tile, ndim, "tile")
    overlaps = _per_axis(overlap, ndim, "overlap")
    out_t, out_o = [], []
    for n, t, o in zip(shape, tiles, overlaps):
        if int(t) != t or t < 1:
            raise InvalidInputError(f"tile sizes must be positive integers, got {tiles}")
        t = min(int(t), int(n))
        if isinstance(o, (float, np.floating)):
            if not 0.0 <= o < 1.0:
                raise InvalidInputError(f"a fractional overlap must lie in [0, 1), got {o}")
            stride = max(int(t * (1.0 - o)), 1)  # MONAI's scan interval
            o = t - stride
        elif int(o) < 0:
            raise InvalidInputError(f"overlap must be >= 0, got {overlaps}")
        out_t.append(t)
        out_o.append(min(int(o), t - 1))
    return tuple(out_t), tuple(out_o)


def _axis_starts(n: int, t: int, o: int) -> list[int]:
    starts = list(range(0, n - t + 1, t - o))
    if starts[-1] + t < n:
        starts.append(n - t)  # last tile snapped to the edge
    return starts


def tile_grid(shape: Sequence[int], tile: int | Sequence[int],
              overlap: int | float | Sequence[int | float] = 0) -> list[Tile]:
    """Tiles covering a spatial ``shape`` with at least ``overlap`` pixels shared by neighbours.

    ``tile`` and ``overlap`` are one value or one per axis; an integer overlap is in pixels, a
    float in [0, 1) a fraction of the tile (MONAI's convention). Tiles larger than the array are
    clipped to it. Order is C order (last axis fastest).

    Example:
        >>> [t.origin for t in tile_grid((10, 7), tile=(4, 7), overlap=1)]
        [(0, 0), (3, 0), (6, 0)]
    """
    shape = tuple(int(n) for n in shape)
    if not shape or any(n < 1 for n in shape):
        raise InvalidInputError(f"cannot tile an empty shape {shape}")
    tiles, overlaps = _tile_and_overlap(shape, tile, overlap)
    starts = [_axis_starts(n, t, o) for n, t, o in zip(shape, tiles, overlaps)]
    return [Tile(tuple(origin), tiles) for origin in itertools.product(*starts)]


def _spatial_shape(shape: tuple[int, ...], channel_axis: int | None) -> tuple[int, ...]:
    if channel_axis is None:
        return shape
    if channel_axis in (-1, len(shape) - 1):
        return shape[:-1]
    if channel_axis == 0:
        return shape[1:]
    raise InvalidInputError(f"channel_axis must be None, 0 or -1, got {channel_axis}")


def iter_tiles(array: np.ndarray, tile: int | Sequence[int], overlap: int | float | Sequence[int | float] = 0,
               channel_axis: int | None = None) -> Iterator[tuple[Tile, np.ndarray]]:
    """Yield ``(tile, view)`` for every tile of ``array`` (views, no copies); channels kept whole.

    Example:
        >>> a = np.zeros((5, 6, 3))
        >>> [v.shape for _, v in iter_tiles(a, 4, channel_axis=-1)][:2]
        [(4, 4, 3), (4, 4, 3)]
    """
    array = np.asarray(array)
    spatial = _spatial_shape(array.shape, channel_axis)
    for t in tile_grid(spatial, tile, overlap):
        index = ((slice(None),) + t.slices) if channel_axis == 0 else t.slices
        yield t, array[index]


# ----------------------------------------------------------------------------------------------
# Blending
# ----------------------------------------------------------------------------------------------

def gaussian_weights(size: Sequence[int], sigma_scale: float | Sequence[float] = 0.125) -> np.ndarray:
    """Separable Gaussian importance map centred on the tile, ``sigma = sigma_scale * size``.

    Values are floored at ``max(min, 1e-3)`` so that every pixel keeps a positive weight (as in
    MONAI's ``compute_importance_map``).

    Example:
        >>> w = gaussian_weights((5, 5))
        >>> float(w[2, 2]), w.dtype.name
        (1.0, 'float32')
    """
    size = tuple(int(s) for s in size)
    scales = _per_axis(sigma_scale, len(size), "sigma_scale")
    weights = np.ones((), dtype=np.float64)
    for n, scale in zip(size, scales):
        x = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
        axis = np.exp(-(x**2) / (2.0 * (scale * n) ** 2))
        weights = np.multiply.outer(weights, axis)
    weights = weights.astype(np.float32)
    return np.maximum(weights, max(float(weights.min()), 1e-3))


def linear_weights(size: Sequence[int]) -> np.ndarray:
    """Separable linear (tent) importance map: 1 at the tile centre, falling linearly towards the edges.

    Values are floored at 1e-3 so that every pixel keeps a positive weight.

    Example:
        >>> w = linear_weights((1, 5))
        >>> [round(float(v), 2) for v in w[0]]
        [0.2, 0.6, 1.0, 0.6, 0.2]
    """
    weights = np.ones((), dtype=np.float64)
    for n in (int(s) for s in size):
        x = np.abs(np.arange(n, dtype=np.float64) - (n - 1) / 2.0)
        weights = np.multiply.outer(weights, 1.0 - x / (n / 2.0))
    return np.maximum(weights.astype(np.float32), 1e-3)


class TileAccumulator:
    """Sum weighted tile predictions into a float32 array and normalise by the summed weights.

    Predictions are channels-last (``tile.size + (n_channels,)``) or, when ``n_channels`` is None,
    spatial only. ``memmap_path`` keeps the sums in a ``.npy`` memory map for outputs larger than
    RAM; so does ``max_memory_bytes`` (in a temporary file) when the sums would exceed it. Blending is
    ``constant``, ``gaussian`` or ``linear``. Positions no tile covered come out as 0 (with a warning).

    Example:
        >>> acc = TileAccumulator((6, 6), blend="constant")
        >>> for t in tile_grid((6, 6), 4, 2):
        ...     acc.add(t, np.ones(t.size))
        >>> float(acc.result().min())
        1.0
    """

    def __init__(self, shape: Sequence[int], n_channels: int | None = None, blend: str = "gaussian",
                 sigma_scale: float | Sequence[float] = 0.125, memmap_path: str | Path | None = None,
                 max_memory_bytes: int | None = None) -> None:
        if blend not in BLEND_MODES:
            raise InvalidInputError(f"blend must be one of {BLEND_MODES}, got {blend!r}")
        self.shape = tuple(int(s) for s in shape)
        self.n_channels = n_channels
        self.blend = blend
        self.sigma_scale = sigma_scale
        full = self.shape + ((int(n_channels),) if n_channels is not None else ())
        self._sum = _output_array(full, max_memory_bytes, memmap_path)
        self._weight = np.zeros(self.shape, dtype=np.float32)
        self._weights_cache: dict[tuple[int, ...], np.ndarray] = {}
        self._done = False

    def _weights(self, size: tuple[int, ...]) -> np.ndarray:
        if size not in self._weights_cache:
            if self.blend == "constant":
                self._weights_cache[size] = np.ones(size, dtype=np.float32)
            elif self.blend == "linear":
                self._weights_cache[size] = linear_weights(size)
            else:
                self._weights_cache[size] = gaussian_weights(size, self.sigma_scale)
        return self._weights_cache[size]

    def add(self, tile: Tile, prediction: np.ndarray) -> None:
        """Add one tile's prediction (shape ``tile.size`` [+ ``(n_channels,)``])."""
        if self._done:
            raise RuntimeError("TileAccumulator.result() was already called")
        expected = tuple(tile.size) + ((self.n_channels,) if self.n_channels is not None else ())
        prediction = np.asarray(prediction)
        if prediction.shape != expected:
            raise InvalidInputError(f"tile at {tile.origin} needs a prediction of shape {expected}, "
                                    f"got {prediction.shape}")
        w = self._weights(tuple(tile.size))
        wc = w[..., None] if self.n_channels is not None else w
        self._sum[tile.slices] += prediction.astype(np.float32, copy=False) * wc
        self._weight[tile.slices] += w

    def result(self) -> np.ndarray:
        """The blended array (normalised in place; the accumulator cannot be used afterwards)."""
        self._done = True
        weight = self._weight
        uncovered = weight == 0
        if uncovered.any():
            logger.warning("%d positions were covered by no tile; they are set to 0", int(uncovered.sum()))
            weight = np.where(uncovered, 1.0, weight).astype(np.float32)
        if self.n_channels is not None:
            weight = weight[..., None]
        self._sum /= weight
        return self._sum


def blend_tiles(tiles: Iterable[tuple[Tile, np.ndarray]], shape: Sequence[int], blend: str = "gaussian",
                n_channels: int | None = None, sigma_scale: float | Sequence[float] = 0.125) -> np.ndarray:
    """Blend ``(tile, prediction)`` pairs into one float32 array of spatial ``shape``.

    Example:
        >>> x = np.random.default_rng(0).random((9, 11)).astype(np.float32)
        >>> np.allclose(blend_tiles(iter_tiles(x, 4, 2), x.shape), x)
        True
    """
    acc = TileAccumulator(shape, n_channels=n_channels, blend=blend, sigma_scale=sigma_scale)
    for t, pred in tiles:
        acc.add(t, pred)
    return acc.result()


# ----------------------------------------------------------------------------------------------
# Tiled prediction
# ----------------------------------------------------------------------------------------------

def _is_torch_module(fn: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(fn, torch.nn.Module)


def _pad_to_tile(x: np.ndarray, tile: tuple[int, ...], pad_mode: str, cval: float
                 ) -> tuple[np.ndarray, tuple[slice, ...]]:
    """Pad spatial axes (channels last) up to ``tile``, split half/half as MONAI does."""
    pads, crop = [], []
    for n, t in zip(x.shape[:-1], tile):
        diff = max(t - n, 0)
        pads.append((diff // 2, diff - diff // 2))
        crop.append(slice(diff // 2, diff // 2 + n))
    if not any(p != (0, 0) for p in pads):
        return x, tuple(crop)
    pads.append((0, 0))
    kwargs = {"constant_values": cval} if pad_mode == "constant" else {}
    return np.pad(x, pads, mode=pad_mode, **kwargs), tuple(crop)


def _run_batch(fn: Callable[[Any], Any], batch: np.ndarray, use_torch: bool, device: Any) -> np.ndarray:
    if not use_torch:
        return np.asarray(fn(batch))
    import torch

    with torch.inference_mode():
        out = fn(torch.from_numpy(batch).to(device))
    return out.detach().to("cpu", torch.float32).numpy()


def predict_tiled(array: np.ndarray, fn: Callable[[Any], Any], tile: int | Sequence[int],
                  overlap: int | float | Sequence[int | float] = 0.25, batch_size: int = 4,
                  blend: str = "gaussian", *, channel_axis: int | None = None,
                  sigma_scale: float | Sequence[float] = 0.125, framework: str = "auto",
                  device: Any = None, pad_mode: str = "constant", cval: float = 0.0,
                  progress: bool = True, max_memory_bytes: int | None = None) -> np.ndarray:
    """Run ``fn`` over overlapping tiles of ``array`` in batches and blend the outputs.

    ``fn`` receives a float32 batch ``(B, C, *tile)`` (channels first, ``C = 1`` when ``array``
    has no channel axis) and returns ``(B, C_out, *tile)`` or ``(B, *tile)``. With
    ``framework="torch"`` (automatic for a ``torch.nn.Module``) the batch is a tensor on
    ``device``, run under ``torch.inference_mode()``; otherwise a numpy array. Arrays smaller
    than the tile are padded (``pad_mode``/``cval``, as MONAI) and the output cropped back.

    ``blend`` is ``gaussian`` (MONAI's importance map), ``linear`` (a tent) or ``constant``. With
    ``max_memory_bytes`` the blended sums are kept in a temporary ``.npy`` memory map when they would
    exceed it (the result is then that memory map).

    Returns float32 with the same spatial shape. The channel axis follows ``channel_axis`` of the
    input; an input without channels gives an output without channels when ``C_out == 1`` (or
    ``fn`` returned none), else channels first.

    Example:
        >>> vol = np.random.default_rng(0).random((9, 20, 21)).astype(np.float32)
        >>> out = predict_tiled(vol, lambda b: 2 * b, tile=8, overlap=3, progress=False)
        >>> np.allclose(out, 2 * vol)
        True
    """
    array = np.asarray(array)
    if array.size == 0:
        raise InvalidInputError(f"cannot predict on an empty array of shape {array.shape}")
    if framework not in ("auto", "numpy", "torch"):
        raise InvalidInputError(f"framework must be 'auto', 'numpy' or 'torch', got {framework!r}")
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
    if blend not in BLEND_MODES:
        raise InvalidInputError(f"blend must be one of {BLEND_MODES}, got {blend!r}")
    spatial = _spatial_shape(array.shape, channel_axis)
    x = array if channel_axis is not None else array[..., None]
    if channel_axis == 0:
        x = np.moveaxis(x, 0, -1)
    tile_t = _per_axis(tile, len(spatial), "tile")
    x, crop = _pad_to_tile(x, tuple(int(t) for t in tile_t), pad_mode, cval)
    grid = tile_grid(x.shape[:-1], tile, overlap)
    use_torch = framework == "torch" or (framework == "auto" and _is_torch_module(fn))
    if use_torch and device is None:
        device = next((p.device for p in fn.parameters()), "cpu") if _is_torch_module(fn) else "cpu"
    n_batches = math.ceil(len(grid) / batch_size)
    logger.debug("predict_tiled: %d tiles of %s in %d batches", len(grid), grid[0].size, n_batches)

    acc: TileAccumulator | None = None
    squeeze = False
    for b in _progress(range(n_batches), desc="tiles", total=n_batches, disable=not progress or None):
        tiles = grid[b * batch_size:(b + 1) * batch_size]
        batch = np.stack([np.moveaxis(x[t.slices], -1, 0) for t in tiles]).astype(np.float32, copy=False)
        out = _run_batch(fn, np.ascontiguousarray(batch), use_torch, device)
        if out.shape == batch.shape[:1] + batch.shape[2:]:
            out, squeeze = out[:, None], True
        if out.ndim != batch.ndim or out.shape[0] != batch.shape[0] or out.shape[2:] != batch.shape[2:]:
            raise InvalidInputError(f"fn returned shape {out.shape} for a batch of shape {batch.shape}; "
                                    "it must keep the batch and spatial sizes")
        if acc is None:
            acc = TileAccumulator(x.shape[:-1], n_channels=out.shape[1], blend=blend, sigma_scale=sigma_scale,
                                  max_memory_bytes=max_memory_bytes)
        for t, pred in zip(tiles, out):
            acc.add(t, np.moveaxis(pred, 0, -1))
    assert acc is not None
    result = acc.result()[crop]
    if channel_axis is None and (squeeze or result.shape[-1] == 1):
        return result[..., 0]
    if channel_axis == 0 or channel_axis is None:
        return np.moveaxis(result, -1, 0)
    return result


# ----------------------------------------------------------------------------------------------
# Whole-slide images
# ----------------------------------------------------------------------------------------------

def _level_downsample(reader: Any, level: int) -> float:
    downsamples = getattr(reader, "level_downsamples", None)
    if downsamples is not None:
        return float(downsamples[level])
    return float(reader.level_dimensions[0][0]) / float(reader.level_dimensions[level][0])


def _level_size(reader: Any, level: int) -> tuple[int, int]:
    """``(width, height)`` of a slide level, after checking that ``reader`` is a WSI reader with that level."""
    dims = getattr(reader, "level_dimensions", None)
    if dims is None or not hasattr(reader, "read_region"):
        raise InvalidInputError("reader needs level_dimensions and read_region (a WSI reader)")
    if not 0 <= level < len(dims):
        raise InvalidInputError(f"level {level} does not exist; the slide has levels 0..{len(dims) - 1}")
    width, height = (int(v) for v in dims[level])
    return width, height


def tissue_fraction(mask: np.ndarray, tile: WSITile, level_size: tuple[int, int]) -> float:
    """Share of ``mask`` (a whole-slide tissue mask at any scale) under one tile.

    The tile lies on a level of ``level_size`` ``(width, height)``; at least one mask pixel is always looked at.

    Example:
        >>> m = np.zeros((10, 10), bool); m[:5] = True
        >>> tissue_fraction(m, WSITile(0, 0, 0, 100, 100, (0, 0)), (100, 100))
        0.5
    """
    sy, sx = mask.shape[0] / level_size[1], mask.shape[1] / level_size[0]
    r0, c0 = int(tile.y * sy), int(tile.x * sx)
    r1 = max(int(math.ceil((tile.y + tile.height) * sy)), r0 + 1)
    c1 = max(int(math.ceil((tile.x + tile.width) * sx)), c0 + 1)
    return float(mask[r0:r1, c0:c1].mean())


def iter_wsi_tiles(reader: Any, level: int = 0, tile: int | Sequence[int] = 512,
                   overlap: int | Sequence[int] = 0, tissue_mask: np.ndarray | Any | None = None,
                   min_tissue_fraction: float = 0.0) -> Iterator[tuple[WSITile, np.ndarray]]:
    """Yield ``(WSITile, rgb)`` for the tiles of a whole-slide image at ``level``.

    ``reader`` is duck-typed (OpenSlide conventions): ``level_dimensions`` lists ``(width,
    height)`` per level and ``read_region(location, level, size)`` takes the top-left corner in
    level-0 pixels and ``(width, height)`` at ``level``; ``level_downsamples`` is used if present.
    ``tile``/``overlap`` are ``(rows, cols)`` or one value, in pixels at ``level``. With
    ``tissue_mask`` (a 2D boolean array or ``Image`` covering the whole slide at any scale, e.g.
    from a thumbnail), only tiles whose tissue fraction exceeds ``min_tissue_fraction`` are read.
    RGBA regions are returned as RGB.
    """
    width, height = _level_size(reader, level)
    mask = None
    if tissue_mask is not None:
        mask = np.asarray(getattr(tissue_mask, "array", tissue_mask)).astype(bool)
        if mask.ndim != 2 or mask.size == 0:
            raise InvalidInputError(f"tissue_mask must be a non-empty 2D array, got shape {mask.shape}")
    ds = _level_downsample(reader, level)
    for t in tile_grid((height, width), tile, overlap):
        (y, x), (h, w) = t.origin, t.size
        wt = WSITile(level, x, y, w, h, (int(round(x * ds)), int(round(y * ds))))
        if mask is not None and tissue_fraction(mask, wt, (width, height)) <= min_tissue_fraction:
            continue
        region = np.asarray(reader.read_region(wt.location, level, (w, h)))
        if region.ndim == 3 and region.shape[-1] == 4:
            region = region[..., :3]
        yield wt, region


class SlideRowStrips:
    """Tiles of a slide level read one tile row at a time, each row's span of tiles as one strip.

    For a grid grouped by rows (:func:`biomedai.data.band_blending.tile_rows`) that is run row after row
    (:func:`~biomedai.data.band_blending.blend_in_bands`): each stored tile of the slide is decoded about
    once per tile row, not once per overlapping tile. Tiles for which ``skip`` says so are left out of the
    strips (a row of skipped tiles is never read).

    Parameters
    ----------
    slide : Any
        A WSI reader (``read_region(location, level, size)``, OpenSlide conventions).
    level : int
        The pyramid level the tiles lie on.
    downsample : float
        That level's downsample (level-0 pixels per level pixel).
    tile : int
        Tile side in pixels at ``level``.
    grid : list of list of Tile
        The tiles grouped by row (each tile's ``origin`` is ``(y, x)`` at ``level``).
    skip : callable, optional
        ``skip(tile)`` True for a tile that is not read.

    Examples
    --------
    >>> class Slide:
    ...     def read_region(self, location, level, size):
    ...         return np.arange(size[1] * size[0] * 3, dtype=np.uint8).reshape(size[1], size[0], 3)
    >>> grid = [[Tile((0, 0), (4, 4)), Tile((0, 2), (4, 4))]]
    >>> strips = SlideRowStrips(Slide(), 0, 1.0, 4, grid)
    >>> strips.read(grid[0][1]).shape
    (4, 4, 3)
    """

    def __init__(self, slide: Any, level: int, downsample: float, tile: int, grid: Sequence[Sequence[Tile]],
                 skip: Callable[[Tile], bool] | None = None) -> None:
        self.slide, self.level, self.downsample, self.tile = slide, level, float(downsample), tile
        self.spans: dict[int, tuple[int, int]] = {}
        for row in grid:
            xs = [t.origin[1] for t in row if skip is None or not skip(t)]
            if xs:
                self.spans[row[0].origin[0]] = (min(xs), max(xs) + tile)
        self._y: int | None = None
        self._x0 = 0
        self._strip = np.zeros((0, 0, 3), np.uint8)

    def read(self, t: Tile) -> np.ndarray:
        """The ``tile`` x ``tile`` RGB pixels of ``t``, from its row's strip (read when the row changes)."""
        y, x = t.origin
        if y != self._y:
            if y not in self.spans:
                raise InvalidInputError(f"tile at (y={y}, x={x}) lies in a row whose tiles are all skipped")
            x0, x1 = self.spans[y]
            ds = self.downsample
            strip = self.slide.read_region((int(round(x0 * ds)), int(round(y * ds))), self.level,
                                           (x1 - x0, self.tile))
            self._strip = np.asarray(strip)[..., :3]
            self._y, self._x0 = y, x0
        if x < self._x0 or x - self._x0 + self.tile > self._strip.shape[1]:
            raise InvalidInputError(f"tile at (y={y}, x={x}) lies outside its row's strip (a skipped tile)")
        return self._strip[:, x - self._x0:x - self._x0 + self.tile]


# ----------------------------------------------------------------------------------------------
# Maps on a strided grid over whole-slide images (fully convolutional classifiers)
# ----------------------------------------------------------------------------------------------

class MapWindow(NamedTuple):
    """Map positions ``rows``/``cols`` (``start:stop``) and the pixel window at the level that yields them."""

    rows: slice
    cols: slice
    x: int
    y: int
    width: int
    height: int


def strided_map_windows(height: int, width: int, patch: int, stride: int, tile: int) -> Iterator[MapWindow]:
    """Pixel windows whose maps join into the one-pass map of a patch classifier run as an FCN.

    A map position ``(r, c)`` is the ``patch``-sized window at pixel ``(r * stride, c * stride)``. Windows
    start at multiples of the stride and overlap by ``patch - stride`` so that their maps join without
    gaps or duplicates; each covers the positions of about ``tile`` pixels (at least ``patch + stride``).

    Parameters
    ----------
    height, width : int
        Size of the image (or slide level) in pixels.
    patch, stride : int
        Window side and step of the classifier's map.
    tile : int
        Approximate side of a window in pixels.

    Yields
    ------
    MapWindow
        In row-major order.

    Examples
    --------
    >>> [(w.cols.start, w.cols.stop, w.x, w.width) for w in strided_map_windows(64, 200, 64, 32, 128)]
    [(0, 3, 0, 128), (3, 5, 96, 96)]
    """
    if height < patch or width < patch:
        raise InvalidInputError(f"the image ({width} x {height}) is smaller than one {patch} x {patch} patch")
    rows, cols = (height - patch) // stride + 1, (width - patch) // stride + 1
    n = (max(tile // stride * stride, patch + stride) - patch) // stride + 1  # map positions per window side
    for r0 in range(0, rows, n):
        for c0 in range(0, cols, n):
            r1, c1 = min(r0 + n, rows), min(c0 + n, cols)
            yield MapWindow(slice(r0, r1), slice(c0, c1), c0 * stride, r0 * stride,
                            (c1 - c0 - 1) * stride + patch, (r1 - r0 - 1) * stride + patch)


def predict_wsi_map(reader: Any, level: int, fn: Callable[[np.ndarray], np.ndarray], patch: int, stride: int,
                    tile: int, n_channels: int, *, skip: Callable[[np.ndarray], bool] | None = None,
                    fill: Sequence[float] | None = None, max_memory_bytes: int | None = None,
                    memmap_path: str | Path | None = None, progress: bool = False
                    ) -> tuple[np.ndarray, dict[str, Any]]:
    """A patch classifier's map over a whole-slide level, window by window (see :func:`strided_map_windows`).

    Parameters
    ----------
    reader : slide
        OpenSlide conventions (``level_dimensions``, ``read_region(location, level, size)``,
        ``level_downsamples``), e.g. :func:`biomedai.io.open_wsi`.
    level : int
        Slide level to read.
    fn : callable
        ``fn(region)`` maps an RGB window ``[h, w, 3]`` to ``[n_channels, rows, cols]`` values (at least
        the window's map positions; extra rows or columns are cut).
    patch, stride, tile : int
        As for :func:`strided_map_windows`.
    n_channels : int
        Channels of the map.
    skip : callable, optional
        ``skip(region)`` True for a window not worth running (glass); its positions get ``fill``.
    fill : sequence of float, optional
        Per-channel values of skipped windows (default zeros).
    max_memory_bytes : int, optional
        When the map would exceed this, it is kept in a ``.npy`` memory map (``memmap_path`` or a
        temporary file) instead of RAM.
    memmap_path : path, optional
        Where to keep the map on disk.
    progress : bool
        Show a progress bar over the windows.

    Returns
    -------
    tuple of (ndarray, dict)
        ``[n_channels, rows, cols]`` float32 and what was run (windows run and skipped, map size).
    """
    width, height = _level_size(reader, level)
    ds = _level_downsample(reader, level)
    windows = list(strided_map_windows(height, width, patch, stride, tile))
    rows, cols = windows[-1].rows.stop, windows[-1].cols.stop
    shape = (int(n_channels), rows, cols)
    out = _output_array(shape, max_memory_bytes, memmap_path)
    fill_values = np.zeros(n_channels, np.float32) if fill is None else np.asarray(fill, np.float32)
    run = skipped = 0
    for w in _progress(windows, desc="windows", total=len(windows), disable=not progress or None):
        region = np.asarray(reader.read_region((int(w.x * ds), int(w.y * ds)), level, (w.width, w.height)))
        if region.ndim == 3 and region.shape[-1] == 4:
            region = region[..., :3]
        if skip is not None and skip(region):
            out[:, w.rows, w.cols] = fill_values[:, None, None]
            skipped += 1
            continue
        values = np.asarray(fn(region))
        out[:, w.rows, w.cols] = values[:, :w.rows.stop - w.rows.start, :w.cols.stop - w.cols.start]
        run += 1
    info = {"level": level, "level_size": [width, height], "map_rows": rows, "map_cols": cols,
            "tiles_run": run, "tiles_skipped_glass": skipped}
    return out, info


def _output_array(shape: tuple[int, ...], max_memory_bytes: int | None, memmap_path: str | Path | None
                  ) -> np.ndarray:
    """A zeroed float32 array, on disk (``.npy`` memory map) when it would exceed ``max_memory_bytes``."""
    nbytes = int(np.prod(shape)) * 4
    if memmap_path is None and (max_memory_bytes is None or nbytes <= max_memory_bytes):
        return np.zeros(shape, np.float32)
    if memmap_path is None:
        import tempfile

        handle = tempfile.NamedTemporaryFile(prefix="biomedai-map-", suffix=".npy", delete=False)
        handle.close()
        memmap_path = handle.name
        logger.info("output of %.1f MB exceeds the memory cap: kept in %s", nbytes / 1e6, memmap_path)
    array = np.lib.format.open_memmap(Path(memmap_path), mode="w+", dtype=np.float32, shape=shape)
    array[...] = 0
    return array
