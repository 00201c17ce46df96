"""Patch data set builder: point annotations -> 64x64 patches and background boxes that overlap no cell."""
from __future__ import annotations

import json

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.methods.ki67.config import BACKGROUND, NEGATIVE, POSITIVE
from biomedai.methods.ki67.patches import background_centres, build_patch_set, cell_patches, read_cell_points


def _labelme(path, points):
    shapes = [{"label": lab, "points": [[x, y]], "shape_type": "point"} for x, y, lab in points]
    path.write_text(json.dumps({"shapes": shapes, "imagePath": "x.png", "imageHeight": 200, "imageWidth": 300}))
    return path


def test_reads_labelme_geojson_and_csv_points(tmp_path):
    pts = [(10.0, 20.0, "positive"), (30.5, 40.0, "Negative")]
    xy, cls = read_cell_points(_labelme(tmp_path / "a.json", pts))
    assert xy.tolist() == [[10.0, 20.0], [30.5, 40.0]] and cls.tolist() == [POSITIVE, NEGATIVE]
    (tmp_path / "b.csv").write_text("x,y,label\n5,6,background\n7,8,pos\n")
    xy, cls = read_cell_points(tmp_path / "b.csv")
    assert cls.tolist() == [BACKGROUND, POSITIVE]
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [3, 4]},
               "properties": {"classification": {"name": "Positive"}}}
    (tmp_path / "c.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    assert read_cell_points(tmp_path / "c.geojson")[1].tolist() == [POSITIVE]


def test_empty_or_unknown_annotations_are_refused(tmp_path):
    with pytest.raises(InvalidInputError, match=r"empty\.json: .*no cell points"):
        read_cell_points(_labelme(tmp_path / "empty.json", []))
    with pytest.raises(InvalidInputError, match="label 'mitosis'"):
        read_cell_points(_labelme(tmp_path / "odd.json", [(1, 1, "mitosis")]))


def test_patches_are_centred_on_points_and_border_policy():
    image = np.zeros((100, 120, 3), np.uint8)
    image[50, 60] = 255
    patches, labels = cell_patches(image, np.array([[60.0, 50.0]]), np.array([POSITIVE]), 64)
    assert patches.shape == (1, 64, 64, 3) and patches[0, 32, 32, 0] == 255 and labels.tolist() == [POSITIVE]
    near_border = np.array([[5.0, 5.0], [60.0, 50.0]])
    padded, _ = cell_patches(image, near_border, np.array([0, 1]), 64, border_policy="pad")
    dropped, kept = cell_patches(image, near_border, np.array([0, 1]), 64, border_policy="drop")
    assert len(padded) == 2 and len(dropped) == 1 and kept.tolist() == [1]


def test_points_outside_the_image_are_refused():
    image = np.zeros((100, 100, 3), np.uint8)
    with pytest.raises(InvalidInputError, match="1 of 2 points lie outside"):
        cell_patches(image, np.array([[10.0, 10.0], [150.0, 10.0]]), np.array([0, 1]), 64, source="pts.json")


def test_background_boxes_overlap_no_cell_box():
    rng = np.random.default_rng(0)
    cells = rng.uniform(0, 400, (15, 2))
    centres = background_centres((400, 400), cells, 50, patch=64, cell_box=64, rng=rng)
    assert len(centres) > 0
    for x, y in centres:
        assert 32 <= x <= 368 and 32 <= y <= 368
        overlap = (np.abs(cells[:, 0] - x) < 64) & (np.abs(cells[:, 1] - y) < 64)
        assert not overlap.any()
    assert len(background_centres((400, 400), np.array([[200.0, 200.0]]), 5, rng=rng)) == 5
    # a crowded tile leaves no room: fewer (here none) come back, no error
    grid = np.stack(np.meshgrid(np.arange(0, 400, 40), np.arange(0, 400, 40)), -1).reshape(-1, 2).astype(float)
    assert len(background_centres((400, 400), grid, 10, max_tries=500)) == 0


def test_build_patch_set_adds_background():
    image = np.random.default_rng(1).integers(0, 255, (300, 300, 3), dtype=np.uint8)
    xy = np.array([[40.0, 40.0], [60.0, 45.0]])
    patches, labels, centres = build_patch_set(image, xy, np.array([1, 0]), 64, n_background=4,
                                               rng=np.random.default_rng(0))
    assert labels.tolist() == [1, 0, 2, 2, 2, 2] and patches.shape == (6, 64, 64, 3) and centres.shape == (6, 2)
