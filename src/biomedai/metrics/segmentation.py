"""Semantic segmentation metrics: overlap (Dice, IoU, mIoU, pixel accuracy) and surface distances.

Conventions
-----------
* Arguments are ``(true, pred)``: the reference first, the prediction second.
* Binary masks are bool arrays or numeric arrays holding only 0 and 1; label maps are non-negative integers.
* **Both masks empty**: ``dice`` and ``iou`` return ``empty`` (default ``1.0``: two empty masks agree perfectly);
  the per-class functions default to ``empty=nan`` so that a class absent from both maps drops out of a
  ``nanmean``. Surface distances return ``0.0`` when both masks are empty and ``inf`` when exactly one is.
* Surface distances follow MONAI: a surface voxel is a foreground voxel removed by one binary erosion with the
  face-connected structuring element; distances are Euclidean in physical units (``spacing``, one value per
  axis in array order).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from biomedai.errors import InvalidInputError
from biomedai.metrics._validate import label_pair, mask_pair, spacing_for

__all__ = [
    "dice",
    "iou",
    "dice_per_class",
    "iou_per_class",
    "segmentation_confusion_matrix",
    "iou_from_confusion",
    "accuracy_from_confusion",
    "mean_iou",
    "mean_pixel_accuracy",
    "pixel_accuracy",
    "surface_distances",
    "hausdorff_distance",
    "hd95",
    "average_surface_distance",
    "cldice",
    "centreline_scores",
]


def dice(true: Any, pred: Any, *, empty: float = 1.0) -> float:
    """Dice coefficient ``2|T∩P| / (|T|+|P|)`` of two binary masks; ``empty`` when both are empty.

    >>> dice([1, 1, 0, 0], [1, 0, 0, 0])
    0.6666666666666666
    """
    t, p = mask_pair(true, pred)
    total = int(t.sum()) + int(p.sum())
    if total == 0:
        return float(empty)
    return 2.0 * int(np.count_nonzero(t & p)) / total


def iou(true: Any, pred: Any, *, empty: float = 1.0) -> float:
    """Intersection over union (Jaccard index) of two binary masks; ``empty`` when both are empty.

    >>> iou([1, 1, 0, 0], [1, 0, 0, 0])
    0.5
    """
    t, p = mask_pair(true, pred)
    union = int(np.count_nonzero(t | p))
    if union == 0:
        return float(empty)
    return int(np.count_nonzero(t & p)) / union


def _pair_counts(t: np.ndarray, p: np.ndarray, labels: Sequence[int] | None) -> tuple[np.ndarray, ...]:
    """Per-label intersection, |true == l| and |pred == l| for the requested labels."""
    values, inverse = np.unique(np.concatenate([t.ravel(), p.ravel()]), return_inverse=True)
    n = values.size
    it, ip = inverse[: t.size], inverse[t.size :]
    cm = np.bincount(it * n + ip, minlength=n * n).reshape(n, n)
    if labels is None:
        labels_arr = values[values != 0]
    else:
        labels_arr = np.asarray(labels, dtype=np.int64).ravel()
    pos = np.searchsorted(values, labels_arr)
    pos_c = np.clip(pos, 0, n - 1)
    present = (pos < n) & (values[pos_c] == labels_arr)
    inter = np.where(present, cm[pos_c, pos_c], 0)
    n_true = np.where(present, cm.sum(axis=1)[pos_c], 0)
    n_pred = np.where(present, cm.sum(axis=0)[pos_c], 0)
    return labels_arr, inter, n_true, n_pred


def dice_per_class(
    true: Any, pred: Any, labels: Sequence[int] | None = None, *, empty: float = np.nan
) -> np.ndarray:
    """Dice of every label of two label maps; ``labels`` defaults to all non-zero labels present in either.

    A label absent from both maps gets ``empty`` (default NaN, so ``np.nanmean`` skips it).

    >>> dice_per_class([0, 1, 1, 2], [0, 1, 2, 2])
    array([0.66666667, 0.66666667])
    """
    t, p = label_pair(true, pred)
    _, inter, n_true, n_pred = _pair_counts(t, p, labels)
    denom = (n_true + n_pred).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(denom > 0, 2.0 * inter / denom, empty)
    return out.astype(float)


def iou_per_class(
    true: Any, pred: Any, labels: Sequence[int] | None = None, *, empty: float = np.nan
) -> np.ndarray:
    """IoU of every label of two label maps (see :func:`dice_per_class` for ``labels`` and ``empty``).

    >>> iou_per_class([0, 1, 1, 2], [0, 1, 2, 2])
    array([0.5, 0.5])
    """
    t, p = label_pair(true, pred)
    _, inter, n_true, n_pred = _pair_counts(t, p, labels)
    union = (n_true + n_pred - inter).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(union > 0, inter / union, empty)
    return out.astype(float)


def segmentation_confusion_matrix(
    true: Any, pred: Any, num_classes: int, *, ignore_index: int | None = None
) -> np.ndarray:
    """``(num_classes, num_classes)`` pixel confusion matrix, rows = true class, columns = predicted class.

    Pixels whose true label is ``ignore_index`` are left out. Sum matrices over images to get
    data-set level mIoU, as mmsegmentation does.

    >>> segmentation_confusion_matrix([0, 1, 1], [0, 1, 0], 2)
    array([[1, 0],
           [1, 1]])
    """
    t, p = label_pair(true, pred)
    if int(num_classes) < 1:
        raise InvalidInputError(f"num_classes: must be at least 1, got {num_classes}")
    k = int(num_classes)
    keep = np.ones(t.shape, bool) if ignore_index is None else t != ignore_index
    t, p = t[keep].astype(np.int64), p[keep].astype(np.int64)
    for arr, name in ((t, "true"), (p, "pred")):
        if arr.size and arr.max() >= k:
            raise InvalidInputError(f"{name}: label {arr.max()} is not below num_classes={k}")
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def _check_confusion(cm: Any) -> np.ndarray:
    arr = np.asarray(cm)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.dtype.kind not in "iuf" or np.any(arr < 0):
        raise InvalidInputError(f"confusion matrix: expected a square non-negative matrix, got shape {arr.shape}")
    return arr.astype(float)


def iou_from_confusion(cm: Any) -> np.ndarray:
    """Per-class IoU ``TP / (TP + FP + FN)`` from a confusion matrix; NaN for a class absent from both.

    >>> iou_from_confusion([[1, 0], [1, 1]])
    array([0.5, 0.5])
    """
    m = _check_confusion(cm)
    tp = np.diag(m)
    union = m.sum(axis=0) + m.sum(axis=1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def accuracy_from_confusion(cm: Any) -> np.ndarray:
    """Per-class pixel accuracy (recall) ``TP / (TP + FN)``; NaN for a class with no true pixels.

    >>> accuracy_from_confusion([[1, 0], [1, 1]])
    array([1. , 0.5])
    """
    m = _check_confusion(cm)
    support = m.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(m) / support, np.nan)


def _nanmean(values: np.ndarray) -> float:
    return float(np.nanmean(values)) if np.any(~np.isnan(values)) else float("nan")


def mean_iou(true: Any, pred: Any, num_classes: int, *, ignore_index: int | None = None) -> float:
    """Mean IoU over classes present in either map (classes absent from both are skipped).

    >>> mean_iou([0, 1, 1], [0, 1, 0], 2)
    0.5
    """
    return _nanmean(iou_from_confusion(segmentation_confusion_matrix(true, pred, num_classes, ignore_index=ignore_index)))


def mean_pixel_accuracy(true: Any, pred: Any, num_classes: int, *, ignore_index: int | None = None) -> float:
    """Mean over classes (with true pixels) of per-class pixel accuracy.

    >>> mean_pixel_accuracy([0, 1, 1], [0, 1, 0], 2)
    0.75
    """
    cm = segmentation_confusion_matrix(true, pred, num_classes, ignore_index=ignore_index)
    return _nanmean(accuracy_from_confusion(cm))


def pixel_accuracy(true: Any, pred: Any, *, ignore_index: int | None = None) -> float:
    """Fraction of (non-ignored) pixels whose label is right.

    >>> pixel_accuracy([0, 1, 1], [0, 1, 0])
    0.6666666666666666
    """
    t, p = label_pair(true, pred)
    keep = np.ones(t.shape, bool) if ignore_index is None else t != ignore_index
    n = int(keep.sum())
    if n == 0:
        raise InvalidInputError("true: every pixel is ignore_index; accuracy is undefined")
    return int(np.count_nonzero((t == p) & keep)) / n


# --------------------------------------------------------------------------- surface distances


def _surface(mask: np.ndarray) -> np.ndarray:
    structure = ndi.generate_binary_structure(mask.ndim, 1)
    return mask & ~ndi.binary_erosion(mask, structure=structure, border_value=0)


def _surface_distances(t: np.ndarray, p: np.ndarray, sp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distances pred-surface -> true-surface and true-surface -> pred-surface; both masks non-empty."""
    union = t | p
    box = ndi.find_objects(union.astype(np.uint8))[0]  # the crop holds both surfaces, so distances are exact
    t, p = t[box], p[box]
    st, sp_ = _surface(t), _surface(p)
    to_true = ndi.distance_transform_edt(~st, sampling=sp)
    to_pred = ndi.distance_transform_edt(~sp_, sampling=sp)
    return to_true[sp_], to_pred[st]


