"""Tiled prediction, seam merging of instances, bad inputs, and predict/evaluate plumbing."""
from __future__ import annotations

import json

import numpy as np
import pytest

from biomedai.data.phantoms import nuclei_phantom
from biomedai.errors import InvalidInputError
from biomedai.methods.nuclei_hannet.data import as_rgb_uint8, load_tiles, read_labels
from biomedai.methods.nuclei_hannet.evaluation import score_tile
from biomedai.data.blocks import (Block, ClaimedPixels, block_grid, paste_blocks, segment_in_blocks,
                                  unclaimed_instances)
from biomedai.methods.nuclei_hannet.inference import tiled_probabilities

torch = pytest.importorskip("torch")


def test_tiled_probabilities_equal_whole_image_away_from_tile_borders():
    from biomedai.methods.nuclei_hannet.model import build_model

    torch.manual_seed(0)
    model = build_model("hannet", base_channels=4, growth_rate=2).eval()
    rgb = nuclei_phantom((128, 160), n_nuclei=15, seed=2).image.array
    with torch.no_grad():
        x = torch.from_numpy(np.moveaxis(rgb.astype(np.float32) / 127.5 - 1, -1, 0))[None]
        whole = torch.softmax(model(x), 1)[0].numpy()
    tiled = tiled_probabilities(model, rgb, tile=96, overlap=64, batch_size=2, device="cpu")
    assert tiled.shape == whole.shape == (3, 128, 160)
    interior = (slice(None), slice(24, 104), slice(24, 136))
    # each pixel is blended from tiles that see it with >= 16 px of context; a random net is the
    # hardest case (no learned locality), so compare class decisions and a loose absolute tolerance
    assert np.abs(tiled[interior] - whole[interior]).mean() < 0.02
    assert (tiled[interior].argmax(0) == whole[interior].argmax(0)).mean() > 0.97


def test_block_cores_tile_the_image_exactly():
    cover = np.zeros((50, 70), int)
    for b in block_grid((50, 70), block=24, margin=5):
        cover[b.core_y0:b.core_y1, b.core_x0:b.core_x1] += 1
        assert b.y0 <= b.core_y0 and b.y1 >= b.core_y1
    assert (cover == 1).all()


def test_seam_merged_instances_are_whole_and_unique():
    _, labels = nuclei_phantom((300, 260), n_nuclei=90, radius_range=(5, 10), seed=7, min_gap=0)
    truth = labels.array

    def oracle(block):  # segmentation of a block = the true labels inside it (nuclei cut at its edge)
        return truth[block.y0:block.y1, block.x0:block.x1]

    blocks = segment_in_blocks(lambda b: b, oracle, (300, 260), block=100, margin=25)
    merged = paste_blocks(blocks, truth.shape)
    assert int(np.unique(merged[merged > 0]).size) == 90
    scores = score_tile(truth, merged)
    assert scores["aji"] == 1.0  # every nucleus once, none cut at a seam


def test_a_nucleus_two_blocks_both_own_is_written_once():
    """Blocks that disagree about a seam nucleus's centroid can both own it: the second copy is dropped
    (more than half its area already claimed); a neighbour that only touches it keeps its free pixels."""
    first = np.zeros((10, 20), np.int64)
    first[2:8, 6:12] = 1  # the nucleus as block A saw it
    second = np.zeros((10, 20), np.int64)
    second[2:8, 7:13] = 4  # the same nucleus as block B saw it, 1 px to the right (5/6 of it claimed)
    second[2:8, 11:17] = 9  # a neighbour overlapping A's copy by one column (1/6 claimed)
    kept = unclaimed_instances(second, first > 0)
    assert set(np.unique(kept)) == {0, 9} and (kept == 9).sum() == 30
    whole = Block.from_2d(0, 10, 0, 20, 0, 10, 0, 20)
    out = paste_blocks(iter([(whole, first), (whole, second)]), (10, 20))
    assert sorted(np.unique(out)) == [0, 1, 2] and (out == 1).sum() == 36 and (out == 2).sum() == 30


def test_claimed_band_matches_a_whole_slide_claim_map():
    """The one-band claim tracker of the whole-slide path sees exactly what a full-size map would."""
    rng = np.random.default_rng(3)
    height, width, block, margin = 300, 500, 64, 8
    full = np.zeros((height, width), bool)
    claims = ClaimedPixels(width, block)
    for b in block_grid((height, width), block, margin):
        view = claims.view(b)
        assert np.array_equal(view, full[b.y0:b.y1, b.x0:b.x1]), b
        new = rng.random(view.shape) < 0.05
        view |= new
        full[b.y0:b.y1, b.x0:b.x1] |= new
    with pytest.raises(ValueError, match="row-by-row"):
        claims.view(Block.from_2d(0, 10, 0, 10, 0, 10, 0, 10))


