"""Instance metrics: hand-computed toy label maps, MONAI's PQ and a plain per-object AJI written from the paper."""
from __future__ import annotations


import numpy as np
import pytest
from scipy import ndimage as ndi

from biomedai.errors import InvalidInputError
from biomedai.metrics import (
    aji,
    aji_plus,
    instance_iou_matrix,
    match_instances,
    object_detection_scores,
    object_dice,
    object_f1,
    object_hausdorff,
    panoptic_quality,
)

# true: A (1) 6 px, B (2) 4 px, C (3) 2 px.  pred: P1 inside A (4 px), P4 covers B plus 2 px, P7 a stray pixel.
TRUE = np.array(
    [
        [1, 1, 1, 0, 0, 0],
        [1, 1, 1, 0, 2, 2],
        [0, 0, 0, 0, 2, 2],
        [3, 3, 0, 0, 0, 0],
    ]
)
PRED = np.array(
    [
        [1, 1, 0, 0, 0, 0],
        [1, 1, 0, 0, 4, 4],
        [0, 0, 0, 0, 4, 4],
        [0, 0, 0, 7, 4, 4],
    ]
)


def kumar_aji(true: np.ndarray, pred: np.ndarray) -> float:
    """AJI exactly as Kumar et al. (2017) describe it, one mask at a time (slow, for checking only)."""
    inter_sum = union_sum = 0
    used = set()
    for g in np.unique(true[true > 0]):
        gm = true == g
        best, best_iou = None, 0.0
        for s in np.unique(pred[pred > 0]):
            sm = pred == s
            j = np.count_nonzero(gm & sm) / np.count_nonzero(gm | sm)
            if j > best_iou:
                best, best_iou = s, j
        if best is None:
            union_sum += np.count_nonzero(gm)
            continue
        sm = pred == best
        inter_sum += np.count_nonzero(gm & sm)
        union_sum += np.count_nonzero(gm | sm)
        used.add(best)
    for s in np.unique(pred[pred > 0]):
        if s not in used:
            union_sum += np.count_nonzero(pred == s)
    return inter_sum / union_sum


def _monai_pq(true: np.ndarray, pred: np.ndarray, **kw) -> np.ndarray:
    torch = pytest.importorskip("torch")
    from monai.metrics import compute_panoptic_quality

    return compute_panoptic_quality(
        torch.as_tensor(pred.astype(np.int32)), torch.as_tensor(true.astype(np.int32)), output_confusion_matrix=True, **kw
    ).numpy()


