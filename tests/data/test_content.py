"""Cheap looks at whole slides (:func:`biomedai.data.content.look_at_slide`): a thumbnail, or sampled windows."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from biomedai.data.content import SLIDE_LOOK_GRID, look_at_slide
from biomedai.errors import InvalidInputError
from biomedai.io.wsi import write_pyramidal_tiff


def _half_tissue(shape: tuple[int, int]) -> np.ndarray:
    img = np.full((*shape, 3), 235, np.uint8)
    img[:, : shape[1] // 2] = (150, 80, 160)  # tissue on the left half
    return img


def test_a_pyramid_gives_a_thumbnail(tmp_path: Path) -> None:
    path = write_pyramidal_tiff(_half_tissue((512, 1024)), tmp_path / "s.tif", mpp=0.5)
    look = look_at_slide(path, size=128)
    assert look.rgb and look.shape == (512, 1024) and not look.metadata["sampled"]
    assert look.pixels.shape == (64, 128, 3) and look.metadata["level_dimensions"][0] == (1024, 512)
    grey = look.grey()
    assert grey[:, :60].mean() < 0.6 < 0.8 < grey[:, 68:].mean()  # tissue left, glass right


def test_a_large_level_is_sampled_not_decoded_whole(tmp_path: Path) -> None:
    import tifffile

    img = _half_tissue((1024, 1024))
    path = tmp_path / "flat.tif"
    tifffile.imwrite(path, img, tile=(64, 64), photometric="rgb")  # one level, no pyramid
    look = look_at_slide(path, size=128, max_read_pixels=100_000)
    side = 128 // SLIDE_LOOK_GRID
    assert look.metadata["sampled"] and look.pixels.shape == (SLIDE_LOOK_GRID * side,) * 2 + (3,)
    half = SLIDE_LOOK_GRID * side // 2
    assert (look.grey()[:, :half] < 0.6).all() and (look.grey()[:, half:] > 0.8).all()
    assert not look_at_slide(path, size=128).metadata["sampled"]  # within the default budget: a thumbnail


def test_not_a_slide_raises_a_project_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.svs"
    junk.write_bytes(b"not a slide")
    with pytest.raises(InvalidInputError):
        look_at_slide(junk)
