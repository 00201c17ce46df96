"""The 8-class palette: colour <-> index round trip, fractions, and masks with colours outside the palette."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.io import read_image, write_image
from biomedai.io.image import Image
from biomedai.methods.capsule_mtcsn.palette import (PALETTE, TISSUE_CLASSES, class_fractions, index_to_rgb,
                                                    mask_to_index, rgb_to_index)


def test_palette_round_trip_through_png(tmp_path) -> None:
    rng = np.random.default_rng(0)
    index = rng.integers(0, len(TISSUE_CLASSES), (17, 23)).astype(np.uint8)
    path = write_image(Image(index_to_rgb(index), channel_axis=-1), tmp_path / "mask.png")
    back = mask_to_index(read_image(path).array, path)
    assert np.array_equal(back, index)
    assert len(np.unique(PALETTE, axis=0)) == len(TISSUE_CLASSES) == 8


def test_out_of_palette_colour_is_named(tmp_path) -> None:
    rgb = index_to_rgb(np.ones((4, 4), np.uint8))
    rgb[0, 0] = (1, 2, 3)
    with pytest.raises(InvalidInputError, match=r"outside the 8-class palette \(1 pixels\).*\(1, 2, 3\)"):
        rgb_to_index(rgb, tmp_path / "m.png")
    with pytest.raises(InvalidInputError, match="not classes"):
        mask_to_index(np.full((3, 3), 9, np.uint8))
    assert mask_to_index(np.full((3, 3), 255, np.uint8)).max() == 255     # ignore value kept


def test_class_fractions() -> None:
    index = np.zeros((10, 10), np.uint8)
    index[:5] = 1
    index[5:7] = 3
    index[9] = 6
    f = class_fractions(index)
    assert f == pytest.approx({"tissue": 0.7, "lesion": 0.2, "bubble": 0.0, "excreta": 0.1})
