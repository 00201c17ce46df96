"""Whole slides (ours; the paper works on tiles, spec 2.9): slide -> Otsu tissue mask on a thumbnail -> the
generator on tissue tiles only -> tent-blended row bands -> a tiled pyramidal TIFF; positive cells counted
block by block.

Nothing holds the full-resolution slide: tiles are read from the slide when they are run, the blended output
leaves in bands of ``slide_output_tile`` rows (:func:`biomedai.data.band_blending.blend_in_bands`) for the
TIFF writer (:func:`biomedai.io.wsi.write_pyramidal_tiff_bands`, the pixel size kept), and the Ki-67
quantifier counts in blocks with a margin (:func:`biomedai.data.blocks.block_grid`): a nucleus is counted by
the block whose core holds its centroid, so none is counted twice. Tiles without tissue are not run; they
are white in the output, blended like the others so that no seam shows at the tissue border.

Example:
    >>> is_slide_input(Path("scan.svs"), VirtualIHCConfig())
    True
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.data.band_blending import blend_in_bands, tile_rows
from biomedai.data.blocks import block_grid
from biomedai.data.tiling import SlideRowStrips, Tile, WSITile, tile_grid, tissue_fraction
from biomedai.data.tissue import tissue_mask, tissue_windows
from biomedai.errors import InvalidInputError
from biomedai.io.wsi import (LevelChoice, ResampledSlide, is_slide_file, level_for_mpp, open_wsi,
                             write_pyramidal_tiff_bands)
from biomedai.methods.ki67.ihc import hematoxylin_threshold

from .config import VirtualIHCConfig
from .inference import check_tile_settings, tile_functions
from .input_check import check_he_input
from .model_io import VirtualIHCModel
from .positivity import haematoxylin_p99
from .quantify import positive_ratio, quantifier_config

logger = logging.getLogger(__name__)

#: tissue tiles sampled over the slide for the haematoxylin view's 99th percentile
VIEW_SAMPLE_TILES = 16
#: the thumbnail's tissue mask closes gaps of this many pixels (nuclei of a pale IHC are separate specks there)
THUMBNAIL_CLOSE_PX = 3


@dataclass
class SlideInput:
    """A slide checked before anything is written: the level run, the size and pixel size of the grid the
    generator runs on (the level resampled to the model's microns per pixel, ``choice``), the thumbnail and its
    tissue mask, and the warnings (an IHC-looking slide, a slide without microns per pixel)."""

    path: Path
    level: int
    width: int
    height: int
    downsample: float
    mpp: tuple[float, float] | None
    thumbnail: np.ndarray
    mask: np.ndarray
    choice: LevelChoice
    warnings: list[str] = field(default_factory=list)

    def reader(self, slide: Any) -> tuple[Any, int]:
        """``(reader, level)`` that reads this input's grid from the open ``slide`` (OpenSlide conventions)."""
        return ResampledSlide(slide, self.choice), 0

    def tissue(self, x: int, y: int, width: int, height: int) -> float:
        """Tissue fraction of a window of the level (pixels at the level)."""
        return tissue_fraction(self.mask, WSITile(self.level, x, y, width, height, (0, 0)), (self.width, self.height))


@dataclass
class SlideTranslation:
    output: Path
    tiles_total: int
    tiles_run: int
    tile_rows: list[dict[str, Any]]
    probabilities: np.ndarray
    seconds: float


def is_slide_input(path: Path, config: VirtualIHCConfig) -> bool:
    """A slide file, a pyramidal TIFF, or a TIFF of at least ``slide_min_pixels`` pixels."""
    return is_slide_file(path, config.slide_min_pixels)


def inspect_slide(path: Path, config: VirtualIHCConfig, tile: int | None = None, he: bool = True,
                  target_mpp: float | None = None) -> SlideInput:
    """Open the slide and check it: level (``slide_level``, or by ``target_mpp``, the model's microns per pixel:
    :func:`biomedai.io.wsi.level_for_mpp`), (``he``) colour, tissue and DAB, and its size against ``tile``
    (or later, with :func:`check_slide_size`, once the model and so its tile size are known)."""
    path = Path(path)
    with open_wsi(path) as slide:
        choice = level_for_mpp(slide, target_mpp, config.slide_level, setting="slide_level")
        width, height = choice.width, choice.height
        downsample = choice.downsample
        mpp = slide.mpp
        thumbnail = slide.thumbnail(min(config.slide_thumbnail_px, max(slide.dimensions)))  # never enlarged
    mask = tissue_mask(thumbnail, close_px=THUMBNAIL_CLOSE_PX)
    if he:
        warnings = check_he_input(thumbnail, config, path, close_px=THUMBNAIL_CLOSE_PX)
    else:
        warnings = []
        if not mask.any():
            raise InvalidInputError("no tissue found (Otsu tissue mask is empty)", path)
    if choice.warning:
        warnings.append(choice.warning)
    level_mpp = (mpp[0] * downsample, mpp[1] * downsample) if mpp else None
    slide_in = SlideInput(path, choice.level, width, height, downsample, level_mpp, thumbnail, mask, choice, warnings)
    if tile is not None:
        check_slide_size(slide_in, tile)
    return slide_in


def check_slide_size(slide_in: SlideInput, tile: int) -> None:
    """Refuse a slide level smaller than one generator tile."""
    if slide_in.width < tile or slide_in.height < tile:
        raise InvalidInputError(f"level {slide_in.level} is {slide_in.width} x {slide_in.height} pixels, smaller "
                                f"than one {tile} px tile of the generator", slide_in.path)


def translate_slide(model: VirtualIHCModel, slide_in: SlideInput, output: Path, config: VirtualIHCConfig,
                    device: Any = "cpu", classifier: Any = None, mil_input_size: int | None = None) -> SlideTranslation:
    """Generate the synthetic Ki-67 of a whole slide level into the pyramidal TIFF ``output``."""
    mcfg = model.config
    tile = mcfg.tile_size
    check_tile_settings(model, config, slide_in.path)
    skip = _skip_glass(slide_in, config.slide_min_tissue)
    rows: list[dict[str, Any]] = []
    grid = tile_rows((slide_in.height, slide_in.width), tile, config.tile_overlap)
    row_of = {r[0].origin[0]: i for i, r in enumerate(grid)}
    col_of = {t.origin[1]: j for j, t in enumerate(grid[0])}
    start = time.perf_counter()
    with open_wsi(slide_in.path) as opened:
        slide, level = slide_in.reader(opened)

        def read(t: Tile) -> np.ndarray:
            (y, x), ds = t.origin, slide_in.downsample
            return slide.read_region((int(round(x * ds)), int(round(y * ds))), level, (tile, tile))

        p99 = _slide_view_p99(slide_in, read, tile, config.tile_overlap, skip) \
            if mcfg.input_view == "hematoxylin" else None
        classify, generate = tile_functions(model, device, classifier, mil_input_size, p99)
        strips = SlideRowStrips(slide, level, slide_in.downsample, tile, grid, skip)

        def run(tiles: list[Tile]) -> np.ndarray:
            batch = np.moveaxis(np.stack([strips.read(t) for t in tiles]), -1, 1).astype(np.float32) / 127.5 - 1.0
            probs = np.asarray(classify(batch), np.float64).reshape(-1)
            out = np.asarray(generate(batch, probs), np.float32)
            for t, p in zip(tiles, probs):
                rows.append(_tile_row(t, slide_in, p, (row_of[t.origin[0]], col_of[t.origin[1]])))
            return np.moveaxis(out, 1, -1)

        bands = blend_in_bands((slide_in.height, slide_in.width), 3, run, tile, config.tile_overlap,
                               config.slide_output_tile, blend=config.blend, batch_size=config.batch_tiles,
                               skip=skip, fill=1.0, on_tiles=_progress_logger(slide_in.path.name, start),
                               source=slide_in.path)
        uint8 = (((np.clip(b, -1.0, 1.0) + 1.0) * 127.5).round().astype(np.uint8) for _, b in bands)
        write_pyramidal_tiff_bands(uint8, (slide_in.height, slide_in.width, 3), output, slide_in.mpp,
                                   tile=config.slide_output_tile)
    shape = (len(grid), len(grid[0]))
    return SlideTranslation(Path(output), shape[0] * shape[1], len(rows), rows, probability_grid(rows, shape),
                            time.perf_counter() - start)


def count_positive_cells(path: Path, nucleus_diameter_px: float, block: int, level: int = 0,
                         mask: np.ndarray | None = None, choice: LevelChoice | None = None) -> dict[str, Any]:
    """Positive and all nuclei of a slide level by the Ki-67 quantifier, block by block (see the module doc).

    ``choice`` (from :func:`biomedai.io.wsi.level_for_mpp`) reads the slide resampled instead of ``level``.
    ``mask`` (a tissue mask of the whole level at any scale) skips blocks without tissue. The quantifier's
    nuclear haematoxylin threshold is set once for the slide, on tissue windows (:func:`slide_nuclear_threshold`):
    found per block, a block that is mostly glass would put it between glass and tissue and miss the nuclei."""
    margin = int(np.ceil(2 * nucleus_diameter_px))
    n_cells = n_positive = counted = 0
    start = time.perf_counter()
    with open_wsi(path) as opened:
        slide = opened if choice is None else ResampledSlide(opened, choice)
        level = level if choice is None else 0
        width, height = slide.level_dimensions[level]
        ds = slide.level_downsamples[level]
        threshold = slide_nuclear_threshold(slide, level, nucleus_diameter_px, mask)
        grid = block_grid((height, width), block, margin)
        for i, b in enumerate(grid):
            core = WSITile(level, b.core_x0, b.core_y0, b.core_x1 - b.core_x0, b.core_y1 - b.core_y0, (0, 0))
            if mask is not None and tissue_fraction(mask, core, (width, height)) == 0:
                continue
            region = slide.read_region((int(round(b.x0 * ds)), int(round(b.y0 * ds))), level,
                                       (b.x1 - b.x0, b.y1 - b.y0))
            cells = positive_ratio(region, nucleus_diameter_px, threshold)["result"].cells
            cx, cy = np.asarray(cells.x) + b.x0, np.asarray(cells.y) + b.y0
            owned = (cx >= b.core_x0) & (cx < b.core_x1) & (cy >= b.core_y0) & (cy < b.core_y1)
            n_cells += int(owned.sum())
            n_positive += int((owned & np.asarray(cells.positive, bool)).sum())
            counted += 1
            if time.perf_counter() - start > 30 and i % 20 == 0:
                logger.info("%s: counting nuclei, block %d/%d", Path(path).name, i + 1, len(grid))
    return {"n_cells": n_cells, "n_positive": n_positive, "ratio": n_positive / n_cells if n_cells else None,
            "blocks_counted": counted, "blocks_total": len(grid), "hematoxylin_threshold": round(threshold, 5)}


def slide_nuclear_threshold(slide: Any, level: int, nucleus_diameter_px: float, mask: np.ndarray | None = None,
                            window: int = 256, n_windows: int = 16) -> float:
    """The Ki-67 quantifier's nuclear haematoxylin threshold on up to ``n_windows`` windows spread over the
    slide's tissue, glass pixels left out (:func:`biomedai.data.tissue.tissue_windows`)."""
    found = tissue_windows(slide, level, mask, window, n_windows)
    return hematoxylin_threshold(found.images, quantifier_config(nucleus_diameter_px), found.masks)


def slide_thumbnail(path: Path, size: int) -> np.ndarray:
    """The whole slide (or pyramidal TIFF) scaled to fit ``size`` px (never enlarged)."""
    with open_wsi(path) as slide:
        return slide.thumbnail(min(size, max(slide.dimensions)))


def probability_grid(rows: list[dict[str, Any]], shape: tuple[int, int]) -> np.ndarray:
    """Tile probabilities on the tile grid ``[rows, cols]`` (NaN for tiles not run or without a classifier)."""
    grid = np.full(shape, np.nan)
    for r in rows:
        if r["p_tumour"] is not None:
            grid[r["row"], r["col"]] = r["p_tumour"]
    return grid


# ----------------------------------------------------------------------------------------------------------

def _skip_glass(slide_in: SlideInput, min_tissue: float) -> Callable[[Tile], bool]:
    def skip(t: Tile) -> bool:
        (y, x), (h, w) = t.origin, t.size
        return slide_in.tissue(x, y, w, h) <= min_tissue

    return skip


def _slide_view_p99(slide_in: SlideInput, read: Callable[[Tile], np.ndarray], tile: int, overlap: int,
                    skip: Callable[[Tile], bool]) -> float:
    tissue = [t for t in tile_grid((slide_in.height, slide_in.width), tile, overlap) if not skip(t)]
    if not tissue:
        raise InvalidInputError("no tile of the slide holds tissue", slide_in.path)
    picks = np.linspace(0, len(tissue) - 1, min(VIEW_SAMPLE_TILES, len(tissue))).round().astype(int)
    return haematoxylin_p99(np.concatenate([read(tissue[i]) for i in picks]))


def _tile_row(t: Tile, slide_in: SlideInput, p: float, index: tuple[int, int]) -> dict[str, Any]:
    (y, x), (h, w) = t.origin, t.size
    return {"row": index[0], "col": index[1], "x": x, "y": y, "width": w, "height": h,
            "x_level0": int(round(x * slide_in.downsample)), "y_level0": int(round(y * slide_in.downsample)),
            "tissue_fraction": round(slide_in.tissue(x, y, w, h), 4),
            "p_tumour": None if not np.isfinite(p) else round(float(p), 5)}


def _progress_logger(name: str, start: float) -> Callable[[int, int], None]:
    last = [start, -1]

    def report(done: int, total: int) -> None:
        now = time.perf_counter()
        pct = int(100 * done / total)
        if done == total or now - last[0] >= 30 or pct // 10 > last[1]:
            elapsed = now - start
            left = elapsed / done * (total - done) if done else float("nan")
            logger.info("%s: %d/%d tiles (%d %%), %.0f s, about %.0f s left", name, done, total, pct, elapsed, left)
            last[0], last[1] = now, pct // 10

    return report
