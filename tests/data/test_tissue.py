"""Tissue masks of brightfield images, tissue windows of a slide, and slide tiles read in row strips."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from biomedai.data.band_blending import tile_rows
from biomedai.data.tiling import SlideRowStrips
from biomedai.data.tissue import tissue_mask, tissue_windows
from biomedai.errors import InvalidInputError
from biomedai.io.wsi import open_wsi, write_pyramidal_tiff


def _slide_rgb() -> np.ndarray:
    img = np.full((500, 700, 3), 235, np.uint8)  # glass
    img[50:450, 100:400] = (150, 80, 160)        # tissue block
    return img


def test_tissue_mask_finds_the_tissue_block() -> None:
    mask = tissue_mask(_slide_rgb())
    assert mask[60:440, 110:390].all() and not mask[:, 450:].any()
    assert not tissue_mask(np.full((64, 64, 3), 240, np.uint8)).any()
    assert tissue_mask(np.full((64, 64, 3), 100, np.uint8)).all()  # flat and dark: all tissue


def test_noise_on_glass_is_not_tissue_and_specks_are_removed() -> None:
    rng = np.random.default_rng(0)
    glass = np.clip(235 + rng.normal(0, 3, (128, 128, 3)), 0, 255).astype(np.uint8)
    assert not tissue_mask(glass).any()
    specks = np.full((128, 128, 3), 235, np.uint8)
    specks[10:14, 10:14] = 90            # 16 px: a speck, removed
    specks[60:100, 60:100] = 90          # 1,600 px: tissue, kept
    mask = tissue_mask(specks, min_object_px=64)
    assert not mask[10:14, 10:14].any() and mask[60:100, 60:100].all()


def test_closing_joins_pale_nuclei_into_tissue() -> None:
    img = np.full((120, 120, 3), 235, np.uint8)
    img[20:100:4, 20:100:4] = 60  # separate dark dots, 3 px apart: nuclei of a pale stain on a thumbnail
    assert not tissue_mask(img, min_object_px=64).any()
    closed = tissue_mask(img, min_object_px=64, close_px=3)
    assert closed[30:90, 30:90].mean() > 0.9 and not closed[:10].any()


def _pyramid(tmp_path: Path, img: np.ndarray) -> Path:
    return write_pyramidal_tiff(img, tmp_path / "slide.tif", mpp=0.5)


def test_tissue_windows_lie_on_tissue_and_leave_glass_out(tmp_path: Path) -> None:
    img = np.full((512, 768, 3), 235, np.uint8)
    img[:, :256] = 110                 # tissue on the left third
    img[100:140, 100:140] = 235        # a hole of glass inside it
    with open_wsi(_pyramid(tmp_path, img)) as slide:
        mask = tissue_mask(slide.thumbnail(96))
        found = tissue_windows(slide, 0, mask, window=128, n_windows=6)
        whole = tissue_windows(slide, 0, None, window=128, n_windows=6)
    assert len(found.images) == 6 and found.masks is not None
    for image, keep in zip(found.images, found.masks):
        assert image.shape == (128, 128, 3)
        assert (image[keep] == 110).all() and (image[~keep] == 235).all()  # glass pixels left out
        assert keep.mean() > 0.5                                             # windows lie on the tissue
    assert whole.masks is None and any((im == 235).all() for im in whole.images)  # without a mask: all over


def test_row_strips_read_each_row_once_and_give_the_level_pixels(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    grid = tile_rows((300, 400), 64, 16)
    last_row = grid[-1][0].origin[0]
    skip = lambda t: t.origin[1] == 0 or t.origin[0] == last_row  # noqa: E731 - first column and the last row
    with open_wsi(_pyramid(tmp_path, img)) as slide:
        reads: list[tuple] = []
        real = slide.read_region

        def counting(location, level, size):
            reads.append((location, level, size))
            return real(location, level, size)

        slide.read_region = counting
        strips = SlideRowStrips(slide, 0, 1.0, 64, grid, skip)
        for row in grid:
            for t in row:
                if not skip(t):
                    (y, x), (h, w) = t.origin, t.size
                    np.testing.assert_array_equal(strips.read(t), img[y:y + h, x:x + w])
        assert len(reads) == sum(1 for row in grid if not all(skip(t) for t in row))
        with pytest.raises(InvalidInputError, match="skipped"):
            strips.read(grid[-1][1])    # a row with no tile to run
        with pytest.raises(InvalidInputError, match="outside"):
            strips.read(grid[0][0])     # a skipped tile left of its row's strip
