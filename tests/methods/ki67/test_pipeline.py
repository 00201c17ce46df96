"""The registered ``ki67`` method end to end: predict (IHC and FCN, region and whole slide), tools, demo."""
from __future__ import annotations

import csv
import json
import time

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.viz import save_png as write_image
from biomedai.methods.registry import get_method

from .synthetic import synthetic_ihc


@pytest.fixture()
def method():
    return get_method("ki67")()


def test_registered_and_listed():
    cls = get_method("ki67")
    assert cls.name == "ki67" and "Liu" in cls.paper


def test_predict_ihc_writes_maps_tables_geojson_and_result(method, tmp_path):
    rgb, _, _ = synthetic_ihc(8, 24, seed=5)
    src = write_image(rgb, tmp_path / "tile.png")
    out = tmp_path / "out"
    result = method.predict([src], out)
    row = result.metrics["regions"][0]
    assert row["n_cells"] == 32 and row["n_positive"] == 8 and row["labelling_index_pct"] == 25.0
    for name in ("tile_ihc_map.png", "tile_cells_overlay.png", "tile_cells.csv", "tile_cells.geojson",
                 "regions.csv", "result.json"):
        assert (out / name).is_file(), name
    cells = list(csv.DictReader((out / "tile_cells.csv").open()))
    assert len(cells) == 32 and sum(c["call"] == "positive" for c in cells) == 8
    features = json.loads((out / "tile_cells.geojson").read_text())["features"]
    names = [f["properties"]["classification"]["name"] for f in features]
    assert names.count("Positive") == 8 and names.count("Negative") == 24
    assert all(f["properties"]["objectType"] == "detection" for f in features)
    provenance = json.loads((out / "result.json").read_text())["provenance"]
    assert provenance["inputs"][0]["sha256"]


def test_predict_refuses_grey_image_naming_it(method, tmp_path):
    src = write_image(np.zeros((40, 40), np.uint8), tmp_path / "grey.png")
    with pytest.raises(InvalidInputError, match="grey.png"):
        method.predict([src], tmp_path / "out")


def _untrained_weights(tmp_path):
    """Plumbing only: an untrained classifier's weights (never shown as a result)."""
    import torch

    from biomedai.methods.ki67.model import Ki67ResNet18
    from biomedai.train.checkpoint import save_weights

    torch.manual_seed(0)
    path = tmp_path / "w.pt"
    save_weights(Ki67ResNet18(), path)
    return path


def test_fcn_predict_region_and_whole_slide(method, tmp_path):
    from biomedai.io.wsi import write_pyramidal_tiff

    weights = _untrained_weights(tmp_path)
    rgb = np.random.default_rng(0).integers(0, 255, (160, 224, 3), dtype=np.uint8)
    region = write_image(rgb, tmp_path / "he.png")
    res = method.predict([region], tmp_path / "fcn", weights=weights)
    row = res.metrics["regions"][0]
    assert (row["map_rows"], row["map_cols"]) == (4, 6)  # (160-64)/32+1, (224-64)/32+1
    prob = np.load(tmp_path / "fcn" / "he_probabilities.npy")
    assert prob.shape == (3, 4, 6) and np.allclose(prob.sum(0), 1, atol=1e-5)
    slide = tmp_path / "slide.tif"
    big = np.full((256, 384, 3), 240, np.uint8)
    big[:160, :224] = rgb  # a tissue block, glass elsewhere
    write_pyramidal_tiff(big, slide, mpp=0.25)
    small_tiles = get_method("ki67")({"wsi_tile": 128})
    res = small_tiles.predict([slide], tmp_path / "wsi", weights=weights)
    info = res.metrics["regions"][0]
    assert info["map_rows"] == (256 - 64) // 32 + 1 and info["map_cols"] == (384 - 64) // 32 + 1
    assert info["tiles_skipped_glass"] > 0 and info["tiles_run"] > 0
    wsi_prob = np.load(tmp_path / "wsi" / "slide_probabilities.npy")
    assert np.allclose(wsi_prob.sum(0), 1, atol=1e-5) and (wsi_prob[2, -1, -1] == 1.0)  # glass corner skipped
    assert (tmp_path / "wsi" / "slide_heatmap_p_positive.png").is_file()
    bad = get_method("ki67")({"wsi_level": 7, "wsi_tile": 256})
    with pytest.raises(InvalidInputError, match="level 7 does not exist"):
        bad.predict([slide], tmp_path / "bad", weights=weights)


