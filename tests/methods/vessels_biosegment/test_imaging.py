"""Input handling: any bit depth, Z-stacks, alpha, pixel size, FOV masks, and the bad inputs of issue 19."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image as PILImage

from biomedai.errors import InvalidInputError
from biomedai.methods.vessels_biosegment.imaging import load_vessel_image, network_input


def _vessel_plane(h: int = 64, w: int = 80) -> np.ndarray:
    a = np.full((h, w), 30, np.uint8)
    a[30:34, :] = 200
    return a


def test_rgba_png_drops_alpha_and_says_so(tmp_path):
    rgb = np.stack([_vessel_plane()] * 3 + [np.full((64, 80), 255, np.uint8)], axis=-1)
    path = tmp_path / "rgba.png"
    PILImage.fromarray(rgb, "RGBA").save(path)
    img = load_vessel_image(path)
    assert img.plane.shape == (64, 80)
    assert any("alpha" in n for n in img.notes)
    assert img.plane[31, 5] > img.plane[5, 5]


def test_16bit_zstack_is_max_projected_and_scaled(tmp_path):
    import tifffile

    stack = np.zeros((5, 64, 80), np.uint16)
    stack[2, 30:34, :] = 4000  # a 12-bit camera: scaled by the data's maximum, not 65535
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, stack)
    img = load_vessel_image(path)
    assert img.n_slices == 5 and img.plane.shape == (64, 80)
    assert img.plane.max() == pytest.approx(1.0) and img.plane[0, 0] == 0
    assert any("projection" in n for n in img.notes)


def test_all_black_image_is_refused_with_the_file_name(tmp_path):
    path = tmp_path / "black.png"
    PILImage.fromarray(np.zeros((32, 32), np.uint8)).save(path)
    with pytest.raises(InvalidInputError, match="black.png.*constant"):
        load_vessel_image(path)


def test_mask_of_another_size_is_refused(tmp_path):
    path, mask = tmp_path / "img.png", tmp_path / "mask.png"
    PILImage.fromarray(_vessel_plane()).save(path)
    PILImage.fromarray(np.full((60, 80), 255, np.uint8)).save(mask)
    with pytest.raises(InvalidInputError, match="mask.png.*80x60.*80x64"):
        load_vessel_image(path, fov_mask=mask)


def test_missing_pixel_size_falls_back_to_pixels_and_the_option_wins(tmp_path):
    path = tmp_path / "img.png"
    PILImage.fromarray(_vessel_plane()).save(path)
    img = load_vessel_image(path)
    assert img.pixel_size_um is None and img.density_unit == "px/px^2"
    assert any("no pixel size" in n for n in img.notes)
    img = load_vessel_image(path, pixel_size_um=0.65)
    assert img.pixel_size_um == 0.65 and img.density_unit == "mm/mm^2" and img.pixel_size_source == "--pixel-size-um"


def test_network_input_makes_dark_vessels_bright():
    plane = 1.0 - _vessel_plane().astype(np.float32) / 255
    x = network_input(plane, vessels_dark=True, clahe=False)
    assert x[31, 10] > 0.9 and x[5, 10] < 0.1
