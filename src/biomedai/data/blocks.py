"""Instance segmentation of images and volumes too large for one pass.

Instance segmentation of images and volumes too large for one pass: blocks with context, centroid ownership
on seams, and one label map (or a stream of owned instances) out.

The array is cut into *cores* (a grid of ``block - 2 * margin`` pixels per axis) and each core is read with
``margin`` pixels of context on every side. An instance is kept by the block whose core holds its centroid,
and kept whole (it may reach into the margin). Cores do not overlap, so every object is written once and
none is cut, provided ``margin`` exceeds the largest object's diameter. Two blocks that see a seam object
with different context can disagree about its centroid and both own it; :func:`unclaimed_instances` drops
the second copy. The same code serves 2-D images, whole slides (read block by block, with
:class:`ClaimedPixels` keeping one band of rows) and 3-D volumes.

Dense outputs (probabilities, regression maps) are blended over overlapping tiles by
:func:`biomedai.data.tiling.predict_tiled` instead.

Example:
    >>> labels = np.zeros((40, 50), np.int64)
    >>> labels[18:24, 20:27] = 1                      # one object across the seam at x = 24
    >>> out = paste_blocks(segment_in_blocks(lambda b: labels[b.slices], lambda x: x, labels.shape, 40, 8),
    ...                    labels.shape)
    >>> int(out.max()), int((out > 0).sum())          # written once, whole
    (1, 42)
"""
from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.utils import progress as _progress

logger = logging.getLogger(__name__)

__all__ = ["Block", "block_grid", "keep_core_instances", "segment_in_blocks", "unclaimed_instances",
           "ClaimedPixels", "paste_blocks"]


@dataclass(frozen=True)
class Block:
    """A block to read (``start:stop`` per axis) and the core it owns (``core_start:core_stop``).

    For 2-D blocks the bounds also read as ``y0, y1, x0, x1`` and ``core_y0 ... core_x1``.
    """

    start: tuple[int, ...]
    stop: tuple[int, ...]
    core_start: tuple[int, ...]
    core_stop: tuple[int, ...]

    @classmethod
    def from_2d(cls, y0: int, y1: int, x0: int, x1: int, core_y0: int, core_y1: int, core_x0: int,
                core_x1: int) -> Block:
        """A 2-D block from its row and column bounds."""
        return cls((y0, x0), (y1, x1), (core_y0, core_x0), (core_y1, core_x1))

    @property
    def slices(self) -> tuple[slice, ...]:
        """Slices selecting the block (core and context) from the full array."""
        return tuple(slice(a, b) for a, b in zip(self.start, self.stop))

    @property
    def core_slices(self) -> tuple[slice, ...]:
        """Slices selecting the core the block owns."""
        return tuple(slice(a, b) for a, b in zip(self.core_start, self.core_stop))

    @property
    def shape(self) -> tuple[int, ...]:
        """Size of the block per axis."""
        return tuple(b - a for a, b in zip(self.start, self.stop))

    y0 = property(lambda self: self.start[0])
    y1 = property(lambda self: self.stop[0])
    x0 = property(lambda self: self.start[-1])
    x1 = property(lambda self: self.stop[-1])
    core_y0 = property(lambda self: self.core_start[0])
    core_y1 = property(lambda self: self.core_stop[0])
    core_x0 = property(lambda self: self.core_start[-1])
    core_x1 = property(lambda self: self.core_stop[-1])


def block_grid(shape: Sequence[int], block: int | Sequence[int], margin: int | Sequence[int]) -> list[Block]:
    """Blocks covering ``shape``: cores of ``block - 2 * margin`` pixels per axis tile the array exactly.

    Parameters
    ----------
    shape : sequence of int
        Spatial shape of the array (``(rows, cols)`` or ``(z, rows, cols)``).
    block : int or sequence of int
        Block size per axis, context included.
    margin : int or sequence of int
        Context on each side of a core, per axis.

    Returns
    -------
    list of Block
        In C order (last axis fastest), so 2-D blocks come row band by row band.

    Examples
    --------
    >>> [(b.core_x0, b.core_x1, b.x0, b.x1) for b in block_grid((8, 25), 12, 2)]
    [(0, 8, 0, 10), (8, 16, 6, 18), (16, 24, 14, 25), (24, 25, 22, 25)]
    """
    shape = tuple(int(n) for n in shape)
    ndim = len(shape)
    blocks = (int(block),) * ndim if np.isscalar(block) else tuple(int(b) for b in block)
    margins = (int(margin),) * ndim if np.isscalar(margin) else tuple(int(m) for m in margin)
    if len(blocks) != ndim or len(margins) != ndim:
        raise InvalidInputError(f"block and margin need one value or {ndim} (one per axis)")
    for b, m in zip(blocks, margins):
        if b <= 2 * m:
            raise InvalidInputError(f"block size {b} must exceed twice the margin {m}")
    steps = [b - 2 * m for b, m in zip(blocks, margins)]
    axes = [[(c, min(c + step, n), max(c - m, 0), min(min(c + step, n) + m, n)) for c in range(0, n, step)]
            for n, step, m in zip(shape, steps, margins)]
    out = []
    for combo in itertools.product(*axes):
        out.append(Block(tuple(a[2] for a in combo), tuple(a[3] for a in combo),
                         tuple(a[0] for a in combo), tuple(a[1] for a in combo)))
    return out


