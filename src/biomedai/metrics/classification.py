"""Classification metrics on label vectors and scores (results match scikit-learn's defaults).

``true`` and ``pred`` are 1-D arrays of integer (or bool) class labels. Averages: ``"macro"`` (unweighted
mean over classes), ``"micro"`` (pooled counts), ``"weighted"`` (mean weighted by true class support),
``"binary"`` (the ``pos_label`` class only) and ``None`` (one value per class, in the order of ``labels``;
by default the sorted labels found in ``true`` or ``pred``). A ratio with a zero denominator returns
``zero_division`` (default 0.0, as scikit-learn).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.metrics._validate import as_array, check_finite, check_not_empty, vector

__all__ = [
    "confusion_matrix",
    "accuracy",
    "precision",
    "recall",
    "f1_score",
    "sensitivity",
    "specificity",
    "roc_auc",
]

Average = Literal["macro", "micro", "weighted", "binary"] | None
_AVERAGES = ("macro", "micro", "weighted", "binary", None)


def _labels_pair(true: Any, pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t = vector(true, "true", kind="iub")
    p = vector(pred, "pred", kind="iub")
    if t.shape != p.shape:
        raise InvalidInputError(f"pred: length {p.size} does not match true length {t.size}")
    return t.astype(np.int64), p.astype(np.int64)


def _resolve_labels(t: np.ndarray, p: np.ndarray, labels: Sequence[int] | None) -> np.ndarray:
    if labels is None:
        return np.union1d(t, p)
    lab = np.asarray(labels, dtype=np.int64).ravel()
    if lab.size == 0 or np.unique(lab).size != lab.size:
        raise InvalidInputError(f"labels: must be non-empty and unique, got {list(lab)}")
    return lab


def _cm(t: np.ndarray, p: np.ndarray, lab: np.ndarray) -> np.ndarray:
    order = np.argsort(lab)
    sorted_lab = lab[order]
    k = lab.size

    def position(x: np.ndarray) -> np.ndarray:
        idx = np.clip(np.searchsorted(sorted_lab, x), 0, k - 1)
        found = sorted_lab[idx] == x
        return np.where(found, order[idx], -1)

    it, ip = position(t), position(p)
    keep = (it >= 0) & (ip >= 0)
    return np.bincount(it[keep] * k + ip[keep], minlength=k * k).reshape(k, k)


def confusion_matrix(true: Any, pred: Any, *, labels: Sequence[int] | None = None) -> np.ndarray:
    """Confusion matrix, rows = true class, columns = predicted class, in the order of ``labels``.

    >>> confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2])
    array([[1, 0, 0],
           [0, 1, 1],
           [0, 0, 1]])
    """
    t, p = _labels_pair(true, pred)
    return _cm(t, p, _resolve_labels(t, p, labels))


def accuracy(true: Any, pred: Any) -> float:
    """Fraction of samples whose predicted label is right.

    >>> accuracy([0, 1, 1, 2], [0, 1, 2, 2])
    0.75
    """
    t, p = _labels_pair(true, pred)
    return float(np.mean(t == p))


def _ratio(num: np.ndarray, den: np.ndarray, zero_division: float) -> np.ndarray:
    num, den = np.asarray(num, float), np.asarray(den, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, zero_division)


def _score(
    kind: str,
    true: Any,
    pred: Any,
    average: Average,
    labels: Sequence[int] | None,
    pos_label: int,
    zero_division: float,
) -> float | np.ndarray:
    if average not in _AVERAGES:
        raise InvalidInputError(f"average: expected one of {_AVERAGES}, got {average!r}")
    t, p = _labels_pair(true, pred)
    lab = _resolve_labels(t, p, labels)
    if average == "binary":
        present = np.union1d(t, p)
        if present.size > 2:
            raise InvalidInputError(f"average='binary' needs two classes, found {present.size}; use 'macro'")
        lab = np.array([pos_label])
    full = np.union1d(lab, np.union1d(t, p))
    cm = _cm(t, p, full)
    idx = np.searchsorted(full, lab)
    tp = np.diag(cm)[idx]
    n_pred = cm.sum(axis=0)[idx]
    n_true = cm.sum(axis=1)[idx]
    if average == "micro":
        tp, n_pred, n_true = tp.sum(keepdims=True), n_pred.sum(keepdims=True), n_true.sum(keepdims=True)
    if kind == "precision":
        per = _ratio(tp, n_pred, zero_division)
    elif kind == "recall":
        per = _ratio(tp, n_true, zero_division)
    else:
        per = _ratio(2 * tp, n_pred + n_true, zero_division)
    if average is None:
        return per
    if average == "weighted":
        return float(_ratio((per * n_true).sum(), n_true.sum(), zero_division))
    return float(per.mean())


def precision(
    true: Any,
    pred: Any,
    *,
    average: Average = "macro",
    labels: Sequence[int] | None = None,
    pos_label: int = 1,
    zero_division: float = 0.0,
) -> float | np.ndarray:
    """Precision ``TP / (TP + FP)``; see the module docstring for ``average`` and ``labels``.

    >>> precision([0, 1, 1, 2], [0, 1, 2, 2], average=None)
    array([1. , 1. , 0.5])
    """
    return _score("precision", true, pred, average, labels, pos_label, zero_division)


def recall(
    true: Any,
    pred: Any,
    *,
    average: Average = "macro",
    labels: Sequence[int] | None = None,
    pos_label: int = 1,
    zero_division: float = 0.0,
) -> float | np.ndarray:
    """Recall ``TP / (TP + FN)``; see the module docstring for ``average`` and ``labels``.

    >>> recall([0, 1, 1, 2], [0, 1, 2, 2], average=None)
    array([1. , 0.5, 1. ])
    """
    return _score("recall", true, pred, average, labels, pos_label, zero_division)


def f1_score(
    true: Any,
    pred: Any,
    *,
    average: Average = "macro",
    labels: Sequence[int] | None = None,
    pos_label: int = 1,
    zero_division: float = 0.0,
) -> float | np.ndarray:
    """F1 ``2TP / (2TP + FP + FN)`` per class, then averaged as ``average`` says.

    >>> round(f1_score([0, 1, 1, 2], [0, 1, 2, 2]), 4)
    0.7778
    """
    return _score("f1", true, pred, average, labels, pos_label, zero_division)


def sensitivity(true: Any, pred: Any, *, pos_label: int = 1, zero_division: float = 0.0) -> float:
    """Sensitivity (true positive rate) of the ``pos_label`` class against all others.

    >>> sensitivity([1, 1, 0, 0], [1, 0, 0, 0])
    0.5
    """
    t, p = _labels_pair(true, pred)
    pos = t == pos_label
    return float(_ratio(np.count_nonzero(pos & (p == pos_label)), np.count_nonzero(pos), zero_division))


def specificity(true: Any, pred: Any, *, pos_label: int = 1, zero_division: float = 0.0) -> float:
    """Specificity (true negative rate): negatives (``true != pos_label``) predicted as not ``pos_label``.

    >>> specificity([1, 1, 0, 0], [1, 1, 1, 0])
    0.5
    """
    t, p = _labels_pair(true, pred)
    neg = t != pos_label
    return float(_ratio(np.count_nonzero(neg & (p != pos_label)), np.count_nonzero(neg), zero_division))


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney form of the ROC AUC; tied scores count one half (equals the trapezoidal AUC)."""
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise InvalidInputError("true: ROC AUC is undefined when only one class is present")
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based mean rank of each distinct value
    ranks = average_rank[inverse.ravel()]
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_auc(
    true: Any,
    score: Any,
    *,
    labels: Sequence[int] | None = None,
    average: Literal["macro", "weighted"] | None = "macro",
) -> float | np.ndarray:
    """Area under the ROC curve.

    Binary: ``score`` is 1-D, higher means the larger of the two labels in ``true``. Multi-class:
    ``score`` is ``(n_samples, n_classes)`` with columns in the order of ``labels`` (default: sorted labels
    of ``true``); one-vs-rest AUC per class, then ``average`` (``"macro"``, ``"weighted"`` by prevalence,
    or ``None`` for the per-class array).

    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    t = vector(true, "true", kind="iub").astype(np.int64)
    s = as_array(score, "score")
    check_not_empty(s, "score")
    if s.dtype.kind not in "iufb":
        raise InvalidInputError(f"score: dtype {s.dtype} is not numeric")
    check_finite(s, "score")
    if s.shape[0] != t.size or s.ndim not in (1, 2):
        raise InvalidInputError(f"score: shape {s.shape} does not fit {t.size} samples (expected (n,) or (n, C))")
    present = np.unique(t)
    if s.ndim == 1:
        if present.size == 1:
            raise InvalidInputError("true: ROC AUC is undefined when only one class is present")
        if present.size != 2:
            raise InvalidInputError(f"true: binary ROC AUC needs exactly two classes, found {present.size}")
        return _binary_auc(t == present[1], s.astype(float))
    lab = present if labels is None else np.asarray(labels, dtype=np.int64).ravel()
    if lab.size != s.shape[1]:
        raise InvalidInputError(f"score: {s.shape[1]} columns but {lab.size} classes {lab.tolist()}")
    if not np.all(np.isin(t, lab)):
        raise InvalidInputError("true: holds labels that are not in labels")
    if lab.size == 2:
        return _binary_auc(t == lab[1], s[:, 1].astype(float))
    per = np.array([_binary_auc(t == c, s[:, k].astype(float)) for k, c in enumerate(lab)])
    if average is None:
        return per
    if average == "weighted":
        weights = np.array([np.count_nonzero(t == c) for c in lab], float)
        return float((per * weights).sum() / weights.sum())
    if average == "macro":
        return float(per.mean())
    raise InvalidInputError(f"average: expected 'macro', 'weighted' or None, got {average!r}")
