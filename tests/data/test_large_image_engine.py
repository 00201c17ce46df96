"""The one large-image engine (``data/blocks.py`` for instances, ``data/tiling.py`` for dense maps and whole
slides) gives exactly what the tilers it replaced gave (frozen in ``legacy_tilers.py``), and works in 3-D."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.data import blocks
from biomedai.data.phantoms import nuclei_phantom
from biomedai.data.tiling import predict_tiled, strided_map_windows

from . import legacy_tilers as legacy


def _as_legacy(b: blocks.Block) -> legacy.Block:
    return legacy.Block(b.y0, b.y1, b.x0, b.x1, b.core_y0, b.core_y1, b.core_x0, b.core_x1)


@pytest.mark.parametrize(("height", "width", "block", "margin"), [(8, 25, 12, 2), (300, 260, 100, 25),
                                                                     (512, 700, 256, 32), (1, 1, 4, 1)])
def test_block_grid_equals_the_nuclei_tiler(height, width, block, margin):
    new = [_as_legacy(b) for b in blocks.block_grid((height, width), block, margin)]
    assert new == legacy.block_grid(height, width, block, margin)


def test_seam_merge_equals_the_nuclei_tiler_on_a_phantom():
    _, labels = nuclei_phantom((300, 260), n_nuclei=90, radius_range=(5, 10), seed=7, min_gap=0)
    truth = labels.array
    rng = np.random.default_rng(1)

    def noisy(block_image):  # a segmentation that differs per block context: drop a few instances
        ids = np.unique(block_image)
        drop = rng.choice(ids[ids > 0], size=min(2, int((ids > 0).sum())), replace=False) if ids.size > 1 else []
        return np.where(np.isin(block_image, drop), 0, block_image)

    state = rng.bit_generator.state
    new = blocks.paste_blocks(blocks.segment_in_blocks(lambda b: truth[b.slices], noisy, truth.shape, 100, 25),
                              truth.shape)
    rng.bit_generator.state = state
    old = legacy.paste_blocks(legacy.segment_in_blocks(lambda b: truth[b.y0:b.y1, b.x0:b.x1], noisy, 300, 260,
                                                       100, 25), truth.shape)
    assert np.array_equal(new, old)


def test_claimed_band_and_unclaimed_instances_equal_the_nuclei_tiler():
    rng = np.random.default_rng(3)
    height, width, block, margin = 300, 500, 64, 8
    new_claims, old_claims = blocks.ClaimedPixels(width, block), legacy.ClaimedPixels(width, block)
    for b in blocks.block_grid((height, width), block, margin):
        labels = rng.integers(0, 6, b.shape)
        new_view, old_view = new_claims.view(b), old_claims.view(_as_legacy(b))
        assert np.array_equal(new_view, old_view)
        new_kept = blocks.unclaimed_instances(labels, new_view)
        assert np.array_equal(new_kept, legacy.unclaimed_instances(labels, old_view))
        new_view |= new_kept > 0
        old_view |= new_kept > 0


def test_blocks_merge_objects_of_a_volume_whole_and_once():
    """3-D: balls across block seams in z, y and x come out whole, each once."""
    rng = np.random.default_rng(5)
    shape = (40, 60, 70)
    truth = np.zeros(shape, np.int64)
    zz, yy, xx = np.indices(shape)
    centres = rng.uniform((5, 5, 5), (35, 55, 65), (25, 3))
    for k, (z, y, x) in enumerate(centres, start=1):
        ball = (zz - z) ** 2 + (yy - y) ** 2 + (xx - x) ** 2 <= 9.0
        truth[ball & (truth == 0)] = k
    out = blocks.paste_blocks(blocks.segment_in_blocks(lambda b: truth[b.slices], lambda v: v, shape, 24, 6), shape)
    ids = np.unique(truth[truth > 0])
    assert np.unique(out[out > 0]).size == ids.size
    for k in ids:  # each object is one output label covering exactly its voxels
        values = np.unique(out[truth == k])
        assert values.size == 1 and values[0] > 0 and (out == values[0]).sum() == (truth == k).sum()


def test_strided_windows_cover_every_map_position_once():
    cover = np.zeros(((300 - 64) // 32 + 1, (500 - 64) // 32 + 1), int)
    for w in strided_map_windows(300, 500, 64, 32, 128):
        cover[w.rows, w.cols] += 1
        assert w.width == (w.cols.stop - w.cols.start - 1) * 32 + 64
    assert (cover == 1).all()


def test_wsi_map_equals_the_ki67_tiler(tmp_path):
    torch = pytest.importorskip("torch")
    from biomedai.io.wsi import write_pyramidal_tiff
    from biomedai.methods.ki67.config import Ki67Config
    from biomedai.methods.ki67.networks import Ki67ResNet18
    from biomedai.methods.ki67.wsi import wsi_probability_map

    torch.manual_seed(0)
    model = Ki67ResNet18().eval()
    rng = np.random.default_rng(0)
    big = np.full((256, 416, 3), 240, np.uint8)
    big[:160, :224] = rng.integers(0, 255, (160, 224, 3), dtype=np.uint8)  # tissue, glass elsewhere
    write_pyramidal_tiff(big, tmp_path / "slide.tif", mpp=0.25)
    config = Ki67Config(wsi_tile=128, wsi_level=0)  # the frozen tiler knows pyramid levels only, not "auto"
    new, new_info = wsi_probability_map(model, tmp_path / "slide.tif", config)
    old, old_info = legacy.wsi_probability_map(model, tmp_path / "slide.tif", config)
    choice = new_info.pop("level_choice")  # what the frozen tiler did not report: how the level was chosen
    assert choice["level"] == 0 and choice["how"] == "configured"
    assert new_info == old_info and new_info["tiles_skipped_glass"] > 0
    assert np.array_equal(new, old)


def test_memory_cap_keeps_the_blend_on_disk_with_the_same_values():
    x = np.random.default_rng(2).random((3, 70, 90)).astype(np.float32)
    in_ram = predict_tiled(x, lambda b: b * 2, tile=32, overlap=8, channel_axis=0, progress=False)
    capped = predict_tiled(x, lambda b: b * 2, tile=32, overlap=8, channel_axis=0, progress=False,
                           max_memory_bytes=1000)
    assert isinstance(capped.base, np.memmap) or isinstance(capped, np.memmap)
    assert np.array_equal(in_ram, capped)


@pytest.mark.parametrize("blend", ["constant", "gaussian", "linear"])
def test_every_blend_reproduces_an_identity_map(blend):
    x = np.random.default_rng(4).random((37, 53)).astype(np.float32)
    assert np.allclose(predict_tiled(x, lambda b: b, tile=16, overlap=6, blend=blend, progress=False), x, atol=1e-6)
