"""Instance metrics on real manual H&E nucleus masks (MICCAI 2015 tiles in ../shared/data/nuclei/miccai2015)."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.metrics import (
    aji,
    aji_plus,
    hausdorff_distance,
    object_dice,
    object_f1,
    object_hausdorff,
    panoptic_quality,
)
from tests.conftest import shared_subdir
from tests.metrics.test_instance import _monai_pq, kumar_aji

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def label_maps(shared_data):
    from PIL import Image

    folder = shared_subdir(shared_data, "nuclei", "miccai2015", "labels")
    paths = sorted(folder.glob("image*.png"))
    if not paths:
        pytest.skip(f"no label PNGs in {folder}")
    return {p.stem: np.asarray(Image.open(p)) for p in paths}


def erode_each_object(labels: np.ndarray) -> np.ndarray:
    """Keep a pixel only if its four neighbours carry the same label (objects shrink, never merge)."""
    pad = np.pad(labels, 1)
    c = pad[1:-1, 1:-1]
    keep = (c > 0) & (pad[:-2, 1:-1] == c) & (pad[2:, 1:-1] == c) & (pad[1:-1, :-2] == c) & (pad[1:-1, 2:] == c)
    return np.where(keep, labels, 0)


def shift_right(labels: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros_like(labels)
    out[:, k:] = labels[:, :-k]
    return out


def test_label_maps_are_the_documented_ones(label_maps):
    assert len(label_maps) == 11
    assert label_maps["image02"].dtype == np.uint16 and label_maps["image02"].shape == (490, 488)
    assert sum(len(np.unique(m)) - 1 for m in label_maps.values()) == 2152  # the README's count


def test_every_tile_against_itself_scores_one(label_maps):
    for name, t in label_maps.items():
        pq = panoptic_quality(t, t)
        assert (pq.pq, pq.fp, pq.fn) == (pytest.approx(1.0), 0, 0), name
        assert aji(t, t) == 1.0 and aji_plus(t, t) == 1.0, name
        assert object_f1(t, t) == 1.0 and object_f1(t, t, match="centroid") > 0.97, name
        assert object_dice(t, t) == 1.0, name
    assert object_hausdorff(label_maps["image02"], label_maps["image02"]) == 0.0


@pytest.mark.parametrize("name", ["image02", "image08"])
def test_eroded_copy_hand_derived_values(label_maps, name):
    t = label_maps[name].astype(np.int64)
    e = erode_each_object(t)
    n_true = np.bincount(t.ravel())[1:]
    n_ero = np.bincount(e.ravel(), minlength=t.max() + 1)[1:]
    present = n_true > 0
    g, s = n_true[present].astype(float), n_ero[present].astype(float)
    ratio = s / g  # IoU of each object with its eroded self: the eroded object lies inside it
    # AJI: every object pairs with its eroded copy (union = the object), vanished ones add their area
    assert aji(t, e) == pytest.approx(s.sum() / g.sum(), abs=1e-12)
    assert aji_plus(t, e) == pytest.approx(s.sum() / g.sum(), abs=1e-12)
    tp = int((ratio > 0.5).sum())
    fp = int(((ratio > 0) & (ratio <= 0.5)).sum())
    fn = int(present.sum()) - tp
    pq = panoptic_quality(t, e)
    assert (pq.tp, pq.fp, pq.fn) == (tp, fp, fn)
    assert pq.sq == pytest.approx(ratio[ratio > 0.5].mean(), abs=1e-12)
    assert pq.pq == pytest.approx(tp / (tp + 0.5 * fp + 0.5 * fn) * ratio[ratio > 0.5].mean(), abs=1e-12)
    d = 2 * s / (g + s)
    expected_dice = 0.5 * ((g * d).sum() / g.sum() + (s * d).sum() / s.sum())
    assert object_dice(t, e) == pytest.approx(expected_dice, abs=1e-12)
    assert 0.6 < aji(t, e) < 0.95  # one pixel off every boundary costs a lot on nuclei this small


def test_eroded_and_shifted_crops_match_references(label_maps):
    t = label_maps["image10"].astype(np.int64)[200:360, 300:460]  # MONAI's PQ is slow on whole tiles
    for pred in (erode_each_object(t), shift_right(t, 2)):
        pq = panoptic_quality(t, pred)
        tp, fp, fn, iou_sum = _monai_pq(t, pred)
        assert (pq.tp, pq.fp, pq.fn) == (tp, fp, fn) and pq.iou_sum == pytest.approx(iou_sum, rel=1e-5)
        small_t, small_p = t[:128, :128], pred[:128, :128]
        assert aji(small_t, small_p) == pytest.approx(kumar_aji(small_t, small_p), abs=1e-12)


def test_shift_lowers_scores_monotonically(label_maps):
    t = label_maps["image04"]
    scores = [aji(t, shift_right(t, k)) for k in (1, 2, 4, 8)]
    assert scores == sorted(scores, reverse=True) and scores[0] < 1.0 and scores[-1] < 0.5
    pqs = [panoptic_quality(t, shift_right(t, k)).pq for k in (1, 2, 4, 8)]
    assert pqs == sorted(pqs, reverse=True)


def test_object_hausdorff_of_shifted_crop_matches_plain_loop(label_maps):
    from skimage.segmentation import clear_border

    t = clear_border(label_maps["image12"].astype(np.int64)[100:356, 100:356], buffer_size=4)
    p = shift_right(t, 3)  # no object leaves the crop

    def one_side(a: np.ndarray, b: np.ndarray) -> float:
        total, weight = 0.0, 0.0
        for i in np.unique(a[a > 0]):
            m = a == i
            hits = np.bincount(b[m], minlength=b.max() + 1)
            hits[0] = 0
            partner = int(np.argmax(hits))
            assert hits[partner] > 0  # a 3-pixel shift leaves every object overlapping something
            total += m.sum() * hausdorff_distance(m, b == partner)
            weight += m.sum()
        return total / weight

    expected = 0.5 * (one_side(t, p) + one_side(p, t))
    assert object_hausdorff(t, p) == pytest.approx(expected, abs=1e-12)
    assert 3.0 <= expected < 6.0
