"""The tilers as they were before the one large-image engine (nuclei_hannet/inference.py blocks and ki67/wsi.py),
frozen here so that tests can show the engine gives identical outputs. Not used by the library."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError


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


GLASS_MEAN, GLASS_STD = 225.0, 8.0
BACKGROUND = 2


def wsi_probability_map(model: Any, path: str | Path, config: Any,
                        device: Any = "cpu") -> tuple[np.ndarray, dict[str, Any]]:
    """``([3, rows, cols] probabilities, info)`` for slide level ``config.wsi_level``."""
    import torch

    from biomedai.io import open_wsi

    path = Path(path)
    fcn = model.to(device).to_fcn()
    s, p = fcn.stride, config.patch_size
    with open_wsi(path) as slide:
        level = config.wsi_level
        if not 0 <= level < slide.level_count:
            raise InvalidInputError(f"level {level} does not exist; the slide has levels 0..{slide.level_count - 1}",
                                    path)
        width, height = slide.level_dimensions[level]
        ds = slide.level_downsamples[level]
        if width < p or height < p:
            raise InvalidInputError(f"level {level} is {width}x{height}, smaller than one {p}x{p} patch", path)
        rows, cols = (height - p) // s + 1, (width - p) // s + 1
        n = (max(config.wsi_tile // s * s, p + s) - p) // s + 1  # map positions per tile side
        prob = np.zeros((3, rows, cols), np.float32)
        skipped = run = 0
        for r0 in range(0, rows, n):
            for c0 in range(0, cols, n):
                r1, c1 = min(r0 + n, rows), min(c0 + n, cols)
                w, h = (c1 - c0 - 1) * s + p, (r1 - r0 - 1) * s + p
                region = slide.read_region((int(c0 * s * ds), int(r0 * s * ds)), level, (w, h))
                grey = region.mean(axis=-1)
                if grey.mean() > GLASS_MEAN and grey.std() < GLASS_STD:
                    prob[BACKGROUND, r0:r1, c0:c1] = 1.0
                    skipped += 1
                    continue
                x = torch.from_numpy(np.ascontiguousarray(region)).to(device).permute(2, 0, 1).float().div_(255.0)
                with torch.no_grad():
                    prob[:, r0:r1, c0:c1] = fcn(x[None])[0, :, :r1 - r0, :c1 - c0].float().cpu().numpy()
                run += 1
        info = {"level": level, "level_size": [width, height], "map_rows": rows, "map_cols": cols,
                "tiles_run": run, "tiles_skipped_glass": skipped}
    return prob, info