def surface_distances(
    true: Any, pred: Any, *, spacing: float | Sequence[float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Distances from each pred surface voxel to the true surface, and from each true surface voxel to pred.

    Returns two 1-D arrays ``(pred_to_true, true_to_pred)``; both are empty if either mask is empty.

    >>> a = np.zeros((5, 5), bool); a[1:4, 1:4] = True
    >>> [float(d.max()) for d in surface_distances(a, a)]
    [0.0, 0.0]
    """
    t, p = mask_pair(true, pred)
    sp = spacing_for(spacing, t.ndim)
    if not t.any() or not p.any():
        return np.zeros(0), np.zeros(0)
    return _surface_distances(t, p, sp)


def _directed(true: Any, pred: Any, spacing: Any) -> tuple[np.ndarray, np.ndarray] | float:
    """The two distance sets, or the empty-mask answer (0.0 both empty, inf one empty)."""
    t, p = mask_pair(true, pred)
    sp = spacing_for(spacing, t.ndim)
    has_t, has_p = bool(t.any()), bool(p.any())
    if not has_t and not has_p:
        return 0.0
    if has_t != has_p:
        return float("inf")
    return _surface_distances(t, p, sp)


def hausdorff_distance(true: Any, pred: Any, *, spacing: float | Sequence[float] | None = None) -> float:
    """Symmetric Hausdorff distance between the surfaces of two binary masks, in ``spacing`` units.

    0.0 when both masks are empty, ``inf`` when exactly one is.

    >>> a = np.zeros((9, 9), bool); a[2:6, 2:6] = True
    >>> hausdorff_distance(a, np.roll(a, 2, axis=1))
    2.0
    """
    d = _directed(true, pred, spacing)
    if isinstance(d, float):
        return d
    return float(max(d[0].max(), d[1].max()))


def hd95(
    true: Any, pred: Any, *, spacing: float | Sequence[float] | None = None, percentile: float = 95.0
) -> float:
    """Robust Hausdorff distance: the larger of the two directed 95th-percentile surface distances.

    This is MONAI's ``compute_hausdorff_distance(percentile=95)`` (linear percentile of each direction,
    then the maximum); medpy pools both directions first, which can give slightly different values.
    Empty masks as in :func:`hausdorff_distance`.

    >>> a = np.zeros((9, 9), bool); a[2:6, 2:6] = True
    >>> hd95(a, a)
    0.0
    """
    if not 0.0 <= percentile <= 100.0:
        raise InvalidInputError(f"percentile: must lie in [0, 100], got {percentile}")
    d = _directed(true, pred, spacing)
    if isinstance(d, float):
        return d
    return float(max(np.percentile(d[0], percentile), np.percentile(d[1], percentile)))


def average_surface_distance(
    true: Any, pred: Any, *, spacing: float | Sequence[float] | None = None, symmetric: bool = True
) -> float:
    """Mean surface distance; ``symmetric`` pools both directions (MONAI's definition), else pred -> true.

    Empty masks as in :func:`hausdorff_distance`.

    >>> a = np.zeros((9, 9), bool); a[2:6, 2:6] = True
    >>> average_surface_distance(a, a)
    0.0
    """
    d = _directed(true, pred, spacing)
    if isinstance(d, float):
        return d
    pooled = np.concatenate(d) if symmetric else d[0]
    return float(pooled.mean())


def cldice(true: Any, pred: Any, *, empty: float = 1.0) -> float:
    """Centreline Dice (Shit et al., CVPR 2021) of two binary masks (2-D or 3-D).

    ``Tprec = |skel(pred) & true| / |skel(pred)|`` and ``Tsens = |skel(true) & pred| / |skel(true)|``;
    clDice is their harmonic mean. Skeletons by :func:`skimage.morphology.skeletonize`.
    Both masks empty gives ``empty``; exactly one empty gives 0.

    >>> a = np.zeros((9, 20), bool); a[3:6, 2:18] = True
    >>> cldice(a, a)
    1.0
    """
    from skimage.morphology import skeletonize

    t, p = mask_pair(true, pred)
    if not t.any() and not p.any():
        return float(empty)
    if not t.any() or not p.any():
        return 0.0
    skel_p, skel_t = skeletonize(p), skeletonize(t)
    tprec = float((skel_p & t).sum()) / max(float(skel_p.sum()), 1.0)
    tsens = float((skel_t & p).sum()) / max(float(skel_t.sum()), 1.0)
    return 0.0 if tprec + tsens == 0 else 2 * tprec * tsens / (tprec + tsens)


def centreline_scores(true: Any, pred: Any, *, tolerance: float = 4.0) -> dict[str, float]:
    """Completeness, correctness and their harmonic mean of a traced centreline against a reference one.

    Both arguments are one-pixel-wide centrelines (skeletons or rasterised polylines) of the same shape.
    ``recall`` (completeness) is the fraction of reference pixels within ``tolerance`` pixels of the
    prediction, ``precision`` (correctness) the fraction of predicted pixels within ``tolerance`` of the
    reference (the buffer method of road-extraction evaluation, Wiedemann et al. 1998); ``f1`` their
    harmonic mean. An empty side gives 0 for the scores that need it (both empty: all 1).

    >>> a = np.zeros((9, 20), bool); a[4, 2:18] = True
    >>> b = np.zeros_like(a); b[6, 2:10] = True
    >>> centreline_scores(a, b)
    {'precision': 1.0, 'recall': 0.6875, 'f1': 0.8148148148148148}
    """
    t, p = mask_pair(true, pred)
    if not t.any() and not p.any():
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    if not t.any() or not p.any():
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    recall = float((ndi.distance_transform_edt(~p)[t] <= tolerance).mean())
    precision = float((ndi.distance_transform_edt(~t)[p] <= tolerance).mean())
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1}