def keep_core_instances(labels: np.ndarray, block: Block) -> np.ndarray:
    """The instances of a block's label map whose centroid lies in the block's core (others set to 0).

    Parameters
    ----------
    labels : ndarray of int
        Instance labels of the block (0 is background), shape ``block.shape``.
    block : Block
        Where the labels sit in the full array.

    Returns
    -------
    ndarray
        ``labels`` with the instances owned by another block set to 0.
    """
    if not labels.any():
        return labels
    flat = labels.ravel().astype(np.int64)
    n = int(flat.max()) + 1
    count = np.bincount(flat, minlength=n).astype(np.float64)
    keep = count > 0
    for axis, coords in enumerate(np.indices(labels.shape)):
        centre = np.bincount(flat, weights=coords.ravel(), minlength=n) / np.maximum(count, 1) + block.start[axis]
        keep &= (centre >= block.core_start[axis]) & (centre < block.core_stop[axis])
    keep[0] = False
    return np.where(keep[labels], labels, 0)


def segment_in_blocks(read: Callable[[Block], np.ndarray], segment: Callable[[np.ndarray], np.ndarray],
                      shape: Sequence[int], block: int | Sequence[int], margin: int | Sequence[int],
                      progress: bool = False) -> Iterator[tuple[Block, np.ndarray]]:
    """Yield ``(block, labels)`` for every block; ``labels`` holds only the instances the block owns.

    Parameters
    ----------
    read : callable
        ``read(block)`` returns the image of the block (e.g. ``array[block.slices]`` or a WSI region).
    segment : callable
        ``segment(image)`` returns its instance labels, of shape ``block.shape``.
    shape, block, margin
        As for :func:`block_grid`.
    progress : bool
        Show a progress bar over the blocks.

    Yields
    ------
    tuple of (Block, ndarray)
        Each block and the labels of the instances whose centroid is in its core.
    """
    grid = block_grid(shape, block, margin)
    for b in _progress(grid, desc="blocks", total=len(grid), disable=not progress or None):
        labels = segment(read(b))
        if labels.shape != b.shape:
            raise InvalidInputError(f"segmentation of block {b} has shape {labels.shape}, expected {b.shape}")
        yield b, keep_core_instances(labels, b)


def unclaimed_instances(labels: np.ndarray, claimed: np.ndarray, max_overlap: float = 0.5) -> np.ndarray:
    """A block's owned instances cut to the pixels no earlier block claimed (``claimed``, same shape).

    An instance whose area is already claimed by more than ``max_overlap`` is a duplicate of a seam object
    another block wrote and is dropped; the others keep their unclaimed pixels. So every instance written
    keeps at least half its pixels, and none is written twice.

    Parameters
    ----------
    labels : ndarray of int
        The block's owned instances.
    claimed : ndarray of bool
        Pixels of the block that earlier blocks wrote.
    max_overlap : float
        Largest claimed fraction of an instance that is still kept.

    Returns
    -------
    ndarray
        The labels to write.
    """
    if not labels.any():
        return labels
    flat = labels.ravel().astype(np.int64)
    area = np.bincount(flat)
    overlap = np.bincount(flat, weights=claimed.ravel().astype(np.float64), minlength=area.size)
    keep = (area > 0) & (overlap <= max_overlap * area)
    keep[0] = False
    return np.where(keep[labels] & ~claimed, labels, 0)


class ClaimedPixels:
    """Which pixels earlier blocks wrote, for blocks visited in :func:`block_grid`'s order.

    Only one band of ``block`` rows (first axis) is kept: ``block x width`` booleans in 2-D, about 200 MB
    for a slide 100,000 pixels wide at 2048, so seam duplicates are caught on slides too large for a
    label map.

    Parameters
    ----------
    shape : int or sequence of int
        The array's size on the axes after the first (the width of a 2-D image).
    block : int
        Block size along the first axis.
    """

    def __init__(self, shape: int | Sequence[int], block: int) -> None:
        rest = (int(shape),) if np.isscalar(shape) else tuple(int(n) for n in shape)
        self.band = np.zeros((int(block),) + rest, bool)
        self.top = 0

    def view(self, b: Block) -> np.ndarray:
        """The (writable) claimed mask under block ``b``; moving down a band drops the rows above it."""
        if b.start[0] < self.top or b.shape[0] > self.band.shape[0]:
            raise ValueError(f"block {b} is not in row-by-row order or is larger than the band")
        shift = b.start[0] - self.top
        if shift:
            keep = max(self.band.shape[0] - shift, 0)
            self.band[:keep] = self.band[shift:shift + keep]
            self.band[keep:] = False
            self.top = b.start[0]
        return self.band[(slice(0, b.shape[0]),) + b.slices[1:]]


def paste_blocks(blocks: Iterable[tuple[Block, np.ndarray]], shape: Sequence[int]) -> np.ndarray:
    """Assemble owned instances into one uint32 label map (ids 1..N in the order written).

    Parameters
    ----------
    blocks : iterable of (Block, ndarray)
        What :func:`segment_in_blocks` yields.
    shape : sequence of int
        Shape of the full array.

    Returns
    -------
    ndarray of uint32
        One label per object; seam duplicates dropped (see :func:`unclaimed_instances`).
    """
    out = np.zeros(tuple(shape), np.uint32)
    next_id = 1
    for b, labels in blocks:
        view = out[b.slices]
        labels = unclaimed_instances(labels, view > 0)
        ids = np.unique(labels)
        ids = ids[ids > 0]
        if ids.size == 0:
            continue
        lut = np.zeros(int(labels.max()) + 1, np.uint32)
        lut[ids] = np.arange(next_id, next_id + ids.size, dtype=np.uint32)
        next_id += ids.size
        written = labels > 0
        view[written] = lut[labels[written]]
    return out
