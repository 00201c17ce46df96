"""Tiling: grids cover everything, identity round-trips, and MONAI's sliding window agrees."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data.utils import compute_importance_map, dense_patch_slices
from monai.inferers import sliding_window_inference

from biomedai.data.tiling import (
    TileAccumulator,
    blend_tiles,
    gaussian_weights,
    iter_tiles,
    iter_wsi_tiles,
    predict_tiled,
    tile_grid,
)
from biomedai.errors import InvalidInputError

# float32 blending of identical values: (w1 x + w2 x) / (w1 + w2) is x to a few ulps
IDENTITY_RTOL = 1e-6
# same grid and weights as MONAI, summation order may differ: agreement to float32 rounding
MONAI_ATOL = 1e-5


@pytest.mark.parametrize("shape,tile,overlap", [
    ((37, 53), 16, 5), ((64, 64), 32, 0), ((10, 7), (4, 7), 1), ((9, 21, 22), (4, 8, 8), (1, 3, 2)),
    ((5, 5), 8, 2),
])
def test_tile_grid_covers_and_snaps(shape, tile, overlap) -> None:
    grid = tile_grid(shape, tile, overlap)
    count = np.zeros(shape, dtype=int)
    for t in grid:
        assert all(0 <= o and o + s <= n for o, s, n in zip(t.origin, t.size, shape))
        count[t.slices] += 1
    assert count.min() >= 1
    tiles = np.broadcast_to(tile, (len(shape),))
    assert all(t.size == tuple(min(a, b) for a, b in zip(tiles, shape)) for t in grid)
    for axis, n in enumerate(shape):  # last tile ends exactly at the edge
        assert max(t.origin[axis] + t.size[axis] for t in grid) == n


@pytest.mark.parametrize("shape,roi,overlap", [((77, 93), (32, 32), 0.25), ((40, 41, 39), (16, 16, 16), 0.5),
                                               ((100, 64), (30, 20), 0.1)])
def test_tile_grid_matches_monai(shape, roi, overlap) -> None:
    interval = tuple(max(int(r * (1 - overlap)), 1) for r in roi)
    ref = sorted(tuple(s.start for s in sl) for sl in dense_patch_slices(shape, roi, interval))
    ours = sorted(t.origin for t in tile_grid(shape, roi, overlap))
    assert ours == ref


def test_gaussian_weights_match_monai() -> None:
    for size in [(32, 32), (16, 20, 24), (7, 9)]:
        ref = compute_importance_map(size, mode="gaussian", sigma_scale=0.125).numpy()
        np.testing.assert_allclose(gaussian_weights(size), ref, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("blend", ["constant", "gaussian"])
@pytest.mark.parametrize("shape,tile,overlap,channel_axis", [
    ((101, 67), 32, 9, None),
    ((45, 50), (16, 24), 0.5, None),
    ((33, 29, 3), 16, 7, -1),
    ((2, 31, 40), 12, (3, 5), 0),
    ((13, 27, 31), 8, 3, None),
    ((11, 12, 13, 2), (8, 8, 8), 0.25, -1),
    ((7, 9), 16, 4, None),  # smaller than one tile: padded then cropped
])
def test_predict_tiled_identity_reproduces_input(blend, shape, tile, overlap, channel_axis) -> None:
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    out = predict_tiled(x, lambda b: b, tile=tile, overlap=overlap, batch_size=3, blend=blend,
                        channel_axis=channel_axis, progress=False)
    assert out.shape == x.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, x, rtol=IDENTITY_RTOL, atol=1e-7)


def test_predict_tiled_identity_is_exact_for_integer_images() -> None:
    x = np.random.default_rng(1).integers(0, 256, size=(57, 61, 3), dtype=np.uint8)
    out = predict_tiled(x, lambda b: b, tile=20, overlap=7, channel_axis=-1, progress=False)
    assert np.array_equal(np.rint(out).astype(np.uint8), x)


def test_predict_tiled_channel_changes_and_bad_output() -> None:
    x = np.random.default_rng(2).random((30, 40)).astype(np.float32)
    out = predict_tiled(x, lambda b: np.concatenate([b, -2 * b], axis=1), tile=16, overlap=4, progress=False)
    assert out.shape == (2, 30, 40)
    np.testing.assert_allclose(out[1], -2 * x, rtol=1e-5)
    squeezed = predict_tiled(x, lambda b: b[:, 0] + 1, tile=16, overlap=4, progress=False)
    np.testing.assert_allclose(squeezed, x + 1, rtol=1e-6)
    with pytest.raises(InvalidInputError, match="fn returned shape"):
        predict_tiled(x, lambda b: b[..., :4], tile=16, progress=False)
    with pytest.raises(InvalidInputError):
        predict_tiled(x, lambda b: b, tile=16, blend="median", progress=False)


def _conv_model(spatial_dims: int) -> torch.nn.Module:
    conv = torch.nn.Conv2d if spatial_dims == 2 else torch.nn.Conv3d
    torch.manual_seed(0)
    return torch.nn.Sequential(conv(2, 4, 3, padding=1), torch.nn.ReLU(), conv(4, 3, 5, padding=2)).eval()


@pytest.mark.parametrize("blend", ["constant", "gaussian"])
@pytest.mark.parametrize("shape,roi,overlap", [((2, 77, 93), (32, 32), 0.25), ((2, 21, 30, 26), (12, 16, 16), 0.5),
                                               ((2, 20, 25), (32, 32), 0.25)])
def test_predict_tiled_agrees_with_monai_sliding_window(blend, shape, roi, overlap) -> None:
    model = _conv_model(len(roi))
    x = np.random.default_rng(3).normal(size=shape).astype(np.float32)
    with torch.no_grad():
        ref = sliding_window_inference(torch.from_numpy(x)[None], roi, 4, model, overlap=overlap, mode=blend)
    ours = predict_tiled(x, model, tile=roi, overlap=overlap, batch_size=4, blend=blend, channel_axis=0,
                         progress=False)
    ref_np = ref[0].numpy()
    assert ours.shape == ref_np.shape == (3,) + shape[1:]
    np.testing.assert_allclose(ours, ref_np, atol=MONAI_ATOL, rtol=0)
    # the conv's zero padding makes tile borders differ: blending must matter, so the test can fail
    naive = predict_tiled(x, model, tile=roi, overlap=0, blend=blend, channel_axis=0, progress=False)
    if shape[1] > roi[0]:
        assert np.abs(naive - ref_np).max() > 1e-3


def test_predict_tiled_torch_function_with_framework_flag() -> None:
    x = np.random.default_rng(4).random((40, 40)).astype(np.float32)
    out = predict_tiled(x, lambda t: torch.sigmoid(t), tile=16, overlap=4, framework="torch", progress=False)
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-x)), rtol=1e-5)


def test_iter_tiles_and_blend_tiles_roundtrip(tmp_path) -> None:
    x = np.random.default_rng(5).random((23, 31, 2)).astype(np.float32)
    views = list(iter_tiles(x, (8, 10), 3, channel_axis=-1))
    assert all(v.base is not None for _, v in views)  # views, not copies
    np.testing.assert_allclose(blend_tiles(views, x.shape[:2], n_channels=2), x, rtol=IDENTITY_RTOL)
    acc = TileAccumulator(x.shape[:2], n_channels=2, blend="constant", memmap_path=tmp_path / "acc.npy")
    for t, v in views:
        acc.add(t, v * 3)
    np.testing.assert_allclose(acc.result(), 3 * x, rtol=1e-6)
    with pytest.raises(RuntimeError):
        acc.add(views[0][0], views[0][1])


def test_accumulator_rejects_wrong_prediction_shape() -> None:
    acc = TileAccumulator((10, 10))
    t = tile_grid((10, 10), 4)[0]
    with pytest.raises(InvalidInputError, match="prediction of shape"):
        acc.add(t, np.zeros((4, 5)))


def test_bad_grid_arguments() -> None:
    with pytest.raises(InvalidInputError):
        tile_grid((10, 10), 0)
    with pytest.raises(InvalidInputError):
        tile_grid((10, 10), 4, 1.5)
    with pytest.raises(InvalidInputError):
        tile_grid((10, 10), (4, 4, 4))
    with pytest.raises(InvalidInputError):
        tile_grid((0, 10), 4)


class ArraySlide:
    """A duck-typed two-level slide (OpenSlide conventions) backed by numpy arrays, RGBA output."""

    def __init__(self, level0: np.ndarray) -> None:
        self.levels = [level0, level0[::2, ::2]]
        self.level_dimensions = [(a.shape[1], a.shape[0]) for a in self.levels]
        self.level_downsamples = [1.0, 2.0]
        self.reads: list[tuple] = []

    def read_region(self, location, level, size):
        self.reads.append((location, level, size))
        ds = self.level_downsamples[level]
        x, y = int(location[0] / ds), int(location[1] / ds)
        w, h = size
        rgb = self.levels[level][y:y + h, x:x + w]
        return np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=-1)


def test_iter_wsi_tiles_reassembles_each_level() -> None:
    level0 = np.random.default_rng(6).integers(0, 256, size=(90, 130, 3), dtype=np.uint8)
    slide = ArraySlide(level0)
    for level in (0, 1):
        target = slide.levels[level]
        rebuilt = np.zeros_like(target)
        tiles = list(iter_wsi_tiles(slide, level=level, tile=32, overlap=4))
        for t, region in tiles:
            assert region.shape == (t.height, t.width, 3)
            assert t.location == (t.x * 2 ** level, t.y * 2 ** level)
            rebuilt[t.slices] = region
        assert np.array_equal(rebuilt, target)


def test_iter_wsi_tiles_skips_background_with_tissue_mask() -> None:
    slide = ArraySlide(np.zeros((128, 128, 3), dtype=np.uint8))
    mask = np.zeros((16, 16), dtype=bool)  # thumbnail-scale mask: tissue in the top-left quarter only
    mask[:8, :8] = True
    tiles = [t for t, _ in iter_wsi_tiles(slide, level=0, tile=32, tissue_mask=mask)]
    assert {(t.x, t.y) for t in tiles} == {(0, 0), (32, 0), (0, 32), (32, 32)}
    assert len(slide.reads) == 4  # background tiles are never read
    with pytest.raises(InvalidInputError, match="level 2"):
        list(iter_wsi_tiles(slide, level=2))
    with pytest.raises(InvalidInputError):
        list(iter_wsi_tiles(object()))
