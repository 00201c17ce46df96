"""Choosing the slide level by microns per pixel (``level_for_mpp``) and reading through ``ResampledSlide``."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.data.tiling import predict_wsi_map
from biomedai.errors import InvalidInputError, WeightsError
from biomedai.io.wsi import ResampledSlide, level_for_mpp, open_wsi, write_pyramidal_tiff, write_pyramidal_tiff_bands
from biomedai.train.model_folder import ModelInfo


def _smooth(size: int = 1024) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    return np.stack([xx // 4, yy // 4, (xx + yy) // 8], axis=-1).astype(np.uint8)


@pytest.fixture(scope="module")
def slides(tmp_path_factory):
    """The same 1024 px picture saved as pyramids (levels 1, 1/2, 1/4) at 0.25, 0.5 and 1.0 um/px, one without
    a pyramid at 0.25 um/px and one without microns per pixel."""
    folder = tmp_path_factory.mktemp("mpp")
    array = _smooth()
    paths = {mpp: write_pyramidal_tiff(array, folder / f"s{mpp}.tif", mpp=mpp, tile=256, levels=3)
             for mpp in (0.25, 0.5, 1.0, 0.2525)}
    paths["flat"] = write_pyramidal_tiff(array, folder / "flat.tif", mpp=0.25, tile=256, levels=1)
    paths["none"] = write_pyramidal_tiff_bands((array[y:y + 256] for y in range(0, 1024, 256)), array.shape,
                                               folder / "none.tif", mpp=None, tile=256, levels=3)
    return paths, array


@pytest.mark.parametrize("slide_mpp, level, zoom, size, warned", [
    (0.25, 1, 1.0, 512, False),     # 40x slide, 20x model: level 1 as it is
    (0.5, 0, 1.0, 1024, False),     # the model's own resolution: level 0
    (1.0, 0, 2.0, 2048, True),      # coarser than the model: level 0 enlarged, with a warning
    (0.2525, 1, 1.0, 512, False),   # 1 % off the target counts as the target
])
def test_level_chosen_for_a_0_5_um_model(slides, slide_mpp, level, zoom, size, warned):
    paths, _ = slides
    with open_wsi(paths[slide_mpp]) as slide:
        choice = level_for_mpp(slide, 0.5)
    assert (choice.level, choice.zoom, choice.width, choice.height) == (level, zoom, size, size)
    assert choice.how == "mpp" and (choice.warning is not None) == warned
    assert choice.mpp == pytest.approx(0.5, rel=0.02)
    assert choice.downsample == pytest.approx(0.5 / slide_mpp, rel=0.02)


def test_level_chosen_for_a_1_0_um_model_and_a_0_25_um_model(slides):
    paths, _ = slides
    with open_wsi(paths[0.25]) as slide:
        assert level_for_mpp(slide, 1.0).level == 2
        assert (level_for_mpp(slide, 0.25).level, level_for_mpp(slide, 0.25).zoom) == (0, 1.0)
        between = level_for_mpp(slide, 0.7)  # not a level: the finer one (0.5 um), shrunk
        assert between.level == 1 and between.zoom == pytest.approx(0.5 / 0.7)


def test_a_slide_without_a_pyramid_is_resampled(slides):
    paths, array = slides
    with open_wsi(paths["flat"]) as slide:
        choice = level_for_mpp(slide, 0.5)
        assert (choice.level, choice.zoom, choice.width, choice.height) == (0, 0.5, 512, 512)
        view = ResampledSlide(slide, choice)
        assert view.level_dimensions == ((512, 512),) and view.level_downsamples == (2.0,)
        region = view.read_region((256, 128), 0, (100, 60)).astype(float)
    expected = array[128:248, 256:456].reshape(60, 2, 100, 2, 3).mean(axis=(1, 3))  # 2 x 2 means
    assert region.shape == (60, 100, 3)
    assert np.abs(region - expected).mean() < 1.0


def test_tiled_map_runs_at_the_chosen_resolution(slides):
    paths, _ = slides
    with open_wsi(paths["flat"]) as slide:
        view = ResampledSlide(slide, level_for_mpp(slide, 0.5))
        values, info = predict_wsi_map(view, 0, lambda r: r.mean(axis=-1)[None, ::32, ::32], 64, 32, 256, 1)
    assert info["level_size"] == [512, 512] and values.shape == (1, 15, 15)


def test_fallbacks_without_microns_per_pixel(slides):
    paths, _ = slides
    with open_wsi(paths["none"]) as slide:
        choice = level_for_mpp(slide, 0.5)
        assert (choice.level, choice.zoom, choice.how) == (0, 1.0, "fallback")
        assert "states no microns per pixel" in choice.warning and choice.mpp is None
        assert level_for_mpp(slide, 0.5, fallback_level=1).level == 1
    with open_wsi(paths[0.25]) as slide:
        unstated = level_for_mpp(slide, None)  # a model that states none: level 0, a note but no warning
        assert (unstated.level, unstated.how, unstated.warning) == (0, "fallback", None)
        assert "model states no microns per pixel" in unstated.note


def test_an_explicit_level_is_read_as_it_is(slides):
    paths, _ = slides
    with open_wsi(paths[0.25]) as slide:
        choice = level_for_mpp(slide, 0.5, level=2)
        assert (choice.level, choice.zoom, choice.how, choice.width) == (2, 1.0, "configured", 256)
        assert choice.to_dict()["mpp"] == 1.0
        with pytest.raises(InvalidInputError, match="wsi_level 7 does not exist"):
            level_for_mpp(slide, 0.5, level=7, setting="wsi_level")
        with pytest.raises(InvalidInputError, match="positive"):
            level_for_mpp(slide, -1.0)
        with pytest.raises(InvalidInputError, match="one level"):
            ResampledSlide(slide, level_for_mpp(slide, 0.5)).read_region((0, 0), 1, (8, 8))


def test_model_info_training_mpp():
    assert ModelInfo("m", preprocessing={"mpp": "0.25"}).training_mpp == 0.25
    for bad in ("fast", -0.5, 0):
        with pytest.raises(WeightsError, match="preprocessing.mpp"):
            _ = ModelInfo("m", preprocessing={"mpp": bad}).training_mpp
