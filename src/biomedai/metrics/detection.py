"""Detection metrics: box IoU, greedy matching, FROC and COCO-style average precision (boxes and masks).

Boxes are ``(n, 2*d)`` arrays ``[min_0, ..., min_{d-1}, max_0, ..., max_{d-1}]`` in any consistent axis
order, e.g. ``(x1, y1, x2, y2)`` as torchvision and MONAI use; the box area is the product of the extents
(no +1). Per-image inputs are sequences with one entry per image.

COCO AP reproduces ``pycocotools.cocoeval.COCOeval`` (no crowd regions): IoU thresholds 0.50:0.05:0.95,
101 recall points, at most ``max_detections[-1]`` detections per image and class, area ranges for
small/medium/large. Undefined values are NaN (pycocotools prints -1).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.metrics._validate import as_array, check_finite, label_map, vector

__all__ = [
    "FROCCurve",
    "COCO_AREA_RANGES",
    "FROC_FP_RATES",
    "box_iou",
    "match_detections",
    "match_points_to_regions",
    "froc_curve",
    "froc_from_boxes",
    "froc_from_points",
    "froc_sensitivities",
    "froc_score",
    "coco_average_precision",
    "coco_mask_average_precision",
]

COCO_AREA_RANGES: dict[str, tuple[float, float]] = {
    "all": (0.0, 1e5**2),
    "small": (0.0, 32.0**2),
    "medium": (32.0**2, 96.0**2),
    "large": (96.0**2, 1e5**2),
}
FROC_FP_RATES: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # LUNA16; CAMELYON16 uses 0.25..8


class FROCCurve(NamedTuple):
    """Operating points in order of decreasing score threshold (the first point is ``(0, 0)`` at ``inf``)."""

    fps_per_image: np.ndarray
    sensitivity: np.ndarray
    thresholds: np.ndarray


# --------------------------------------------------------------------------- boxes


def _boxes(x: Any, name: str, ndim: int | None = None) -> np.ndarray:
    arr = as_array(x, name)
    if arr.size == 0:
        return np.zeros((0, 2 * (ndim or 2)))
    if arr.ndim != 2 or arr.shape[1] % 2 or arr.dtype.kind not in "iuf":
        raise InvalidInputError(f"{name}: expected numeric boxes of shape (n, 2*d), got {arr.shape} {arr.dtype}")
    check_finite(arr, name)
    d = arr.shape[1] // 2
    if ndim is not None and d != ndim:
        raise InvalidInputError(f"{name}: boxes are {d}-D but the others are {ndim}-D")
    if np.any(arr[:, d:] < arr[:, :d]):
        raise InvalidInputError(f"{name}: a box has max < min; boxes are [mins..., maxs...]")
    return arr.astype(float)


def box_iou(boxes1: Any, boxes2: Any) -> np.ndarray:
    """IoU matrix ``(n1, n2)`` of two sets of axis-aligned boxes ``[mins..., maxs...]`` (2-D or 3-D).

    >>> box_iou([[0, 0, 2, 2]], [[1, 1, 3, 3], [0, 0, 2, 2]])
    array([[0.14285714, 1.        ]])
    """
    a = _boxes(boxes1, "boxes1")
    b = _boxes(boxes2, "boxes2", a.shape[1] // 2)
    d = a.shape[1] // 2
    lo = np.maximum(a[:, None, :d], b[None, :, :d])
    hi = np.minimum(a[:, None, d:], b[None, :, d:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=2)
    area_a = np.prod(a[:, d:] - a[:, :d], axis=1)
    area_b = np.prod(b[:, d:] - b[:, :d], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def match_detections(true_boxes: Any, pred_boxes: Any, pred_scores: Any, *, iou_threshold: float = 0.5) -> np.ndarray:
    """Greedy matching of scored boxes to true boxes.

    Greedy matching by descending score: each prediction takes the unmatched true box of highest IoU
    (>= ``iou_threshold``). Returns a bool array, True where a prediction is a true positive (input order).

    >>> match_detections([[0, 0, 2, 2]], [[0, 0, 2, 2], [0, 0, 2, 1]], [0.5, 0.9]).tolist()
    [False, True]
    """
    p = _boxes(pred_boxes, "pred_boxes")
    t = _boxes(true_boxes, "true_boxes", p.shape[1] // 2)
    s = _scores(pred_scores, p.shape[0], "pred_scores")
    is_tp = np.zeros(p.shape[0], bool)
    if t.shape[0] == 0 or p.shape[0] == 0:
        return is_tp
    ious = box_iou(p, t)
    free = np.ones(t.shape[0], bool)
    for i in np.argsort(-s, kind="mergesort"):
        cand = np.where(free, ious[i], -1.0)
        j = int(np.argmax(cand))
        if cand[j] >= iou_threshold:
            is_tp[i] = True
            free[j] = False
    return is_tp


def _scores(x: Any, n: int, name: str) -> np.ndarray:
    arr = as_array(x, name).astype(float).ravel() if np.size(x) else np.zeros(0)
    if arr.size != n:
        raise InvalidInputError(f"{name}: {arr.size} scores for {n} detections")
    check_finite(arr, name)
    return arr


# --------------------------------------------------------------------------- FROC


def match_points_to_regions(scores: Any, coords: Any, regions: Any) -> tuple[np.ndarray, np.ndarray, int]:
    """CAMELYON16 hit rule for point detections on one image.

    A point inside a labelled region hits it; each hit region is one TP carrying the highest score of its
    points (further points in it are neither TP nor FP); points on background (0) are FPs. ``coords`` are
    integer voxel indices ``(n, ndim)`` in array order. Returns ``(scores, is_tp, n_targets)`` to pool
    over images for :func:`froc_curve`.

    >>> r = np.zeros((4, 4), int); r[0, 0] = 1; r[3, 3] = 2
    >>> s, tp, n = match_points_to_regions([0.9, 0.8, 0.3], [[0, 0], [0, 0], [1, 1]], r)
    >>> s.tolist(), tp.tolist(), n
    ([0.3, 0.9], [False, True], 2)
    """
    lab = label_map(regions, "regions")
    c = as_array(coords, "coords")
    n_pts = c.shape[0] if c.ndim == 2 else (0 if c.size == 0 else -1)
    if c.size and (c.ndim != 2 or c.shape[1] != lab.ndim or c.dtype.kind not in "iu"):
        raise InvalidInputError(f"coords: expected integer indices of shape (n, {lab.ndim}), got {c.shape} {c.dtype}")
    s = _scores(scores, max(n_pts, 0), "scores")
    ids = np.unique(lab)
    ids = ids[ids > 0]
    if s.size == 0:
        return np.zeros(0), np.zeros(0, bool), int(ids.size)
    if np.any(c < 0) or np.any(c >= np.array(lab.shape)):
        raise InvalidInputError(f"coords: a point lies outside the region map of shape {lab.shape}")
    hit = lab[tuple(c.T)]
    fp_scores = s[hit == 0]
    order = np.lexsort((-s, hit))  # by region, best score first
    hit_sorted = hit[order]
    first = np.ones(order.size, bool)
    first[1:] = hit_sorted[1:] != hit_sorted[:-1]
    tp_scores = s[order[first & (hit_sorted > 0)]]
    out_scores = np.concatenate([fp_scores, tp_scores])
    is_tp = np.concatenate([np.zeros(fp_scores.size, bool), np.ones(tp_scores.size, bool)])
    return out_scores, is_tp, int(ids.size)


def froc_curve(scores: Any, is_tp: Any, n_targets: int, n_images: int) -> FROCCurve:
    """FROC operating points from pooled detections.

    FROC operating points from pooled detections: at every score threshold, mean FPs per image and
    sensitivity (TPs / ``n_targets``). Detections with score >= threshold are kept.

    >>> c = froc_curve([0.9, 0.8, 0.4], [True, False, True], n_targets=2, n_images=1)
    >>> c.fps_per_image.tolist(), c.sensitivity.tolist()
    ([0.0, 0.0, 1.0, 1.0], [0.0, 0.5, 0.5, 1.0])
    """
    if int(n_targets) < 1 or int(n_images) < 1:
        raise InvalidInputError(f"n_targets and n_images must be >= 1, got {n_targets} and {n_images}")
    tp = as_array(is_tp, "is_tp").astype(bool).ravel() if np.size(is_tp) else np.zeros(0, bool)
    s = _scores(scores, tp.size, "scores")
    if int(tp.sum()) > int(n_targets):
        raise InvalidInputError(f"is_tp: {int(tp.sum())} true positives for only {n_targets} targets")
    order = np.argsort(-s, kind="mergesort")
    s, tp = s[order], tp[order]
    last = np.ones(s.size, bool)  # the last detection of each distinct score closes one operating point
    last[:-1] = s[1:] != s[:-1]
    cum_tp = np.cumsum(tp)[last]
    cum_fp = np.cumsum(~tp)[last]
    fps = np.concatenate([[0.0], cum_fp / float(n_images)])
    sens = np.concatenate([[0.0], cum_tp / float(n_targets)])
    return FROCCurve(fps, sens, np.concatenate([[np.inf], s[last]]))


def froc_sensitivities(curve: FROCCurve, fp_rates: Sequence[float] = FROC_FP_RATES) -> np.ndarray:
    """Sensitivity at given mean false-positive rates per image.

    Sensitivity at given mean-FP-per-image rates, linearly interpolated (as CAMELYON16 and MONAI);
    rates beyond the curve get its last sensitivity.

    >>> c = froc_curve([0.9, 0.8, 0.4], [True, False, True], n_targets=2, n_images=1)
    >>> froc_sensitivities(c, [0.5, 1, 2]).tolist()
    [0.5, 1.0, 1.0]
    """
    rates = np.asarray(fp_rates, float)
    if rates.ndim != 1 or rates.size == 0 or np.any(rates < 0):
        raise InvalidInputError(f"fp_rates: expected non-negative rates, got {fp_rates}")
    return np.interp(rates, curve.fps_per_image, curve.sensitivity)


def froc_score(curve: FROCCurve, fp_rates: Sequence[float] = FROC_FP_RATES) -> float:
    """Mean of :func:`froc_sensitivities` (the CAMELYON16/LUNA16 FROC score).

    >>> c = froc_curve([0.9, 0.8, 0.4], [True, False, True], n_targets=2, n_images=1)
    >>> froc_score(c, [0.5, 2])
    0.75
    """
    return float(np.mean(froc_sensitivities(curve, fp_rates)))


def froc_from_points(
    scores: Sequence[Any], coords: Sequence[Any], regions: Sequence[Any]
) -> FROCCurve:
    """FROC over images of point detections scored with :func:`match_points_to_regions`."""
    if not len(scores) == len(coords) == len(regions):
        raise InvalidInputError("scores, coords and regions need one entry per image")
    parts = [match_points_to_regions(s, c, r) for s, c, r in zip(scores, coords, regions)]
    n_targets = sum(p[2] for p in parts)
    return froc_curve(
        np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), n_targets, len(parts)
    )


def froc_from_boxes(
    true_boxes: Sequence[Any], pred_boxes: Sequence[Any], pred_scores: Sequence[Any], *, iou_threshold: float = 0.5
) -> FROCCurve:
    """FROC over images of box detections matched with :func:`match_detections`."""
    if not len(true_boxes) == len(pred_boxes) == len(pred_scores):
        raise InvalidInputError("true_boxes, pred_boxes and pred_scores need one entry per image")
    is_tp = [match_detections(t, p, s, iou_threshold=iou_threshold) for t, p, s in zip(true_boxes, pred_boxes, pred_scores)]
    n_targets = sum(_boxes(t, "true_boxes").shape[0] for t in true_boxes)
    scores = [np.asarray(s, float).ravel() for s in pred_scores]
    return froc_curve(np.concatenate(scores), np.concatenate(is_tp), n_targets, len(true_boxes))


# --------------------------------------------------------------------------- COCO AP


class _ImageEval(NamedTuple):
    scores: np.ndarray  # (D,) sorted descending
    matched: np.ndarray  # (T, D) bool
    det_ignore: np.ndarray  # (T, D) bool
    gt_ignore: np.ndarray  # (G,) bool


def _evaluate_image(
    ious: np.ndarray, gt_area: np.ndarray, dt_area: np.ndarray, scores: np.ndarray, thresholds: np.ndarray,
    area_range: tuple[float, float],
) -> _ImageEval:
    """Pycocotools ``evaluateImg`` for one image and class; detections already sorted and truncated."""
    gt_ig = (gt_area < area_range[0]) | (gt_area > area_range[1])
    order = np.argsort(gt_ig, kind="mergesort")  # non-ignored true objects first
    gt_ig, ious = gt_ig[order], ious[:, order]
    n_t, n_d, n_g = thresholds.size, scores.size, gt_ig.size
    matched = np.zeros((n_t, n_d), bool)
    det_ig = np.zeros((n_t, n_d), bool)
    for ti, thr in enumerate(thresholds):
        taken = np.zeros(n_g, bool)
        for d in range(n_d):
            best = -1
            for pool in (~gt_ig, gt_ig):  # an ignored true object only if no regular one matches
                cand = np.flatnonzero(pool & ~taken & (ious[d] >= min(thr, 1 - 1e-10)))
                if cand.size:
                    vals = ious[d, cand]
                    best = int(cand[np.flatnonzero(vals == vals.max())[-1]])  # last index on ties
                    break
            if best >= 0:
                taken[best] = True
                matched[ti, d] = True
                det_ig[ti, d] = gt_ig[best]
    outside = (dt_area < area_range[0]) | (dt_area > area_range[1])
    det_ig |= ~matched & outside[None, :]
    return _ImageEval(scores, matched, det_ig, gt_ig)


def _accumulate(evals: list[_ImageEval], max_det: int, n_thr: int, rec_thr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Precision ``(T, R)`` and recall ``(T,)`` for one class, area range and detection limit (NaN if no GT)."""
    precision = np.full((n_thr, rec_thr.size), np.nan)
    recall = np.full(n_thr, np.nan)
    if not evals:
        return precision, recall
    scores = np.concatenate([e.scores[:max_det] for e in evals])
    order = np.argsort(-scores, kind="mergesort")
    matched = np.concatenate([e.matched[:, :max_det] for e in evals], axis=1)[:, order]
    det_ig = np.concatenate([e.det_ignore[:, :max_det] for e in evals], axis=1)[:, order]
    n_pos = int(np.count_nonzero(~np.concatenate([e.gt_ignore for e in evals])))
    if n_pos == 0:
        return precision, recall
    tp_sum = np.cumsum(matched & ~det_ig, axis=1).astype(float)
    fp_sum = np.cumsum(~matched & ~det_ig, axis=1).astype(float)
    for t in range(n_thr):
        tp, fp = tp_sum[t], fp_sum[t]
        rc = tp / n_pos
        pr = tp / (fp + tp + np.spacing(1))
        recall[t] = rc[-1] if rc.size else 0.0
        pr = np.maximum.accumulate(pr[::-1])[::-1]  # precision envelope
        idx = np.searchsorted(rc, rec_thr, side="left")
        q = np.zeros(rec_thr.size)
        ok = idx < pr.size
        q[ok] = pr[idx[ok]]
        precision[t] = q
    return precision, recall


