"""Prediction: 3-class probabilities by overlapping tiles, instances, and block-wise segmentation of
images too large for one probability map (whole slides) with instances merged across block seams.

Seams: the image is cut into *cores* (a grid of ``block - 2 * margin`` pixels) and each core is read with
``margin`` pixels of context on every side. An instance is kept by the block whose core holds its
centroid, and kept whole (it may reach into the margin). Cores do not overlap, so every nucleus is
written once and none is cut, provided ``margin`` exceeds the largest nucleus diameter.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Block:
    """A block to read (``y0:y1, x0:x1``) and the core it owns (``core_y0:core_y1, core_x0:core_x1``)."""

    y0: int
    y1: int
    x0: int
    x1: int
    core_y0: int
    core_y1: int
    core_x0: int
    core_x1: int


def block_grid(height: int, width: int, block: int, margin: int) -> list[Block]:
    """Blocks covering ``(height, width)``: cores of ``block - 2 * margin`` pixels tile the image exactly.

    >>> [(b.core_x0, b.core_x1, b.x0, b.x1) for b in block_grid(8, 25, 12, 2)]
    [(0, 8, 0, 10), (8, 16, 6, 18), (16, 24, 14, 25), (24, 25, 22, 25)]
    """
    if block <= 2 * margin:
        raise InvalidInputError(f"block size {block} must exceed twice the margin {margin}")
    step = block - 2 * margin
    out = []
    for cy in range(0, height, step):
        for cx in range(0, width, step):
            cy1, cx1 = min(cy + step, height), min(cx + step, width)
            out.append(Block(max(cy - margin, 0), min(cy1 + margin, height), max(cx - margin, 0),
                             min(cx1 + margin, width), cy, cy1, cx, cx1))
    return out


def keep_core_instances(labels: np.ndarray, block: Block) -> np.ndarray:
    """The instances of a block's label map whose centroid lies in the block's core (others set to 0)."""
    if not labels.any():
        return labels
    flat = labels.ravel().astype(np.int64)
    n = int(flat.max()) + 1
    count = np.bincount(flat, minlength=n).astype(np.float64)
    rows, cols = np.indices(labels.shape)
    cy = np.bincount(flat, weights=rows.ravel(), minlength=n) / np.maximum(count, 1) + block.y0
    cx = np.bincount(flat, weights=cols.ravel(), minlength=n) / np.maximum(count, 1) + block.x0
    keep = (count > 0) & (cy >= block.core_y0) & (cy < block.core_y1) & (cx >= block.core_x0) & (cx < block.core_x1)
    keep[0] = False
    return np.where(keep[labels], labels, 0)


def segment_in_blocks(read: Callable[[Block], np.ndarray], segment: Callable[[np.ndarray], np.ndarray],
                      height: int, width: int, block: int, margin: int
                      ) -> Iterator[tuple[Block, np.ndarray]]:
    """Yield ``(block, labels)`` for every block: ``labels`` (block-sized) holds only the instances the
    block owns (centroid in its core). ``read(block)`` returns the image of the block, ``segment(image)``
    its instance labels."""
    for b in block_grid(height, width, block, margin):
        labels = segment(read(b))
        if labels.shape != (b.y1 - b.y0, b.x1 - b.x0):
            raise InvalidInputError(f"segmentation of block {b} has shape {labels.shape}")
        yield b, keep_core_instances(labels, b)


def unclaimed_instances(labels: np.ndarray, claimed: np.ndarray, max_overlap: float = 0.5) -> np.ndarray:
    """A block's owned instances cut to the pixels no earlier block claimed (``claimed``, same shape).

    Two blocks see a seam nucleus with different context and can disagree about where its centroid is, so
    both may own it. An instance whose area is already claimed by more than ``max_overlap`` is such a
    duplicate and is dropped; the others keep their unclaimed pixels. So every instance written keeps at
    least half its pixels, and none is written twice.
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
    """Which pixels earlier blocks wrote, for blocks visited in :func:`block_grid`'s row-by-row order.

    Only one band of ``block`` rows is kept (``block x width`` booleans, about 200 MB for a slide 100,000
    pixels wide at the default 2048), so seam duplicates are caught on slides too large for a label map.
    """

    def __init__(self, width: int, block: int) -> None:
        self.band = np.zeros((block, width), bool)
        self.top = 0

    def view(self, b: Block) -> np.ndarray:
        """The (writable) claimed mask under block ``b``; moving down a row drops the rows above it."""
        if b.y0 < self.top or b.y1 - b.y0 > self.band.shape[0]:
            raise ValueError(f"block {b} is not in row-by-row order or is larger than the band")
        shift = b.y0 - self.top
        if shift:
            keep = max(self.band.shape[0] - shift, 0)
            self.band[:keep] = self.band[shift:shift + keep]
            self.band[keep:] = False
            self.top = b.y0
        return self.band[: b.y1 - b.y0, b.x0:b.x1]


def paste_blocks(blocks: Iterator[tuple[Block, np.ndarray]], shape: tuple[int, int]) -> np.ndarray:
    """Assemble owned instances into one uint32 label map (ids 1..N; see :func:`unclaimed_instances`)."""
    out = np.zeros(shape, np.uint32)
    next_id = 1
    for b, labels in blocks:
        view = out[b.y0:b.y1, b.x0:b.x1]
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


# ----------------------------------------------------------------------------------------------- network
_DIHEDRAL = [(k, flip) for flip in (False, True) for k in range(4)]


class ProbabilityModel:
    """Wraps a trained network: float batches ``(B, 3, y, x)`` in, softmax probabilities out (optionally
    averaged over the 8 flips/rotations)."""

    def __init__(self, model: Any, tta: bool = False) -> None:
        self.model, self.tta = model, tta

    def __call__(self, batch: Any) -> Any:
        import torch

        if not self.tta:
            return torch.softmax(self.model(batch).float(), dim=1)
        total = None
        for k, flip in _DIHEDRAL:
            x = torch.flip(batch, dims=(-1,)) if flip else batch
            x = torch.rot90(x, k, dims=(-2, -1))
            y = torch.softmax(self.model(x).float(), dim=1)
            y = torch.rot90(y, -k, dims=(-2, -1))
            y = torch.flip(y, dims=(-1,)) if flip else y
            total = y if total is None else total + y
        return total / len(_DIHEDRAL)


def normalise_for_network(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB ``[y, x, 3]`` -> float32 in [-1, 1] (the network's input scaling)."""
    return (np.asarray(rgb, np.float32) / 127.5) - 1.0


def tiled_probabilities(model: Any, rgb_prepared: np.ndarray, tile: int, overlap: int, batch_size: int,
                        device: Any = None, tta: bool = False) -> np.ndarray:
    """``(3, y, x)`` float32 probabilities of a stain-normalised uint8 RGB image, by Gaussian-blended tiles."""
    import torch

    from biomedai.data.tiling import predict_tiled

    if device is None:
        device = next(model.parameters()).device
    fn = ProbabilityModel(model, tta)
    with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=torch.device(device).type == "cuda"):
        probs = predict_tiled(normalise_for_network(rgb_prepared), fn, tile=tile, overlap=overlap,
                              batch_size=batch_size, channel_axis=-1, framework="torch", device=device,
                              pad_mode="reflect", progress=False)
    return np.moveaxis(probs, -1, 0)
