"""Segmentation metrics: known answers on drawn shapes, checked against MONAI and scikit-learn in the same test."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.draw import disk

from biomedai.errors import InvalidInputError
from biomedai.metrics import (
    accuracy_from_confusion,
    average_surface_distance,
    dice,
    dice_per_class,
    hausdorff_distance,
    hd95,
    iou,
    iou_from_confusion,
    iou_per_class,
    mean_iou,
    mean_pixel_accuracy,
    pixel_accuracy,
    segmentation_confusion_matrix,
    surface_distances,
)

torch = pytest.importorskip("torch")
monai_metrics = pytest.importorskip("monai.metrics")
skm = pytest.importorskip("sklearn.metrics")


def _disk(shape, center, radius):
    m = np.zeros(shape, bool)
    m[disk(center, radius, shape=shape)] = True
    return m


def _monai(fn, true, pred, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(fn(torch.as_tensor(pred[None, None]), torch.as_tensor(true[None, None]), **kw).item())


def _blobs(seed, shape=(48, 40, 24), sigma=3.0):
    rng = np.random.default_rng(seed)
    return ndi.gaussian_filter(rng.random(shape), sigma) > 0.5


def test_dice_two_disks_known_overlap():
    r, d = 40, 30
    a = _disk((200, 200), (100, 85), r)
    b = _disk((200, 200), (100, 85 + d), r)
    inter, na, nb = np.count_nonzero(a & b), a.sum(), b.sum()
    assert dice(a, b) == 2 * inter / (na + nb)
    assert iou(a, b) == inter / np.count_nonzero(a | b)
    # the continuous answer: the lens of two circles of radius r at distance d
    lens = 2 * r * r * math.acos(d / (2 * r)) - d / 2 * math.sqrt(4 * r * r - d * d)
    assert dice(a, b) == pytest.approx(lens / (math.pi * r * r), rel=0.01)
    assert dice(a, b) == pytest.approx(_monai(monai_metrics.compute_dice, a, b), abs=1e-6)
    assert iou(a, b) == pytest.approx(_monai(monai_metrics.compute_iou, a, b), abs=1e-6)
    assert iou(a, b) == pytest.approx(skm.jaccard_score(a.ravel(), b.ravel()), abs=1e-12)


def test_dice_iou_relation_and_empty_policy():
    a = _blobs(0, (64, 64))
    b = _blobs(1, (64, 64))
    d, j = dice(a, b), iou(a, b)
    assert d == pytest.approx(2 * j / (1 + j))
    empty = np.zeros((4, 4), bool)
    assert dice(empty, empty) == 1.0 and iou(empty, empty) == 1.0
    assert np.isnan(dice(empty, empty, empty=np.nan))
    assert dice(empty, ~empty) == 0.0 and iou(~empty, empty) == 0.0
    assert dice(np.ones(5, int), np.ones(5, float)) == 1.0  # 0/1 integers and floats are masks too


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_hausdorff_of_shifted_squares_is_the_shift(k):
    a = np.zeros((40, 40), bool)
    a[10:22, 8:20] = True
    b = np.roll(a, k, axis=1)
    assert hausdorff_distance(a, b) == k
    assert hausdorff_distance(a, b, spacing=(2.0, 0.5)) == k * 0.5
    b2 = np.roll(a, k, axis=0)
    assert hausdorff_distance(a, b2, spacing=(2.0, 0.5)) == k * 2.0
    assert hausdorff_distance(a, b) == pytest.approx(_monai(monai_metrics.compute_hausdorff_distance, a, b))


def test_grown_square_known_surface_distances():
    side = 10
    inner = np.zeros((20, 20), bool)
    inner[5 : 5 + side, 5 : 5 + side] = True
    outer = ndi.binary_dilation(inner, structure=np.ones((3, 3)))
    # inner-surface pixels are 1 from the outer surface; outer-surface pixels 1, except its 4 corners (sqrt 2)
    n_in, n_out = 4 * side - 4, 4 * (side + 2) - 4
    expected_asd = (n_in + (n_out - 4) + 4 * math.sqrt(2)) / (n_in + n_out)
    d_pred_to_true, d_true_to_pred = surface_distances(inner, outer)
    assert d_pred_to_true.size == n_out and d_true_to_pred.size == n_in
    assert hausdorff_distance(inner, outer) == pytest.approx(math.sqrt(2))
    assert average_surface_distance(inner, outer) == pytest.approx(expected_asd)
    assert average_surface_distance(inner, outer, symmetric=False) == pytest.approx((n_out - 4 + 4 * math.sqrt(2)) / n_out)
    assert hd95(inner, outer) == pytest.approx(
        max(np.percentile(d_pred_to_true, 95), np.percentile(d_true_to_pred, 95))
    )
    assert average_surface_distance(inner, outer) == pytest.approx(
        _monai(monai_metrics.compute_average_surface_distance, inner, outer, symmetric=True), abs=1e-6
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_surface_distances_3d_anisotropic_match_monai(seed):
    a, b = _blobs(seed), _blobs(seed + 10)
    sp = (1.5, 0.7, 2.0)
    assert hausdorff_distance(a, b, spacing=sp) == pytest.approx(
        _monai(monai_metrics.compute_hausdorff_distance, a, b, spacing=sp), rel=1e-6
    )
    assert hd95(a, b, spacing=sp) == pytest.approx(
        _monai(monai_metrics.compute_hausdorff_distance, a, b, spacing=sp, percentile=95), rel=1e-6
    )
    assert average_surface_distance(a, b, spacing=sp) == pytest.approx(
        _monai(monai_metrics.compute_average_surface_distance, a, b, spacing=sp, symmetric=True), rel=1e-6
    )
    assert hausdorff_distance(a, b, spacing=sp) >= hd95(a, b, spacing=sp) > 0


def test_surface_distance_empty_policy():
    empty = np.zeros((8, 8), bool)
    full = np.zeros((8, 8), bool)
    full[2:5, 2:5] = True
    for fn in (hausdorff_distance, hd95, average_surface_distance):
        assert fn(empty, empty) == 0.0
        assert fn(empty, full) == math.inf and fn(full, empty) == math.inf
        assert fn(full, full) == 0.0
    assert [d.size for d in surface_distances(empty, full)] == [0, 0]


def test_per_class_dice_iou_match_sklearn():
    rng = np.random.default_rng(3)
    true = rng.integers(0, 4, (30, 30))
    pred = np.where(rng.random((30, 30)) < 0.7, true, rng.integers(0, 4, (30, 30)))
    labels = [1, 2, 3]
    np.testing.assert_allclose(dice_per_class(true, pred), skm.f1_score(true.ravel(), pred.ravel(), labels=labels, average=None))
    np.testing.assert_allclose(iou_per_class(true, pred), skm.jaccard_score(true.ravel(), pred.ravel(), labels=labels, average=None))
    # hand-made: label 5 absent from both -> empty value; label 1 overlap 1 of 2+2
    t = np.array([[1, 1, 0], [0, 2, 2]])
    p = np.array([[1, 0, 1], [0, 2, 2]])
    out = dice_per_class(t, p, labels=[1, 2, 5])
    assert out[0] == 0.5 and out[1] == 1.0 and np.isnan(out[2])
    assert dice_per_class(t, p, labels=[5], empty=1.0).tolist() == [1.0]
    assert iou_per_class(t, p, labels=[1]).tolist() == [1 / 3]


def test_confusion_based_miou_and_pixel_accuracy():
    true = np.array([[0, 0, 1, 1], [2, 2, 2, 255]])
    pred = np.array([[0, 1, 1, 1], [2, 2, 0, 0]])
    cm = segmentation_confusion_matrix(true, pred, 3, ignore_index=255)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 2, 0], [1, 0, 2]])
    # IoU: class0 1/(2+2-1)=1/3, class1 2/(2+3-2)=2/3, class2 2/(3+2-2)=2/3
    np.testing.assert_allclose(iou_from_confusion(cm), [1 / 3, 2 / 3, 2 / 3])
    assert mean_iou(true, pred, 3, ignore_index=255) == pytest.approx(5 / 9)
    np.testing.assert_allclose(accuracy_from_confusion(cm), [1 / 2, 1, 2 / 3])
    assert mean_pixel_accuracy(true, pred, 3, ignore_index=255) == pytest.approx((0.5 + 1 + 2 / 3) / 3)
    assert pixel_accuracy(true, pred, ignore_index=255) == pytest.approx(5 / 7)
    keep = true.ravel() != 255
    t, p = true.ravel()[keep], pred.ravel()[keep]
    np.testing.assert_array_equal(cm, skm.confusion_matrix(t, p, labels=[0, 1, 2]))
    assert mean_iou(true, pred, 3, ignore_index=255) == pytest.approx(skm.jaccard_score(t, p, average="macro"))
    assert mean_pixel_accuracy(true, pred, 3, ignore_index=255) == pytest.approx(skm.balanced_accuracy_score(t, p))
    # a class absent from both maps is skipped, not counted as 0 or 1
    assert mean_iou(true, pred, 5, ignore_index=255) == pytest.approx(5 / 9)


def test_segmentation_bad_inputs():
    a = np.zeros((4, 4), bool)
    with pytest.raises(InvalidInputError, match="shape"):
        dice(a, np.zeros((4, 5), bool))
    with pytest.raises(InvalidInputError, match="NaN"):
        iou(a, np.full((4, 4), np.nan))
    with pytest.raises(InvalidInputError, match="only 0 and 1"):
        dice(a, np.full((4, 4), 0.7))
    with pytest.raises(InvalidInputError, match="not numeric"):
        dice(a.astype(str), a)
    with pytest.raises(InvalidInputError, match="integer"):
        dice_per_class(a.astype(float) + 0.5, a)
    with pytest.raises(InvalidInputError, match="non-negative"):
        iou_per_class(a.astype(int) - 1, a)
    with pytest.raises(InvalidInputError, match="num_classes"):
        mean_iou(np.full((2, 2), 3), np.zeros((2, 2), int), 3)
    with pytest.raises(InvalidInputError, match="spacing"):
        hausdorff_distance(a, a, spacing=(1.0, -1.0))
    with pytest.raises(InvalidInputError, match="spacing"):
        hausdorff_distance(a, a, spacing=(1.0, 1.0, 1.0))
    with pytest.raises(InvalidInputError, match="empty"):
        dice(np.zeros(0), np.zeros(0))


def test_accepts_torch_tensors_and_lists():
    a = _disk((32, 32), (16, 16), 8)
    b = _disk((32, 32), (16, 19), 8)
    assert dice(torch.as_tensor(a), torch.as_tensor(b, dtype=torch.float32)) == dice(a, b)
    assert hausdorff_distance(torch.as_tensor(a), b) == hausdorff_distance(a, b)
    assert iou([[1, 0], [1, 1]], [[1, 0], [0, 1]]) == pytest.approx(2 / 3)


def test_centreline_scores_count_misses_and_inventions_within_the_tolerance():
    from biomedai.metrics import centreline_scores

    ref = np.zeros((30, 60), bool)
    ref[10, 5:55] = True
    shifted = np.roll(ref, 3, axis=0)                        # 3 px off: inside a 4 px tolerance
    assert centreline_scores(ref, shifted) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert centreline_scores(ref, shifted, tolerance=2)["f1"] == 0.0
    half = ref.copy()
    half[10, 30:] = False
    extra = half.copy()
    extra[25, 5:30] = True                                   # a false vessel far from the reference
    s = centreline_scores(ref, extra)
    assert s["recall"] == pytest.approx(29 / 50) and s["precision"] == pytest.approx(25 / 50)
    assert centreline_scores(ref, np.zeros_like(ref))["f1"] == 0.0