def _mean(x: np.ndarray) -> float:
    return float(np.nanmean(x)) if np.any(~np.isnan(x)) else float("nan")


def _coco(
    n_images: int,
    true_labels: list[np.ndarray],
    pred_labels: list[np.ndarray],
    pred_scores: list[np.ndarray],
    iou_fn: Callable[[int, np.ndarray, np.ndarray], np.ndarray],
    true_area: list[np.ndarray],
    pred_area: list[np.ndarray],
    max_detections: Sequence[int],
    area_ranges: dict[str, tuple[float, float]],
) -> dict[str, float]:
    thresholds = np.linspace(0.5, 0.95, 10)
    rec_thr = np.linspace(0.0, 1.0, 101)
    max_dets = [int(m) for m in max_detections]
    if not max_dets or min(max_dets) < 1 or "all" not in area_ranges:
        raise InvalidInputError("max_detections must be positive and area_ranges must contain 'all'")
    classes = np.unique(np.concatenate(true_labels)) if true_labels else np.zeros(0)
    names = list(area_ranges)
    prec = np.full((thresholds.size, rec_thr.size, classes.size, len(names), len(max_dets)), np.nan)
    rec = np.full((thresholds.size, classes.size, len(names), len(max_dets)), np.nan)
    for k, cls in enumerate(classes):
        per_image = []
        for i in range(n_images):
            g = np.flatnonzero(true_labels[i] == cls)
            d = np.flatnonzero(pred_labels[i] == cls)
            d = d[np.argsort(-pred_scores[i][d], kind="mergesort")][: max_dets[-1]]
            per_image.append((i, g, d, iou_fn(i, d, g) if g.size and d.size else np.zeros((d.size, g.size))))
        for a, name in enumerate(names):
            evals = [
                _evaluate_image(ious, true_area[i][g], pred_area[i][d], pred_scores[i][d], thresholds, area_ranges[name])
                for i, g, d, ious in per_image
                if g.size or d.size
            ]
            for m, max_det in enumerate(max_dets):
                prec[:, :, k, a, m], rec[:, k, a, m] = _accumulate(evals, max_det, thresholds.size, rec_thr)
    out = {
        "AP": _mean(prec[:, :, :, 0, -1]),
        "AP50": _mean(prec[0, :, :, 0, -1]),
        "AP75": _mean(prec[5, :, :, 0, -1]),
    }
    for a, name in enumerate(names[1:], start=1):
        out[f"AP_{name}"] = _mean(prec[:, :, :, a, -1])
    for m, max_det in enumerate(max_dets):
        out[f"AR{max_det}"] = _mean(rec[:, :, 0, m])
    for a, name in enumerate(names[1:], start=1):
        out[f"AR_{name}"] = _mean(rec[:, :, a, -1])
    return out


