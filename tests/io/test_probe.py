"""probe_raster reads headers only and agrees with read_image on size, channels and dtype."""
from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from biomedai.errors import InvalidInputError
from biomedai.io import probe_raster, read_image
from biomedai.io.wsi import write_pyramidal_tiff


@pytest.mark.parametrize("suffix, array", [
    (".png", np.zeros((5, 7), np.uint8)),
    (".png", np.zeros((5, 7), np.uint16)),
    (".png", np.zeros((5, 7, 4), np.uint8)),
    (".jpg", np.zeros((9, 4, 3), np.uint8)),
    (".tif", np.zeros((6, 8), np.uint16)),
    (".tif", np.zeros((6, 8, 3), np.uint8)),
    (".tif", np.zeros((6, 8), np.float32)),
])
def test_probe_agrees_with_reader(tmp_path, suffix, array):
    path = tmp_path / f"a{suffix}"
    if suffix == ".tif":
        tifffile.imwrite(path, array)
    else:
        PILImage.fromarray(array).save(path)
    info = probe_raster(path)
    image = read_image(path)
    assert (info.height, info.width) == image.array.shape[:2]
    assert info.channels == (1 if image.channel_axis is None else image.array.shape[-1])
    assert info.dtype == str(image.array.dtype)


def test_probe_pyramid_levels_without_reading_pixels(tmp_path):
    path = write_pyramidal_tiff(np.zeros((1024, 1536, 3), np.uint8), tmp_path / "slide.tif", mpp=0.5)
    info = probe_raster(path)
    assert (info.width, info.height, info.channels) == (1536, 1024, 3)
    assert info.levels > 1


def test_probe_refuses_non_raster_and_broken_header(tmp_path):
    table = tmp_path / "a.csv"
    table.write_text("x,y\n1,2\n")
    with pytest.raises(InvalidInputError, match="a.csv.*not a raster"):
        probe_raster(table)
    bad = tmp_path / "b.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 10)
    with pytest.raises(InvalidInputError, match="b.png"):
        probe_raster(bad)