def test_naive_tiling_would_cut_nuclei():  # the merge above is not trivially satisfied
    _, labels = nuclei_phantom((300, 260), n_nuclei=90, radius_range=(5, 10), seed=7, min_gap=0)
    truth = labels.array
    naive = np.zeros_like(truth)
    for y in range(0, 300, 50):
        for x in range(0, 260, 50):
            from scipy import ndimage as ndi

            part = ndi.label(truth[y:y + 50, x:x + 50] > 0)[0]
            naive[y:y + 50, x:x + 50] = np.where(part > 0, part + naive.max(), 0)
    assert score_tile(truth, naive)["aji"] < 0.95


def test_input_images_are_converted_or_refused():
    rgb = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    rgba = np.concatenate([rgb, np.full((8, 8, 1), 255, np.uint8)], -1)
    assert np.array_equal(as_rgb_uint8(rgba), rgb)
    assert np.array_equal(as_rgb_uint8(rgb.astype(np.uint16) * 257), rgb)  # 16-bit rescaled
    with pytest.raises(InvalidInputError, match="grey"):
        as_rgb_uint8(np.zeros((8, 8), np.uint8), "x.png")


def _png(array, path):
    from PIL import Image

    Image.fromarray(np.asarray(array)).save(path)


def _write_set(root, name, images, labels):
    (root / name / "images").mkdir(parents=True)
    (root / name / "labels").mkdir(parents=True)
    for k, (im, lab) in enumerate(zip(images, labels)):
        _png(im, root / name / "images" / f"t{k}.png")
        _png(lab.astype(np.uint16), root / name / "labels" / f"t{k}.png")