def _per_image_inputs(
    n: int, pred_scores: Sequence[Any], true_labels: Sequence[Any] | None, pred_labels: Sequence[Any] | None,
    n_true: list[int], n_pred: list[int],
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    if len(pred_scores) != n or (true_labels is not None and len(true_labels) != n) or (
        pred_labels is not None and len(pred_labels) != n
    ):
        raise InvalidInputError("every per-image argument needs one entry per image")
    if (true_labels is None) != (pred_labels is None):
        raise InvalidInputError("give both true_labels and pred_labels, or neither (one class)")
    scores = [_scores(s, n_pred[i], f"pred_scores[{i}]") for i, s in enumerate(pred_scores)]

    def labels(seq: Sequence[Any] | None, counts: list[int], name: str) -> list[np.ndarray]:
        if seq is None:
            return [np.zeros(c, np.int64) for c in counts]
        out = []
        for i, (x, c) in enumerate(zip(seq, counts)):
            arr = vector(x, f"{name}[{i}]", kind="iub").astype(np.int64) if c else np.zeros(0, np.int64)
            if arr.size != c:
                raise InvalidInputError(f"{name}[{i}]: {arr.size} labels for {c} objects")
            out.append(arr)
        return out

    return labels(true_labels, n_true, "true_labels"), labels(pred_labels, n_pred, "pred_labels"), scores


def coco_average_precision(
    true_boxes: Sequence[Any],
    pred_boxes: Sequence[Any],
    pred_scores: Sequence[Any],
    true_labels: Sequence[Any] | None = None,
    pred_labels: Sequence[Any] | None = None,
    *,
    max_detections: Sequence[int] = (1, 10, 100),
    area_ranges: dict[str, tuple[float, float]] | None = None,
) -> dict[str, float]:
    """COCO box AP/AR as ``pycocotools`` (``iouType="bbox"``): AP@[.5:.95], AP50, AP75, AP by size, AR.

    One entry per image in every sequence; labels default to one class. Classes are those found in
    ``true_labels``. Keys: ``AP, AP50, AP75, AP_small, AP_medium, AP_large, AR1, AR10, AR100, AR_small,
    AR_medium, AR_large`` (following ``max_detections`` and ``area_ranges``).

    >>> r = coco_average_precision([[[0, 0, 10, 10]]], [[[0, 0, 10, 10], [20, 20, 30, 30]]], [[0.9, 0.8]])
    >>> round(r["AP"], 6), r["AR100"]
    (1.0, 1.0)
    """
    n = len(true_boxes)
    if len(pred_boxes) != n:
        raise InvalidInputError(f"pred_boxes: {len(pred_boxes)} images but true_boxes has {n}")
    tb = [_boxes(b, f"true_boxes[{i}]") for i, b in enumerate(true_boxes)]
    pb = [_boxes(b, f"pred_boxes[{i}]") for i, b in enumerate(pred_boxes)]
    tl, pl, ps = _per_image_inputs(n, pred_scores, true_labels, pred_labels, [b.shape[0] for b in tb], [b.shape[0] for b in pb])

    def area(b: np.ndarray) -> np.ndarray:
        d = b.shape[1] // 2
        return np.prod(b[:, d:] - b[:, :d], axis=1)

    return _coco(
        n, tl, pl, ps, lambda i, d, g: box_iou(pb[i][d], tb[i][g]), [area(b) for b in tb], [area(b) for b in pb],
        max_detections, area_ranges or COCO_AREA_RANGES,
    )


def _mask_stack(x: Any, name: str, spatial: tuple[int, ...] | None) -> np.ndarray:
    arr = as_array(x, name)
    if arr.size == 0 and spatial is not None:
        return np.zeros((0, *spatial), bool)
    if arr.ndim < 3 or arr.dtype.kind not in "biuf":
        raise InvalidInputError(f"{name}: expected a stack of masks (n, *spatial), got shape {arr.shape}")
    if spatial is not None and arr.shape[1:] != spatial:
        raise InvalidInputError(f"{name}: mask shape {arr.shape[1:]} does not match {spatial}")
    check_finite(arr, name)
    if arr.dtype != bool and not np.all((arr == 0) | (arr == 1)):
        raise InvalidInputError(f"{name}: masks must be binary (bool or 0/1)")
    return arr.astype(bool)


def _flat(m: np.ndarray) -> np.ndarray:
    return m.reshape(m.shape[0], int(np.prod(m.shape[1:])))


def _mask_iou(a: np.ndarray, b: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """IoU ``(len(a), len(b))`` of two mask stacks, counting the intersection in pixel chunks."""
    fa, fb = _flat(a), _flat(b)
    inter = np.zeros((fa.shape[0], fb.shape[0]))
    for s in range(0, fa.shape[1], chunk):
        inter += fa[:, s : s + chunk].astype(np.float32) @ fb[:, s : s + chunk].astype(np.float32).T
    union = fa.sum(1)[:, None] + fb.sum(1)[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def coco_mask_average_precision(
    true_masks: Sequence[Any],
    pred_masks: Sequence[Any],
    pred_scores: Sequence[Any],
    true_labels: Sequence[Any] | None = None,
    pred_labels: Sequence[Any] | None = None,
    *,
    max_detections: Sequence[int] = (1, 10, 100),
    area_ranges: dict[str, tuple[float, float]] | None = None,
) -> dict[str, float]:
    """COCO mask AP/AR as ``pycocotools`` (``iouType="segm"``); masks are per-image stacks ``(n, *spatial)``.

    Areas are pixel counts. Same keys and conventions as :func:`coco_average_precision`.

    >>> m = np.zeros((1, 8, 8), bool); m[0, 2:6, 2:6] = True
    >>> round(coco_mask_average_precision([m], [m], [[0.7]])["AP"], 6)
    1.0
    """
    n = len(true_masks)
    if len(pred_masks) != n:
        raise InvalidInputError(f"pred_masks: {len(pred_masks)} images but true_masks has {n}")
    tm, pm = [], []
    for i in range(n):
        t = _mask_stack(true_masks[i], f"true_masks[{i}]", None)  # an empty stack must be (0, *spatial)
        tm.append(t)
        pm.append(_mask_stack(pred_masks[i], f"pred_masks[{i}]", t.shape[1:]))
    tl, pl, ps = _per_image_inputs(n, pred_scores, true_labels, pred_labels, [m.shape[0] for m in tm], [m.shape[0] for m in pm])
    return _coco(
        n, tl, pl, ps, lambda i, d, g: _mask_iou(pm[i][d], tm[i][g]),
        [_flat(m).sum(1).astype(float) for m in tm],
        [_flat(m).sum(1).astype(float) for m in pm],
        max_detections, area_ranges or COCO_AREA_RANGES,
    )