def _random_instances(seed: int, shape=(96, 96)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    field = ndi.gaussian_filter(rng.random(shape), 2.5)
    true, _ = ndi.label(field > np.quantile(field, 0.75))
    noisy = ndi.gaussian_filter(field + 0.02 * rng.standard_normal(shape), 1.0)
    pred, _ = ndi.label(noisy > np.quantile(noisy, 0.72))
    return true, pred * 3  # non-consecutive pred ids on purpose


def test_toy_maps_hand_computed():
    pq = panoptic_quality(TRUE, PRED)
    assert (pq.tp, pq.fp, pq.fn) == (2, 1, 1)
    assert pq.dq == pytest.approx(2 / 3) and pq.sq == pytest.approx(2 / 3) and pq.pq == pytest.approx(4 / 9)
    assert aji(TRUE, PRED) == pytest.approx(8 / 15)
    assert aji_plus(TRUE, PRED) == pytest.approx(8 / 15)
    assert object_f1(TRUE, PRED) == pytest.approx(2 / 3)
    assert object_f1(TRUE, PRED, match="centroid") == pytest.approx(2 / 3)
    s = object_detection_scores(TRUE, PRED)
    assert (s.tp, s.fp, s.fn, s.precision, s.recall) == (2, 1, 1, 2 / 3, 2 / 3)
    assert object_dice(TRUE, PRED) == pytest.approx(23 / 33)
    assert aji(TRUE, PRED) == pytest.approx(kumar_aji(TRUE, PRED))
    tp, fp, fn, iou_sum = _monai_pq(TRUE, PRED)
    assert (tp, fp, fn) == (2, 1, 1) and iou_sum == pytest.approx(4 / 3, abs=1e-6)


def test_match_instances_pairs_and_hungarian_below_half():
    m = match_instances(TRUE, PRED)
    assert m.true_ids.tolist() == [1, 2] and m.pred_ids.tolist() == [1, 4]
    np.testing.assert_allclose(m.iou, [2 / 3, 2 / 3])
    assert m.unmatched_true.tolist() == [3] and m.unmatched_pred.tolist() == [7]
    # one prediction over two true objects: IoU 0.5 and 0.25; only one may be matched, and only below 0.5
    t = np.array([[1, 1, 2, 2, 2, 2, 2, 2]])
    p = np.array([[5, 5, 5, 5, 0, 0, 0, 0]])
    assert match_instances(t, p).true_ids.size == 0
    low = match_instances(t, p, iou_threshold=0.2)
    assert low.true_ids.tolist() == [1] and low.pred_ids.tolist() == [5] and low.iou.tolist() == [0.5]
    matrix, t_ids, p_ids = instance_iou_matrix(t, p)
    np.testing.assert_allclose(matrix, [[0.5], [2 / 8]])
    assert t_ids.tolist() == [1, 2] and p_ids.tolist() == [5]


def test_aji_plus_differs_from_aji_on_merged_prediction():
    t = np.array([[1, 1, 2, 2]])
    p = np.array([[1, 1, 1, 1]])
    assert aji(t, p) == pytest.approx(4 / 8) == pytest.approx(kumar_aji(t, p))
    assert aji_plus(t, p) == pytest.approx(2 / 6)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_maps_agree_with_references(seed):
    true, pred = _random_instances(seed)
    assert aji(true, pred) == pytest.approx(kumar_aji(true, pred), abs=1e-12)
    pq = panoptic_quality(true, pred)
    tp, fp, fn, iou_sum = _monai_pq(true, pred)
    assert (pq.tp, pq.fp, pq.fn) == (tp, fp, fn)
    assert pq.iou_sum == pytest.approx(iou_sum, rel=1e-5)
    assert pq.pq == pytest.approx(pq.dq * pq.sq)
    pq3 = panoptic_quality(true, pred, iou_threshold=0.3)
    tp3, fp3, fn3, iou3 = _monai_pq(true, pred, match_iou_threshold=0.3)
    assert (pq3.tp, pq3.fp, pq3.fn) == (tp3, fp3, fn3) and pq3.iou_sum == pytest.approx(iou3, rel=1e-5)
    assert 0.0 < aji_plus(true, pred) <= 1.0
    assert object_f1(true, pred) == pytest.approx(2 * tp / (2 * tp + fp + fn))


def test_identity_and_relabelling_give_perfect_scores():
    true, _ = _random_instances(5)
    perm = np.concatenate([[0], np.random.default_rng(0).permutation(np.arange(1, true.max() + 1)) + 100])
    relabelled = perm[true]
    for fn in (aji, aji_plus, object_f1, object_dice):
        assert fn(true, relabelled) == pytest.approx(1.0), fn.__name__
    assert panoptic_quality(true, relabelled).pq == pytest.approx(1.0)
    assert object_hausdorff(true, relabelled) == 0.0


def test_object_hausdorff_known_shifts():
    t = np.zeros((30, 40), int)
    t[5:15, 2:12] = 1
    t[18:28, 20:30] = 2
    p = np.zeros_like(t)
    p[5:15, 3:13] = 7  # object 1 shifted by 1
    p[18:28, 23:33] = 9  # object 2 shifted by 3
    assert object_hausdorff(t, p) == pytest.approx((1 + 3) / 2)
    assert object_hausdorff(t, p, spacing=0.5) == pytest.approx(1.0)
    far = np.zeros_like(t)
    far[5:15, 22:32] = 4  # overlaps nothing: partner is the nearest object
    one = np.where(t == 1, 1, 0)
    assert object_hausdorff(one, far) == pytest.approx(20.0)
    assert object_dice(one, far) == 0.0


def test_empty_policies():
    z = np.zeros((5, 5), int)
    assert aji(z, z) == 1.0 and aji_plus(z, z, empty=0.0) == 0.0
    assert panoptic_quality(z, z).pq == 1.0 and object_f1(z, z) == 1.0 and object_dice(z, z) == 1.0
    assert object_hausdorff(z, z) == 0.0
    one = z.copy()
    one[1:3, 1:3] = 1
    assert aji(one, z) == 0.0 and panoptic_quality(z, one).pq == 0.0 and object_f1(one, z) == 0.0
    assert object_dice(z, one) == 0.0 and object_hausdorff(one, z) == np.inf


def test_instance_bad_inputs():
    with pytest.raises(InvalidInputError, match="shape"):
        aji(TRUE, PRED[:, :5])
    with pytest.raises(InvalidInputError, match="non-negative"):
        panoptic_quality(-TRUE, PRED)
    with pytest.raises(InvalidInputError, match="integer"):
        object_dice(TRUE + 0.5, PRED)
    with pytest.raises(InvalidInputError, match="iou_threshold"):
        match_instances(TRUE, PRED, iou_threshold=1.5)
    with pytest.raises(InvalidInputError, match="match"):
        object_f1(TRUE, PRED, match="overlap")  # type: ignore[arg-type]