def test_label_maps_with_gaps_load_and_mismatches_are_refused(tmp_path):
    image, labels = nuclei_phantom((64, 64), n_nuclei=5, seed=1)
    gappy = labels.array * 7  # ids 7, 14, ...
    _write_set(tmp_path, "set", [image.array], [gappy])
    tiles = load_tiles(tmp_path / "set", None)
    assert len(tiles) == 1 and set(np.unique(tiles[0].labels)) == set(np.unique(gappy))
    _png(gappy[:60].astype(np.uint16), tmp_path / "bad.png")
    with pytest.raises(InvalidInputError, match="bad.png.*64x60.*64x64"):
        read_labels(tmp_path / "bad.png", (64, 64))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny network trained for one epoch: enough to exercise the plumbing, not to judge quality."""
    from biomedai.methods.nuclei_hannet import HanNetMethod

    root = tmp_path_factory.mktemp("data")
    pairs = [nuclei_phantom((80, 80), n_nuclei=8, seed=s) for s in range(4)]
    _write_set(root, "phantoms", [p.image.array for p in pairs], [p.labels.array for p in pairs])
    method = HanNetMethod({"base_channels": 4, "growth_rate": 2, "crop_size": 48, "batch_size": 2,
                           "crops_per_tile": 1, "epochs": 1, "tile_size": 64, "tile_overlap": 16, "device": "cpu",
                           "min_object_size": 5, "stain_normalization": "reinhard",
                           "lr_schedule": "cosine"})
    out = tmp_path_factory.mktemp("run")
    torch.set_num_threads(1)
    result = method.train(root, out)
    return method, root, out, result


def test_train_writes_weights_architecture_and_provenance(tiny_run):
    method, root, out, result = tiny_run
    assert (out / "weights.pt").is_file() and (out / "weights.pt.sha256").is_file()
    arch = json.loads((out / "hannet_model.json").read_text())
    assert arch["variant"] == "hannet" and arch["base_channels"] == 4
    assert len(arch["reinhard_target"]["mean"]) == 3
    record = json.loads((out / "result.json").read_text())
    assert record["metrics"]["n_train_tiles"] >= 1 and record["notes"]["split"]["phantoms"]


def test_predict_writes_every_output_for_odd_sized_and_small_images(tiny_run, tmp_path):
    from biomedai.io import read_image

    method, root, out, _ = tiny_run
    big = nuclei_phantom((100, 90), n_nuclei=10, seed=9).image.array
    small = big[:40, :30]  # smaller than one tile
    _png(big, tmp_path / "big.png")
    _png(np.concatenate([small, np.full(small.shape[:2] + (1,), 255, np.uint8)], -1), tmp_path / "small.png")
    res = method.predict([tmp_path / "big.png", tmp_path / "small.png"], tmp_path / "pred", out / "weights.pt")
    for stem, shape in (("big", (100, 90)), ("small", (40, 30))):
        labels = read_image(tmp_path / "pred" / f"{stem}_labels.tif").array
        assert labels.shape == shape and labels.dtype == np.uint16
        csv_lines = (tmp_path / "pred" / f"{stem}_nuclei.csv").read_text().splitlines()
        assert csv_lines[0].startswith("id,centroid_x,centroid_y,area,perimeter,eccentricity,mean_haematoxylin")
        assert len(csv_lines) - 1 == len(np.unique(labels[labels > 0]))
        geo = json.loads((tmp_path / "pred" / f"{stem}_nuclei.geojson").read_text())
        assert geo["type"] == "FeatureCollection"
        assert (tmp_path / "pred" / f"{stem}_overlay.png").is_file()
    assert set(res.metrics["n_nuclei"]) == {"big.png", "small.png"}


def test_predict_refuses_missing_files_and_grey_images(tiny_run, tmp_path):
    method, _, out, _ = tiny_run
    # without --weights the bundled model is used (no "needs trained weights" any more); the missing file is named
    with pytest.raises(InvalidInputError, match="x.png: file does not exist"):
        method.predict([tmp_path / "x.png"], tmp_path / "p")
    _png(np.zeros((32, 32), np.uint8), tmp_path / "grey.png")
    with pytest.raises(InvalidInputError, match="grey.png.*grey-level"):
        method.predict([tmp_path / "grey.png"], tmp_path / "p", out / "weights.pt")


def test_whole_slide_prediction_writes_level0_geojson(tiny_run, tmp_path):
    from biomedai.io.wsi import write_pyramidal_tiff

    method, _, out, _ = tiny_run
    slide = nuclei_phantom((256, 256), n_nuclei=30, seed=11).image.array
    write_pyramidal_tiff(slide, tmp_path / "slide.tif", mpp=0.5, tile=128)  # 2 levels
    wsi_method = type(method)(method.config.replace(block_size=128, block_margin=24))
    res = wsi_method.predict([tmp_path / "slide.tif"], tmp_path / "wsi", out / "weights.pt")
    geo = json.loads((tmp_path / "wsi" / "slide_nuclei.geojson").read_text())
    assert len(geo["features"]) == res.metrics["n_nuclei"]["slide.tif"]
    record = json.loads((tmp_path / "wsi" / "result.json").read_text())
    assert record["notes"]["wsi"]["slide.tif"]["coordinates"] == "level-0 pixels"
    from biomedai.io import read_image

    labels = read_image(tmp_path / "wsi" / "slide_labels.tif").array
    assert labels.shape == (256, 256)
    assert len(np.unique(labels[labels > 0])) == len(geo["features"])


def test_evaluate_writes_per_tile_scores(tiny_run, tmp_path):
    method, root, out, _ = tiny_run
    evaluator = type(method)(method.config.replace(eval_part="train"))
    res = evaluator.evaluate(root, tmp_path / "eval", out / "weights.pt")
    assert 0.0 <= res.metrics["phantoms_aji"] <= 1.0
    assert (tmp_path / "eval" / "per_tile.csv").read_text().startswith("dataset,tile,aji")


def test_large_in_memory_images_go_through_the_seam_merging_blocks(tiny_run):
    from biomedai.methods.nuclei_hannet.segmenter import NucleiSegmenter

    method, _, out, _ = tiny_run
    cfg = method.config.replace(max_whole_image_pixels=2000, block_size=64, block_margin=16)
    seg = NucleiSegmenter.from_weights(out / "weights.pt", cfg)
    rgb = nuclei_phantom((100, 130), n_nuclei=12, seed=12).image.array
    labels = seg.segment(rgb)
    assert labels.shape == (100, 130) and labels.dtype == np.uint16
    ids = np.unique(labels[labels > 0])
    assert np.array_equal(ids, np.arange(1, ids.size + 1))  # consecutive after merging


def test_split_file_names_and_errors(tmp_path):
    from biomedai.errors import InvalidInputError
    from biomedai.methods.nuclei_hannet.data import load_split_file

    assert load_split_file("all_sources")["gbm40"]["train"]  # bundled, by name
    assert load_split_file()["gbm40"]["test"] == "*"  # the default: gbm40 is an unseen-source test set
    own = tmp_path / "mine.json"
    own.write_text('{"phantoms": {"train": ["a"], "val": [], "test": ["b"]}}')
    assert load_split_file(own)["phantoms"]["test"] == ["b"]
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidInputError, match="bad.json.*split file.*all_sources"):
        load_split_file(bad)
