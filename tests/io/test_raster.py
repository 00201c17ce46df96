"""PNG/JPEG/GIF/TIFF readers and writers on scikit-image's bundled files and synthetic known answers."""
from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from biomedai.errors import InvalidInputError
from biomedai.io import Image, read_image, write_image
from biomedai.io.raster import read_pil, read_tiff, write_tiff
from tests.io.helpers import skimage_file


@pytest.mark.parametrize("name,shape,channels", [("camera.png", (512, 512), None), ("ihc.png", (512, 512, 3), -1),
                                                 ("retina.jpg", (1411, 1411, 3), -1)])
def test_skimage_bundled_images_match_pillow(name, shape, channels):
    path = skimage_file(name)
    img = read_image(path)
    assert img.shape == shape and img.channel_axis == channels and img.array.dtype == np.uint8
    np.testing.assert_array_equal(img.array, np.asarray(PILImage.open(path)))
    assert img.spacing_unit == "pixel"  # the 72/96 dpi of pictures is not a pixel size


def test_rgba_alpha_dropped_or_kept():
    path = skimage_file("logo.png")
    rgba = np.asarray(PILImage.open(path))
    dropped = read_image(path)
    assert dropped.shape == rgba.shape[:2] + (3,) and dropped.metadata["had_alpha"]
    np.testing.assert_array_equal(dropped.array, rgba[..., :3])
    kept = read_image(path, alpha="keep")
    np.testing.assert_array_equal(kept.array, rgba)


def test_multipage_tiff_becomes_stack():
    path = skimage_file("multipage.tif")
    img = read_image(path)
    np.testing.assert_array_equal(img.array, tifffile.imread(path))
    assert img.shape == (2, 15, 10) and img.spacing_unit == "pixel"  # INCH resolution is ignored


def test_planar_rgb_tiff_channels_last():
    path = skimage_file("multipage_rgb.tif")
    img = read_image(path)
    raw = tifffile.imread(path)  # Q, S, Y, X
    assert img.shape == (2, 10, 10, 3) and img.channel_axis == -1
    np.testing.assert_array_equal(img.array, np.moveaxis(raw, 1, -1))


def test_animated_gif_stack_and_first_frame():
    path = skimage_file("no_time_for_that_tiny.gif")
    assert read_image(path).shape[0] == PILImage.open(path).n_frames
    assert read_image(path, frames="first").ndim_spatial == 2


def test_png_16bit_round_trip(tmp_path):
    array = (np.arange(60 * 70, dtype=np.uint32).reshape(60, 70) * 15).astype(np.uint16)
    write_image(array, tmp_path / "a.png")
    back = read_image(tmp_path / "a.png")
    assert back.array.dtype == np.uint16 and back.array.max() > 255
    np.testing.assert_array_equal(back.array, array)
    np.testing.assert_array_equal(np.asarray(PILImage.open(tmp_path / "a.png")), array)


def test_png_labels_bool_and_rgb_round_trip(tmp_path):
    labels = np.zeros((20, 30), np.int32)
    labels[3:9, 4:12] = 300
    write_image(labels, tmp_path / "labels.png")
    np.testing.assert_array_equal(read_image(tmp_path / "labels.png").array, labels)
    mask = labels > 0
    write_image(mask, tmp_path / "mask.png")
    np.testing.assert_array_equal(read_image(tmp_path / "mask.png").array, mask)
    rgb = np.random.default_rng(0).integers(0, 256, (8, 9, 3), dtype=np.uint8)
    write_image(Image(rgb, channel_axis=-1), tmp_path / "rgb.png")
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.png").array, rgb)


def test_palette_png_index_or_rgb(tmp_path):
    index = np.array([[0, 1], [2, 1]], np.uint8)
    pil = PILImage.fromarray(index, mode="P")
    pil.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    pil.save(tmp_path / "p.png")
    np.testing.assert_array_equal(read_image(tmp_path / "p.png", palette="index").array, index)
    rgb = read_image(tmp_path / "p.png").array
    assert rgb.shape == (2, 2, 3) and rgb[0, 1].tolist() == [255, 0, 0] and rgb[1, 0].tolist() == [0, 255, 0]


