"""IHC quantifier on synthetic DAB/haematoxylin tiles with known positive fractions."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.errors import ConfigError, InvalidInputError
from biomedai.methods.ki67.config import BACKGROUND, NEGATIVE, POSITIVE, Ki67Config
from biomedai.methods.ki67.deepliif import match_cells
from biomedai.methods.ki67.ihc import area_indices, as_rgb, quantify_ihc, three_value_map

from .synthetic import synthetic_ihc


@pytest.mark.parametrize("n_pos,n_neg", [(5, 35), (20, 20), (0, 30), (30, 0), (3, 60)])
def test_counts_and_labelling_index_match_known_fraction(n_pos, n_neg):
    rgb, labels, positive = synthetic_ihc(n_pos, n_neg, seed=n_pos + n_neg)
    result = quantify_ihc(rgb, Ki67Config())
    assert result.n_cells == n_pos + n_neg
    assert result.n_positive == n_pos
    assert result.labelling_index == pytest.approx(100.0 * n_pos / (n_pos + n_neg))
    match = match_cells(labels, positive.astype(np.int64), result.cells.x, result.cells.y, result.cells.positive)
    assert match["f1"] == 1.0 and match["call_accuracy_on_matched"] == 1.0


def test_area_indices_follow_disk_areas():
    rgb, labels, positive = synthetic_ihc(10, 30, seed=3)
    idx = quantify_ihc(rgb, Ki67Config()).indices
    true_pos = np.isin(labels, np.flatnonzero(positive)).mean()
    true_neg = ((labels > 0) & ~np.isin(labels, np.flatnonzero(positive))).mean()
    # smoothing moves each radius-9 disk edge by about a pixel (+-22 % area at most)
    assert 0.9 * true_pos <= idx["Dpos"] <= 1.3 * true_pos
    assert 0.9 * true_neg <= idx["Dneg"] <= 1.3 * true_neg
    assert idx["Rpos"] == pytest.approx(true_pos / (true_pos + true_neg), abs=0.04)


def test_area_indices_by_hand():
    m = np.array([[POSITIVE, NEGATIVE, NEGATIVE, BACKGROUND]])
    assert area_indices(m) == {"Dpos": 0.25, "Dneg": 0.5, "Rpos": pytest.approx(1 / 3)}
    assert area_indices(np.full((3, 3), BACKGROUND))["Rpos"] is None


def test_channel_filter_uses_public_notebook_bgr_ranges():
    # RGB pixels: brown (B<=160) positive; blue (B>=150, R<=160) negative; white background;
    # B=155, R=100 matches both and positive wins
    rgb = np.array([[[139, 71, 38], [60, 90, 200], [250, 250, 250], [100, 100, 155]]], np.uint8)
    got = three_value_map(rgb, Ki67Config(ihc_map_mode="channel_filter"))
    assert got.tolist() == [[POSITIVE, NEGATIVE, BACKGROUND, POSITIVE]]


def test_all_background_image_gives_correct_empty_result():
    white = np.full((128, 128, 3), 245, np.uint8)
    result = quantify_ihc(white, Ki67Config())
    assert result.n_cells == 0 and result.labelling_index is None
    assert result.indices == {"Dpos": 0.0, "Dneg": 0.0, "Rpos": None}


def test_non_rgb_input_is_refused_with_the_file_name():
    with pytest.raises(InvalidInputError, match=r"grey\.png: .*RGB"):
        as_rgb(np.zeros((32, 32), np.uint8), "grey.png")
    with pytest.raises(InvalidInputError, match="RGB"):
        quantify_ihc(np.zeros((32, 32, 2), np.uint8))


def test_config_rejects_bad_values_naming_the_key():
    with pytest.raises(ConfigError, match="dab_threshold"):
        Ki67Config.from_dict({"dab_threshold": -1.0})
    with pytest.raises(ConfigError, match="patch_size"):
        Ki67Config.from_dict({"patch_size": 50})
