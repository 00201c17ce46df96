"""Classification metrics: hand-computed answers and scikit-learn / MONAI as references in the same tests."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.metrics import (
    accuracy,
    bootstrap_ci,
    confusion_matrix,
    f1_score,
    precision,
    recall,
    roc_auc,
    sensitivity,
    specificity,
)

skm = pytest.importorskip("sklearn.metrics")

TRUE = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2, 0])
PRED = np.array([0, 1, 1, 1, 0, 2, 2, 1, 2, 0])


def test_hand_computed_multiclass():
    cm = confusion_matrix(TRUE, PRED)
    np.testing.assert_array_equal(cm, [[2, 1, 0], [1, 2, 0], [0, 1, 3]])
    assert accuracy(TRUE, PRED) == 0.7
    np.testing.assert_allclose(precision(TRUE, PRED, average=None), [2 / 3, 2 / 4, 3 / 3])
    np.testing.assert_allclose(recall(TRUE, PRED, average=None), [2 / 3, 2 / 3, 3 / 4])
    np.testing.assert_allclose(f1_score(TRUE, PRED, average=None), [4 / 6, 4 / 7, 6 / 7])
    assert f1_score(TRUE, PRED, average="micro") == pytest.approx(0.7)


@pytest.mark.parametrize("average", ["macro", "micro", "weighted", None])
def test_prf_match_sklearn(average):
    rng = np.random.default_rng(0)
    true = rng.integers(0, 5, 300)
    pred = np.where(rng.random(300) < 0.6, true, rng.integers(0, 5, 300))
    pred[pred == 4] = 3  # class 4 is never predicted: zero_division path
    for ours, ref in ((precision, skm.precision_score), (recall, skm.recall_score), (f1_score, skm.f1_score)):
        np.testing.assert_allclose(ours(true, pred, average=average), ref(true, pred, average=average, zero_division=0))
    labels = [3, 0, 1]
    np.testing.assert_allclose(
        f1_score(true, pred, average=average, labels=labels), skm.f1_score(true, pred, average=average, labels=labels, zero_division=0)
    )
    np.testing.assert_array_equal(confusion_matrix(true, pred, labels=labels), skm.confusion_matrix(true, pred, labels=labels))


def test_binary_sensitivity_specificity():
    true = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    pred = np.array([1, 1, 1, 0, 0, 0, 0, 0, 1, 1])
    assert sensitivity(true, pred) == 0.75
    assert specificity(true, pred) == pytest.approx(4 / 6)
    assert sensitivity(true, pred) == skm.recall_score(true, pred)
    assert specificity(true, pred) == pytest.approx(skm.recall_score(true, pred, pos_label=0))
    assert precision(true, pred, average="binary") == skm.precision_score(true, pred)
    assert f1_score(true.astype(bool), pred.astype(bool), average="binary") == skm.f1_score(true, pred)


def test_roc_auc_binary_and_ovr_match_sklearn_and_monai():
    torch = pytest.importorskip("torch")
    from monai.metrics import compute_roc_auc

    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75  # hand-computed: 3 of 4 pairs ordered
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5  # ties count one half
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    s = np.round(y * 0.8 + rng.random(200), 1)  # rounding creates ties
    assert roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert roc_auc(y, s) == pytest.approx(float(compute_roc_auc(torch.as_tensor(s), torch.as_tensor(y))), abs=1e-6)
    y3 = rng.integers(0, 4, 300)
    logits = rng.random((300, 4)) + np.eye(4)[y3] * 0.7
    prob = logits / logits.sum(1, keepdims=True)
    assert roc_auc(y3, prob) == pytest.approx(skm.roc_auc_score(y3, prob, multi_class="ovr", average="macro"))
    assert roc_auc(y3, prob, average="weighted") == pytest.approx(
        skm.roc_auc_score(y3, prob, multi_class="ovr", average="weighted")
    )
    onehot = torch.as_tensor(np.eye(4)[y3])
    assert roc_auc(y3, prob) == pytest.approx(float(compute_roc_auc(torch.as_tensor(prob), onehot)), abs=1e-6)
    assert roc_auc(y, np.stack([1 - s, s], 1)) == roc_auc(y, s)


def test_bootstrap_ci_is_seeded_and_covers_the_estimate():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 120)
    s = y * 0.5 + rng.random(120)
    a = bootstrap_ci(roc_auc, y, s, n_resamples=300, seed=7)
    b = bootstrap_ci(roc_auc, y, s, n_resamples=300, seed=7)
    assert a == b
    assert a.low < a.estimate < a.high and a.estimate == roc_auc(y, s)
    assert 0.05 < a.high - a.low < 0.3
    # resamples with a single class are skipped, not fatal
    tiny = bootstrap_ci(roc_auc, [0, 1, 1, 1, 1, 1], [0.1, 0.9, 0.8, 0.7, 0.6, 0.95], n_resamples=200)
    assert tiny.n_resamples < 200


def test_classification_bad_inputs():
    with pytest.raises(InvalidInputError, match="length"):
        accuracy([0, 1], [0, 1, 1])
    with pytest.raises(InvalidInputError, match="1-D"):
        f1_score([[0, 1]], [[0, 1]])
    with pytest.raises(InvalidInputError, match="not allowed"):
        precision([0.5, 1.0], [0, 1])
    with pytest.raises(InvalidInputError, match="NaN"):
        roc_auc([0, 1], [np.nan, 0.3])
    with pytest.raises(InvalidInputError, match="one class"):
        roc_auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(InvalidInputError, match="columns"):
        roc_auc([0, 1, 2], np.ones((3, 4)))
    with pytest.raises(InvalidInputError, match="average"):
        recall([0, 1], [0, 1], average="samples")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="two classes"):
        precision([0, 1, 2], [0, 1, 2], average="binary")