def test_jpeg_exif_orientation_applied(tmp_path):
    array = np.zeros((40, 60, 3), np.uint8)
    array[:10, :10] = 255  # bright top-left corner
    exif = PILImage.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    PILImage.fromarray(array).save(tmp_path / "o.jpg", exif=exif, quality=100)
    img = read_image(tmp_path / "o.jpg")
    assert img.shape == (60, 40, 3) and img.metadata["exif_orientation_applied"] == 6
    assert img.array[:10, -10:].mean() > 200  # the corner moved to the top right


def test_tiff_16bit_stack_with_geometry_round_trip(tmp_path):
    volume = np.random.default_rng(0).integers(0, 65535, (3, 16, 20), dtype=np.uint16)
    image = Image(volume, spacing=(2.0, 0.5, 0.25), origin=(1.0, 2.0, 3.0), spacing_unit="um")
    write_image(image, tmp_path / "v.tif")
    back = read_image(tmp_path / "v.tif")
    np.testing.assert_array_equal(back.array, volume)
    assert back.spacing == (2.0, 0.5, 0.25) and back.origin == (1.0, 2.0, 3.0) and back.spacing_unit == "um"
    with tifffile.TiffFile(tmp_path / "v.tif") as tif:  # other software sees the pixel size too
        xres = tif.pages[0].tags["XResolution"].value
        assert 1e4 / (xres[0] / xres[1]) == pytest.approx(0.25)


def test_tiff_multichannel_float_and_bool_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    multichannel = Image(rng.random((12, 14, 5)).astype(np.float32), channel_axis=-1)
    write_tiff(multichannel, tmp_path / "c.tif")
    np.testing.assert_array_equal(read_tiff(tmp_path / "c.tif").array, multichannel.array)
    mask = rng.random((10, 11)) > 0.5
    write_tiff(mask, tmp_path / "m.tiff")
    back = read_tiff(tmp_path / "m.tiff")
    assert back.array.dtype == bool and np.array_equal(back.array, mask)


def test_foreign_tiff_metric_resolution_read(tmp_path):
    tifffile.imwrite(tmp_path / "f.tif", np.zeros((8, 8), np.uint8), resolution=(1e4 / 0.4, 1e4 / 0.4),
                     resolutionunit="CENTIMETER", metadata=None)
    img = read_tiff(tmp_path / "f.tif")
    assert img.spacing == pytest.approx((0.4, 0.4)) and img.spacing_unit == "um"


@pytest.mark.parametrize("bad,match", [(np.zeros((0, 4)), "empty"), (np.full((4, 4), np.nan), "no finite"),
                                       (np.zeros((4, 4), np.float32), "8/16-bit"),
                                       (np.zeros((2, 4, 4), np.uint8), "2D plane")])
def test_png_writer_refuses_what_png_cannot_hold(tmp_path, bad, match):
    with pytest.raises(InvalidInputError, match=match):
        write_image(bad, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("name", ["camera.png", "retina.jpg", "multipage.tif"])
def test_corrupt_variants_rejected_naming_file(make_corrupt, name):
    for kind, path in make_corrupt(skimage_file(name)).items():
        with pytest.raises(InvalidInputError) as info:
            read_image(path)
        assert path.name in str(info.value), kind


def test_text_file_named_png_rejected(tmp_path):
    (tmp_path / "notes.png").write_text("just some text, not an image\n" * 10)
    with pytest.raises(InvalidInputError, match="not a PNG file"):
        read_image(tmp_path / "notes.png")
    with pytest.raises(InvalidInputError, match="not a readable image"):
        read_pil(tmp_path / "notes.png")