def test_whole_slide_tiles_are_seam_exact_with_the_valid_variant(tmp_path):
    """Tiles overlapping by the receptive field: the tiled slide map equals the one-pass map of the same image."""
    import torch

    from biomedai.io.wsi import write_pyramidal_tiff
    from biomedai.methods.ki67.config import Ki67Config
    from biomedai.methods.ki67.model import Ki67ValidResNet18, probability_map
    from biomedai.train.checkpoint import save_weights

    torch.manual_seed(0)
    save_weights(Ki67ValidResNet18(), tmp_path / "valid.pt")  # untrained: plumbing and geometry only
    rgb = np.random.default_rng(5).integers(0, 255, (256, 352, 3), dtype=np.uint8)
    slide = write_pyramidal_tiff(rgb, tmp_path / "slide.tif", mpp=0.25)
    method = get_method("ki67")({"wsi_tile": 128, "architecture": "resnet18_valid"})
    res = method.predict([slide], tmp_path / "wsi", weights=tmp_path / "valid.pt")
    info = res.metrics["regions"][0]
    assert info["architecture"] == "resnet18_valid" and info["tiles_run"] > 4 and info["tiles_skipped_glass"] == 0
    tiled = np.load(tmp_path / "wsi" / "slide_probabilities.npy")
    from biomedai.methods.ki67.model import load_classifier

    one_pass = probability_map(load_classifier(tmp_path / "valid.pt", Ki67Config()), rgb, Ki67Config())
    assert tiled.shape == one_pass.shape == (3, (256 - 64) // 32 + 1, (352 - 64) // 32 + 1)
    np.testing.assert_allclose(tiled, one_pass, rtol=0, atol=1e-5)


def test_build_patches_tool(method, tmp_path, capsys):
    rgb = np.random.default_rng(2).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    image = write_image(rgb, tmp_path / "roi.png")
    (tmp_path / "roi.csv").write_text("x,y,label\n40,40,positive\n80,50,negative\n")
    args = method.tool_parser("t").parse_args(["build-patches", str(image), str(tmp_path / "roi.csv"),
                                               "-o", str(tmp_path / "set"), "--background-per-cell", "2"])
    assert method.run_tool(args) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts["positive"] == 1 and counts["negative"] == 1 and counts["background"] == 4
    assert len(list((tmp_path / "set" / "background").glob("*.png"))) == 4


def test_demo_runs_quickly_on_ihc_sample(method, tmp_path):
    start = time.perf_counter()
    result = method.demo(tmp_path / "demo")
    assert time.perf_counter() - start < 90
    row = result.metrics["regions"][0]
    assert row["n_cells"] > 50 and 0 < row["n_positive"] < row["n_cells"]
    assert (tmp_path / "demo" / "ihc_ihc_map.png").is_file()


@pytest.mark.slow
def test_train_from_point_annotations_writes_weights(tmp_path):
    """Plumbing of ``train`` on a tiny annotated folder (1 epoch; the real-data training is the slow test)."""
    rng = np.random.default_rng(3)
    data = tmp_path / "data"
    data.mkdir()
    for k in range(2):
        write_image(rng.integers(0, 255, (160, 160, 3), dtype=np.uint8), data / f"roi{k}.png")
        (data / f"roi{k}.csv").write_text("x,y,label\n40,40,positive\n100,50,negative\n60,120,negative\n")
    method = get_method("ki67")({"epochs": 1, "batch_size": 8, "device": "cpu", "background_per_cell": 1.0,
                                 "cell_box_size": 16})
    result = method.train(data, tmp_path / "run")
    assert result.metrics["patch_counts"]["positive"] == 2 and result.metrics["patch_counts"]["negative"] == 4
    from biomedai.methods.ki67.model import load_classifier
    from biomedai.train.model_folder import read_model_info

    info = read_model_info(tmp_path / "run")
    assert info.method == "ki67" and info.class_names == ["negative", "positive", "background"]
    assert not (tmp_path / "run" / "weights.pt.sha256").exists()  # the checksum lives in model.json
    assert load_classifier(tmp_path / "run", method.config).architecture == info.architecture["architecture"]
    with pytest.raises(InvalidInputError, match="no annotated images"):
        method.train(tmp_path / "run", tmp_path / "run2")
