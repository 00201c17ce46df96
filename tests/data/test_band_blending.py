"""Row-band blending (biomedai.data.band_blending) against the in-memory engine, seams, and the pyramid writer."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from biomedai.data.band_blending import blend_in_bands, tile_rows
from biomedai.data.tiling import predict_tiled
from biomedai.errors import InvalidInputError
from biomedai.io.limits import read_limits
from biomedai.io.wsi import open_wsi, write_pyramidal_tiff, write_pyramidal_tiff_bands


def _runner(img: np.ndarray, fn):
    return lambda tiles: np.moveaxis(fn(np.stack([np.moveaxis(img[t.slices], -1, 0) for t in tiles])), 1, -1)


@pytest.mark.parametrize("blend", ["linear", "gaussian", "constant"])
@pytest.mark.parametrize("band", [7, 32, 500])
def test_bands_equal_the_in_memory_blend(blend: str, band: int) -> None:
    img = np.random.default_rng(0).random((203, 150, 2)).astype(np.float32)
    fn = lambda b: np.tanh(3 * b) + 0.1 * b[:, ::-1]  # noqa: E731 - a tile function that is not the identity
    ref = predict_tiled(img, fn, tile=48, overlap=12, blend=blend, channel_axis=-1, framework="numpy", progress=False)
    bands = list(blend_in_bands((203, 150), 2, _runner(img, fn), tile=48, overlap=12, band=band, blend=blend))
    assert [y for y, _ in bands] == list(range(0, 203, band))
    assert all(b.shape[0] == min(band, 203 - y) for y, b in bands)
    np.testing.assert_allclose(np.concatenate([b for _, b in bands]), ref, atol=1e-6)


def test_a_constant_image_stays_constant_across_tile_borders_and_skipped_tiles() -> None:
    img = np.full((130, 170, 3), 0.25, np.float32)
    skip = lambda t: t.origin[1] == 0  # noqa: E731 - the left column of tiles is not run, filled with the same value
    out = np.concatenate([b for _, b in blend_in_bands((130, 170), 3, _runner(img, lambda b: b), tile=40, overlap=10,
                                                       band=16, skip=skip, fill=0.25)])
    assert np.abs(out - 0.25).max() < 1e-6


def test_only_tile_plus_band_rows_are_held() -> None:
    """The buffers are checked against the read limits: a limit below the image but above the band passes."""
    height, width = 2000, 300
    img = np.zeros((height, width, 1), np.float32)
    run = _runner(img, lambda b: b)
    with read_limits(max_pixels=(32 + 16) * width * 2):
        n = sum(1 for _ in blend_in_bands((height, width), 1, run, tile=32, overlap=8, band=16))
    assert n == height // 16
    with read_limits(max_pixels=(32 + 16) * width), pytest.raises(InvalidInputError, match="blending band"):
        next(blend_in_bands((height, width), 1, run, tile=32, overlap=8, band=16))


def test_refuses_an_image_smaller_than_a_tile_and_a_wrong_prediction_shape() -> None:
    with pytest.raises(InvalidInputError, match="smaller than one 64"):
        next(blend_in_bands((50, 100), 1, lambda t: None, tile=64, overlap=8, band=16, source="x.tif"))
    with pytest.raises(InvalidInputError, match="run returned shape"):
        next(blend_in_bands((64, 64), 1, lambda t: np.zeros((len(t), 8, 8, 1)), tile=64, overlap=8, band=16))


def test_tile_rows_group_the_grid() -> None:
    rows = tile_rows((100, 70), 40, 10)
    assert [r[0].origin[0] for r in rows] == [0, 30, 60] and all(len(r) == 2 for r in rows)


def test_the_band_writer_matches_the_whole_array_writer(tmp_path: Path) -> None:
    a = np.random.default_rng(1).integers(0, 255, (333, 290, 3), dtype=np.uint8)
    whole = write_pyramidal_tiff(a, tmp_path / "whole.tif", mpp=0.25, tile=64)
    banded = write_pyramidal_tiff_bands((a[y:y + 64] for y in range(0, 333, 64)), a.shape, tmp_path / "bands.tif",
                                        mpp=None, tile=64)
    with open_wsi(whole) as w, open_wsi(banded) as b:
        assert w.level_dimensions == b.level_dimensions and b.level_count == 4 and b.mpp is None
        for level, (lw, lh) in enumerate(b.level_dimensions):
            ds = b.level_downsamples[level]
            assert (w.read_region((0, 0), level, (lw, lh)) == b.read_region((0, 0), level, (lw, lh))).all(), ds
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".pyramid-")]  # scratch maps removed


def test_the_band_writer_refuses_a_wrong_band_and_leaves_no_file(tmp_path: Path) -> None:
    bands = iter([np.zeros((64, 100, 3), np.uint8), np.zeros((10, 90, 3), np.uint8)])
    with pytest.raises(InvalidInputError, match="band at row 64"):
        write_pyramidal_tiff_bands(bands, (128, 100, 3), tmp_path / "bad.tif", mpp=0.5, tile=64)
    assert not (tmp_path / "bad.tif").exists()
