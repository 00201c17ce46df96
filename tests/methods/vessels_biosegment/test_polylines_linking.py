"""Polyline JSON, tracing from masks, boxes along polylines, neighbour linking, contour check and MST."""
from __future__ import annotations

import json

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.methods.vessels_biosegment.detector import decode_detections, detection_targets
from biomedai.methods.vessels_biosegment.linking import bridge_ends, contour_check, link_detections, spanning_forest
from biomedai.methods.vessels_biosegment.polylines import (Polyline, PolylineSet, boxes_along, polylines_from_mask,
                                                           read_polylines, write_polylines)


def test_mask_import_gives_the_skeleton_length_and_round_trips(tmp_path):
    mask = np.zeros((100, 120), bool)
    mask[48:52, 10:110] = True
    mask[20:80, 60:63] = True
    lines = polylines_from_mask(mask, "x.png")
    assert len(lines.polylines) == 4
    assert lines.vessel_length_px() == pytest.approx(97 + 57, abs=6)
    path = write_polylines(lines, tmp_path / "p.json")
    back = read_polylines(path)
    assert back.image_size == (100, 120) and back.vessel_length_px() == pytest.approx(lines.vessel_length_px(),
                                                                                       abs=0.1)


def test_bad_polyline_files_are_refused(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"format": "biomedai-vessel-polylines", "image_size": [10, 10],
                             "polylines": [{"class": "cell", "points": [[0, 0], [1, 1]]}]}))
    with pytest.raises(InvalidInputError, match="class 'cell'"):
        read_polylines(p)
    p.write_text("{")
    with pytest.raises(InvalidInputError, match="bad.json"):
        read_polylines(p)


def test_other_classes_do_not_count_in_the_length():
    lines = PolylineSet("a", (50, 50), [Polyline(np.array([[0.0, 0], [10, 0]])),
                                        Polyline(np.array([[0.0, 5], [30, 5]]), "debris")])
    assert lines.vessel_length_px() == 10
    assert len(boxes_along(lines, 8, 4)) == 4  # ends included, every <= 4 px


def test_boxes_cover_the_polyline_with_the_configured_overlap():
    lines = PolylineSet("a", (100, 100), [Polyline(np.array([[10.0, 50], [90, 50]]))])
    boxes = boxes_along(lines, 16, 8)
    assert len(boxes) == 11
    assert np.allclose(boxes[:, 2] - boxes[:, 0], 16) and np.allclose(np.diff(boxes[:, 0]), 8)


def _chain_boxes(y: float, xs: np.ndarray, half: float = 4) -> np.ndarray:
    return np.stack([xs - half, np.full_like(xs, y - half), xs + half, np.full_like(xs, y + half)], axis=1)


def test_contour_check_cuts_links_between_parallel_vessels_and_mst_removes_cycles():
    img = np.zeros((60, 100), np.float32)
    img[18:23, :] = 1
    img[38:43, :] = 1
    xs = np.arange(6, 95, 6.0)
    boxes = np.concatenate([_chain_boxes(20, xs), _chain_boxes(40, xs)])
    # linking radius 2.6 box sides = 20.8 px reaches the other vessel (20 px away); the contour check must cut it
    lines, counts = link_detections(boxes, img, box_size=8, link_radius=2.6)
    assert counts["candidate_edges"] > counts["edges_after_contour_check"]
    assert len(lines.polylines) == 2
    assert lines.vessel_length_px() == pytest.approx(2 * (xs[-1] - xs[0]), abs=1e-6)
    assert counts["mst_edges"] == 2 * (len(xs) - 1)  # a forest: no cycles survive


def test_bridge_ends_joins_broken_trees_across_foreground_only_and_keeps_a_forest():
    # trees A (x 0-12) and B (x 30-42) on one vessel (row 10) with a gap; tree C on background rows below A
    centres = np.array([[0.0, 10], [6, 10], [12, 10], [30, 10], [36, 10], [42, 10], [14, 30], [20, 30]])
    tree = np.array([[0, 1], [1, 2], [3, 4], [4, 5], [6, 7]])
    fg = np.zeros((40, 50), bool)
    fg[8:13, :] = True
    assert bridge_ends(centres, tree, 25, fg, 0.5).tolist() == [[2, 3]]   # C's bridge crosses background
    unchecked = bridge_ends(centres, tree, 25)
    assert unchecked.tolist() == [[2, 3], [2, 6]]                          # shortest first, one per pair of trees
    assert len(tree) + len(unchecked) == len(centres) - 1                  # one tree, no cycle
    assert bridge_ends(centres, tree, 0, fg, 0.5).shape == (0, 2)          # radius 0: off


def test_gap_bridging_in_linking_adds_the_gap_to_the_length():
    img = np.zeros((40, 100), np.float32)
    img[18:23, :] = 1
    xs = np.concatenate([np.arange(6, 40, 6.0), np.arange(60, 95, 6.0)])    # a 24 px gap in the detections
    boxes = _chain_boxes(20, xs)
    off, counts_off = link_detections(boxes, img, box_size=8, link_radius=1.6, min_fraction=0.5)
    on, counts_on = link_detections(boxes, img, box_size=8, link_radius=1.6, min_fraction=0.5,
                                    end_link_radius=4, end_min_fraction=0.5)
    assert counts_off["bridged_ends"] == 0 and counts_on["bridged_ends"] == 1
    assert on.vessel_length_px() - off.vessel_length_px() == pytest.approx(60 - 36, abs=1e-6)


def test_spanning_forest_of_a_triangle_drops_the_longest_edge():
    centres = np.array([[0.0, 0], [3, 0], [0, 4]])
    edges = np.array([[0, 1], [1, 2], [0, 2]])
    tree = spanning_forest(centres, edges)
    assert sorted(map(tuple, np.sort(tree, axis=1))) == [(0, 1), (0, 2)]
    fg = np.ones((10, 10), bool)
    assert len(contour_check(centres, edges, fg)) == 3


def test_detection_targets_decode_back_to_the_box_centres():
    import torch

    centres = np.array([[10.0, 12.0], [40.0, 30.0]])
    t = detection_targets(centres, np.full((2, 2), 16.0), (64, 64), 16)
    logit = torch.logit(torch.from_numpy(t["heatmap"]).clamp(1e-4, 1 - 1e-4))[None, None]
    out = {"heatmap": logit, "offset": torch.from_numpy(t["offset"])[None], "size": torch.from_numpy(t["size"])[None]}
    boxes = decode_detections(out, 16, score=0.9)
    got = np.sort((boxes[:, :2] + boxes[:, 2:4]) / 2, axis=0)
    assert np.allclose(got, np.sort(centres, axis=0), atol=1e-4)
    assert np.allclose(boxes[:, 2] - boxes[:, 0], 16)
