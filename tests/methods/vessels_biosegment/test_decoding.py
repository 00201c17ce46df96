"""The detector's decoding: ridge centres, the heat-map contour, the stored settings, and the length it gives."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from biomedai.methods.vessels_biosegment.config import VesselsConfig
from biomedai.methods.vessels_biosegment.decoding import (Decoding, heat_foreground, polylines_from_maps,
                                                          ridge_centres)
from biomedai.methods.vessels_biosegment.detector_training import choose_decoding, decoding_grid


def _ridge_maps(shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray, height: float = 0.8) -> dict:
    """Detector maps (stride 4) whose heat map is a ridge of ``height`` through the given cells, falling off
    across it as a Gaussian of one cell."""
    gh, gw = shape[0] // 4, shape[1] // 4
    yy, xx = np.mgrid[0:gh, 0:gw]
    heat = np.zeros((gh, gw))
    for r, c in zip(rows, cols):
        heat = np.maximum(heat, height * np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / 2.0))
    logit = torch.logit(torch.from_numpy(heat).float().clamp(1e-4, 1 - 1e-4))[None, None]
    zeros = torch.zeros(1, 2, gh, gw)
    return {"heatmap": logit, "offset": zeros, "size": zeros + 1}


def test_ridge_centres_follow_a_diagonal_vessel_at_the_box_step():
    heat = np.zeros((40, 40))
    for i in range(5, 35):
        heat[i, i] = 0.9
        heat[i, i - 1] = heat[i - 1, i] = 0.5
    xy, scores = ridge_centres(heat, 0.3, 8.0, 4)
    pts = (np.arange(5, 35) + 0.5) * 4 - 0.5                          # the ridge cells' pixel centres
    ridge = np.stack([pts, pts], axis=1)
    gaps = np.linalg.norm(ridge[:, None] - xy[None], axis=2).min(axis=1)
    assert gaps.max() <= 8.0                                          # every ridge cell has a box within 8 px
    pair = np.linalg.norm(xy[:, None] - xy[None], axis=2) + np.eye(len(xy)) * 1e9
    assert pair.min() >= 8.0                                          # and no two boxes are closer than 8 px
    assert (scores >= 0.3).all()
    assert ridge_centres(np.zeros((8, 8)), 0.3, 8.0, 4)[0].shape == (0, 2)


def test_ridge_decoding_measures_a_vessels_length_and_keeps_parallel_vessels_apart():
    shape = (64, 256)
    cols = np.arange(4, 60)
    maps = _ridge_maps(shape, np.full(cols.size, 8), cols)
    x = np.zeros(shape, np.float32)
    fov = np.ones(shape, bool)
    cfg = VesselsConfig()
    true_length = (cols[-1] - cols[0]) * 4.0
    ridge = Decoding(score=0.5, peaks="ridge", contour="heatmap", heat_foreground=0.4)
    _, lines, counts = polylines_from_maps(maps, x, fov, ridge, cfg)
    assert len(lines.polylines) == 1 and counts["mst_edges"] == counts["detections"] - 1
    assert lines.vessel_length_px() == pytest.approx(true_length, rel=0.1)
    # the heat-map contour stops links across the background between two parallel ridges 12 cells apart
    two = _ridge_maps(shape, np.r_[np.full(cols.size, 4), np.full(cols.size, 12)], np.r_[cols, cols])
    _, lines2, _ = polylines_from_maps(two, x, fov, ridge, cfg)
    assert lines2.vessel_length_px() == pytest.approx(2 * true_length, rel=0.1)


def test_heat_foreground_covers_the_cells_above_the_threshold():
    heat = np.zeros((10, 12))
    heat[3:5, 6] = 0.9
    fg = heat_foreground(heat, (40, 48), 0.5)
    assert fg.shape == (40, 48)
    ys, xs = np.nonzero(fg)
    assert 12 <= ys.min() and ys.max() < 20 and 24 <= xs.min() and xs.max() < 28


def test_decoding_round_trips_through_model_json_and_old_folders_keep_theirs():
    cfg = VesselsConfig()
    d = Decoding(score=0.35, heat_foreground=0.4, end_link_radius=3.0, end_min_fraction=0.8, min_distance=8.0)
    assert Decoding.from_preprocessing(d.to_preprocessing(), cfg) == d
    old = Decoding.from_preprocessing({"detector_score": 0.3, "end_link_radius": 0.0}, cfg)
    assert (old.peaks, old.contour, old.min_fraction, old.score) == ("local_max", "image", 0.5, 0.3)
    assert Decoding.from_preprocessing({}, cfg) == Decoding.from_config(cfg)


def test_choose_decoding_takes_the_lowest_length_error(monkeypatch):
    from biomedai.methods.vessels_biosegment import detector_training

    grid = decoding_grid(Decoding.from_config(VesselsConfig()), (0.2, 0.4), (0.3,), ((0.0, 0.0),))
    errors = np.array([[12.0, 3.0], [10.0, 5.0]])
    f1 = np.array([[0.7, 0.9], [0.8, 0.85]])
    monkeypatch.setattr(detector_training, "score_decodings", lambda *a: (errors, f1))
    chosen = choose_decoding(None, [object(), object()], VesselsConfig(), grid)
    assert chosen["decoding"].score == 0.4 and chosen["error"] == 4.0 and chosen["line_f1"] == pytest.approx(0.875)
