"""Whole-slide reading on a small pyramidal TIFF written by the test."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.errors import InvalidInputError, UnsupportedFormatError
from biomedai.io import describe_file, read_image
from biomedai.io.wsi import open_wsi, write_pyramidal_tiff


@pytest.fixture(scope="module")
def slide(tmp_path_factory):
    """1024 x 1536 RGB slide at 0.25 um/px: smooth gradients plus a bright square at x 512..767, y 256..511."""
    yy, xx = np.mgrid[0:1024, 0:1536]
    array = np.stack([(xx // 6) % 256, (yy // 4) % 256, ((xx + yy) // 10) % 256], axis=-1).astype(np.uint8)
    array[256:512, 512:768] = 250
    path = tmp_path_factory.mktemp("wsi") / "slide.tif"
    write_pyramidal_tiff(array, path, mpp=0.25, tile=256)
    return path, array


def test_levels_and_mpp(slide):
    path, array = slide
    with open_wsi(path) as wsi:
        assert wsi.backend == "tiffslide"
        assert wsi.level_count == 4  # 1536 -> 768 -> 384 -> 192 (fits one 256 tile)
        assert wsi.dimensions == (1536, 1024)
        assert wsi.level_dimensions[1] == (768, 512)
        assert wsi.level_downsamples == pytest.approx((1.0, 2.0, 4.0, 8.0))
        assert wsi.mpp == pytest.approx((0.25, 0.25))


def test_read_region_matches_array(slide):
    path, array = slide
    with open_wsi(path) as wsi:
        region = wsi.read_region((700, 300), 0, (100, 50))
        assert region.shape == (50, 100, 3) and region.dtype == np.uint8
        np.testing.assert_array_equal(region, array[300:350, 700:800])
        outside = wsi.read_region((1500, 1000), 0, (100, 50))  # padded past the edge
        assert outside.shape == (50, 100, 3) and outside[-1, -1].sum() == 0


def test_read_rect_at_mpp_uses_the_right_level(slide):
    path, array = slide
    with open_wsi(path) as wsi:
        # 1.0 um/px = downsample 4 = level 2 exactly: equals the area-averaged pyramid
        rect = wsi.read_rect((512, 256), (64, 64), resolution=1.0, units="mpp")
        assert rect.shape == (64, 64, 3)
        assert np.abs(rect[:, :].astype(int) - 250).max() <= 1  # the bright square, 256 px at level 0
        level2 = wsi.read_region((0, 0), 2, wsi.level_dimensions[2])
        np.testing.assert_array_equal(rect, level2[64:128, 128:192])
        # 0.75 um/px (downsample 3): read from level 1 and resized; compare with a numpy block mean
        rect = wsi.read_rect((0, 0), (120, 90), resolution=0.75, units="mpp")
        assert rect.shape == (90, 120, 3)
        expected = array[:270, :360].reshape(90, 3, 120, 3, 3).mean(axis=(1, 3))
        assert np.abs(rect.astype(float) - expected)[5:-5, 5:-5].mean() < 6
        baseline = wsi.read_rect((10, 20), (30, 40), units="baseline")
        np.testing.assert_array_equal(baseline, array[20:60, 10:40])
        by_level = wsi.read_rect((0, 0), (16, 16), resolution=3, units="level")
        np.testing.assert_array_equal(by_level, wsi.read_region((0, 0), 3, (16, 16)))


def test_thumbnail_and_to_image(slide):
    path, _ = slide
    with open_wsi(path) as wsi:
        thumb = wsi.thumbnail(300)
        assert max(thumb.shape[:2]) == 300 and thumb.shape[1] / thumb.shape[0] == pytest.approx(1.5, rel=0.01)
        image = wsi.to_image(level=2)
        assert image.shape == (256, 384, 3) and image.spacing == pytest.approx((1.0, 1.0))
        assert image.spacing_unit == "um" and image.metadata["level"] == 2
        with pytest.raises(InvalidInputError, match="max_pixels"):
            wsi.to_image(level=0, max_pixels=1000)


def test_read_image_and_describe_file_on_pyramid(slide):
    path, array = slide
    image = read_image(path)  # level 0 of a small pyramid through tifffile
    np.testing.assert_array_equal(image.array, array)
    assert image.spacing == pytest.approx((0.25, 0.25)) and image.spacing_unit == "um"
    assert read_image(path, level=1).spacing == pytest.approx((0.5, 0.5))
    facts = describe_file(path)
    assert facts["format"] == "wsi" and facts["level_count"] == 4 and facts["shape"] == [1024, 1536, 3]
    assert facts["mpp"] == pytest.approx([0.25, 0.25])


def test_bad_requests_and_files(slide, tmp_path, make_corrupt):
    path, _ = slide
    with open_wsi(path) as wsi:
        with pytest.raises(InvalidInputError, match="level 9"):
            wsi.read_region((0, 0), 9, (10, 10))
        with pytest.raises(InvalidInputError, match="units"):
            wsi.read_rect((0, 0), (10, 10), 1.0, units="inch")
    with pytest.raises(InvalidInputError, match="backend"):
        open_wsi(path, backend="bioformats")
    try:
        import openslide  # noqa: F401
    except Exception:  # noqa: BLE001
        with pytest.raises(UnsupportedFormatError, match="openslide"):
            open_wsi(path, backend="openslide")
    no_mpp = tmp_path / "no_mpp.tif"
    import tifffile

    tifffile.imwrite(no_mpp, np.zeros((64, 64, 3), np.uint8), photometric="rgb", metadata=None)
    with open_wsi(no_mpp) as wsi:
        assert wsi.mpp is None
        with pytest.raises(InvalidInputError, match="microns-per-pixel"):
            wsi.read_rect((0, 0), (8, 8), 0.5, units="mpp")
    for kind, bad in make_corrupt(path).items():
        with pytest.raises(InvalidInputError) as info:
            open_wsi(bad).read_region((0, 0), 0, (512, 512))
        assert bad.name in str(info.value), kind


def test_write_pyramidal_tiff_validates(tmp_path):
    with pytest.raises(InvalidInputError, match="uint8"):
        write_pyramidal_tiff(np.zeros((64, 64, 3), np.float32), tmp_path / "a.tif", mpp=0.5)
    with pytest.raises(InvalidInputError, match="mpp"):
        write_pyramidal_tiff(np.zeros((64, 64, 3), np.uint8), tmp_path / "a.tif", mpp=0)
    grey = write_pyramidal_tiff(np.full((300, 200), 7, np.uint8), tmp_path / "g.tif", mpp=(0.5, 0.5), tile=128)
    with open_wsi(grey) as wsi:
        region = wsi.read_region((0, 0), 1, (20, 20))
        assert region.shape == (20, 20, 3) and (region == 7).all()
