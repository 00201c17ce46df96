"""Instance segmentation metrics for nuclei and glands: AJI, AJI+, PQ, object-level F1, Dice and Hausdorff.

Inputs are two instance label maps ``(true, pred)`` of the same shape: 0 is background, every other
value is one object (ids need not be consecutive). Every metric is computed from one sparse contingency
table of overlapping (true, pred) pairs, so the cost grows with the number of pixels, not with the
product of object counts.

Both maps without objects: the metric returns ``empty`` (default 1.0, the maps agree); object Hausdorff
returns 0.0 then, and ``inf`` when only one map has objects.

References: Kumar et al., IEEE TMI 2017 (AJI); Graham et al., HoVer-Net, MedIA 2019 (AJI+, PQ for
nuclei); Kirillov et al., CVPR 2019 (PQ); Sirinukunwattana et al., MedIA 2017 (object Dice/Hausdorff, F1).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
from scipy import ndimage as ndi

from biomedai.errors import InvalidInputError
from biomedai.metrics._validate import label_pair, spacing_for
from biomedai.metrics.segmentation import _surface_distances

__all__ = [
    "InstanceMatch",
    "PanopticQuality",
    "ObjectDetectionScores",
    "match_instances",
    "instance_iou_matrix",
    "aji",
    "aji_plus",
    "panoptic_quality",
    "object_detection_scores",
    "object_f1",
    "object_dice",
    "object_hausdorff",
]


class InstanceMatch(NamedTuple):
    """One-to-one matched objects: ``true_ids[k]`` matches ``pred_ids[k]`` with IoU ``iou[k]``."""

    true_ids: np.ndarray
    pred_ids: np.ndarray
    iou: np.ndarray
    unmatched_true: np.ndarray
    unmatched_pred: np.ndarray


class PanopticQuality(NamedTuple):
    """PQ = DQ x SQ with the counts behind it (sum ``tp``, ``fp``, ``fn``, ``iou_sum`` over images to pool)."""

    pq: float
    dq: float
    sq: float
    tp: int
    fp: int
    fn: int
    iou_sum: float


class ObjectDetectionScores(NamedTuple):
    """Object-level detection counts and scores of one image."""

    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class _Overlap:
    """Objects of both maps and every overlapping pair (indices into ``true_ids`` / ``pred_ids``)."""

    true_ids: np.ndarray
    pred_ids: np.ndarray
    true_area: np.ndarray
    pred_area: np.ndarray
    pair_true: np.ndarray
    pair_pred: np.ndarray
    inter: np.ndarray

    @property
    def union(self) -> np.ndarray:
        return self.true_area[self.pair_true] + self.pred_area[self.pair_pred] - self.inter

    @property
    def iou(self) -> np.ndarray:
        return self.inter / self.union


def _index(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Non-zero ids (sorted), per-pixel index into them (-1 for background) and object areas."""
    top = int(flat.max())
    if top <= 4 * flat.size + 1024:
        counts = np.bincount(flat.astype(np.int64, copy=False), minlength=1)
        ids = np.flatnonzero(counts)
        ids = ids[ids > 0]
        lut = np.full(top + 1, -1, dtype=np.int64)
        lut[ids] = np.arange(ids.size)
        return ids, lut[flat], counts[ids]
    ids, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    inverse = inverse.ravel().astype(np.int64)
    if ids[0] == 0:
        return ids[1:], inverse - 1, counts[1:]
    return ids, inverse, counts


def _overlap(t: np.ndarray, p: np.ndarray) -> _Overlap:
    t_ids, ti, t_area = _index(t.ravel())
    p_ids, pi, p_area = _index(p.ravel())
    both = (ti >= 0) & (pi >= 0)
    key = ti[both] * max(p_ids.size, 1) + pi[both]
    keys, inter = np.unique(key, return_counts=True)
    n_p = max(p_ids.size, 1)
    return _Overlap(t_ids, p_ids, t_area, p_area, keys // n_p, keys % n_p, inter)


def _max_iou_assignment(ov: _Overlap, weight: np.ndarray) -> np.ndarray:
    """Indices of overlapping pairs forming a one-to-one assignment of maximum total ``weight``.

    The overlap graph is split into connected components and each is solved with the Hungarian
    algorithm; components are tiny for nuclei, so this stays fast on thousands of objects.
    """
    from scipy import sparse
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import csgraph

    n_t, n_p = ov.true_ids.size, ov.pred_ids.size
    if ov.inter.size == 0:
        return np.zeros(0, dtype=np.int64)
    adj = sparse.coo_matrix((np.ones(ov.inter.size), (ov.pair_true, n_t + ov.pair_pred)), shape=(n_t + n_p,) * 2)
    _, comp = csgraph.connected_components(adj, directed=False)
    pair_comp = comp[ov.pair_true]
    order = np.argsort(pair_comp, kind="stable")
    bounds = np.flatnonzero(np.diff(pair_comp[order])) + 1
    chosen: list[np.ndarray] = []
    for group in np.split(order, bounds):
        if group.size == 1:
            chosen.append(group)
            continue
        rows, r_inv = np.unique(ov.pair_true[group], return_inverse=True)
        cols, c_inv = np.unique(ov.pair_pred[group], return_inverse=True)
        dense = np.zeros((rows.size, cols.size))
        where = np.full((rows.size, cols.size), -1, dtype=np.int64)
        dense[r_inv, c_inv] = weight[group]
        where[r_inv, c_inv] = group
        r, c = linear_sum_assignment(dense, maximize=True)
        picked = where[r, c]
        chosen.append(picked[picked >= 0])
    return np.sort(np.concatenate(chosen))


def _match(ov: _Overlap, iou_threshold: float) -> np.ndarray:
    """Indices of matched pairs: IoU > threshold, unique (Hungarian on IoU when threshold < 0.5)."""
    iou = ov.iou
    if iou_threshold >= 0.5:  # IoU > 0.5 can pair each object with at most one other
        return np.flatnonzero(iou > iou_threshold)
    picked = _max_iou_assignment(ov, iou)
    return picked[iou[picked] > iou_threshold]


def _check_threshold(iou_threshold: float) -> float:
    thr = float(iou_threshold)
    if not 0.0 <= thr < 1.0:
        raise InvalidInputError(f"iou_threshold: must lie in [0, 1), got {iou_threshold}")
    return thr


def instance_iou_matrix(true: Any, pred: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense IoU matrix ``(n_true, n_pred)`` with the true and pred ids labelling its rows and columns.

    >>> m, t_ids, p_ids = instance_iou_matrix([[1, 1, 0]], [[0, 2, 2]])
    >>> m.tolist(), t_ids.tolist(), p_ids.tolist()
    ([[0.3333333333333333]], [1], [2])
    """
    ov = _overlap(*label_pair(true, pred))
    out = np.zeros((ov.true_ids.size, ov.pred_ids.size))
    out[ov.pair_true, ov.pair_pred] = ov.iou
    return out, ov.true_ids, ov.pred_ids


def match_instances(true: Any, pred: Any, *, iou_threshold: float = 0.5) -> InstanceMatch:
    """Pair objects one to one with IoU strictly above ``iou_threshold``.

    For thresholds >= 0.5 the pairs are unique by construction (HoVer-Net/Kirillov); below 0.5 the
    assignment maximises the summed IoU (Hungarian), then pairs at or below the threshold are dropped.

    >>> m = match_instances([[1, 1, 0, 2]], [[3, 3, 0, 0]])
    >>> m.true_ids.tolist(), m.pred_ids.tolist(), m.unmatched_true.tolist()
    ([1], [3], [2])
    """
    thr = _check_threshold(iou_threshold)
    ov = _overlap(*label_pair(true, pred))
    k = _match(ov, thr)
    ti, pi = ov.pair_true[k], ov.pair_pred[k]
    return InstanceMatch(
        true_ids=ov.true_ids[ti],
        pred_ids=ov.pred_ids[pi],
        iou=ov.iou[k],
        unmatched_true=np.delete(ov.true_ids, ti),
        unmatched_pred=np.delete(ov.pred_ids, pi),
    )


def _aji_from_pairs(ov: _Overlap, picked: np.ndarray) -> float:
    inter = ov.inter[picked].sum()
    union = ov.union[picked].sum()
    paired_t = np.zeros(ov.true_ids.size, bool)
    paired_p = np.zeros(ov.pred_ids.size, bool)
    paired_t[ov.pair_true[picked]] = True
    paired_p[ov.pair_pred[picked]] = True
    union += ov.true_area[~paired_t].sum() + ov.pred_area[~paired_p].sum()
    return float(inter / union)


def aji(true: Any, pred: Any, *, empty: float = 1.0) -> float:
    """Aggregated Jaccard Index (Kumar et al. 2017; HoVer-Net's ``get_fast_aji``).

    Each true object is paired with the prediction of highest IoU (lowest id on ties; a prediction may
    serve several true objects); unpaired objects of either map add their area to the union.

    >>> aji([[1, 1, 0, 0]], [[1, 1, 0, 2]])
    0.6666666666666666
    """
    ov = _overlap(*label_pair(true, pred))
    if ov.true_ids.size == 0 and ov.pred_ids.size == 0:
        return float(empty)
    order = np.lexsort((ov.pair_pred, -ov.iou, ov.pair_true))
    first = np.ones(order.size, bool)
    first[1:] = ov.pair_true[order][1:] != ov.pair_true[order][:-1]
    return _aji_from_pairs(ov, order[first])


def aji_plus(true: Any, pred: Any, *, empty: float = 1.0) -> float:
    """AJI+ (HoVer-Net): like :func:`aji` but with a one-to-one pairing of maximal summed IoU.

    >>> aji_plus([[1, 1, 2, 2]], [[1, 1, 1, 1]])
    0.3333333333333333
    """
    ov = _overlap(*label_pair(true, pred))
    if ov.true_ids.size == 0 and ov.pred_ids.size == 0:
        return float(empty)
    return _aji_from_pairs(ov, _max_iou_assignment(ov, ov.iou))


def panoptic_quality(
    true: Any, pred: Any, *, iou_threshold: float = 0.5, empty: float = 1.0
) -> PanopticQuality:
    """Panoptic quality PQ = DQ x SQ for one class of instances (HoVer-Net's ``get_fast_pq``).

    DQ = TP / (TP + FP/2 + FN/2) and SQ = mean IoU of matched pairs, with pairs from
    :func:`match_instances` (IoU > ``iou_threshold``). SQ is 0 when nothing matches.

    >>> panoptic_quality([[1, 1, 1, 0]], [[1, 1, 0, 0]]).pq
    0.6666666666666666
    """
    thr = _check_threshold(iou_threshold)
    ov = _overlap(*label_pair(true, pred))
    n_t, n_p = ov.true_ids.size, ov.pred_ids.size
    if n_t == 0 and n_p == 0:
        e = float(empty)
        return PanopticQuality(e, e, e, 0, 0, 0, 0.0)
    k = _match(ov, thr)
    tp = int(k.size)
    fp, fn = n_p - tp, n_t - tp
    iou_sum = float(ov.iou[k].sum())
    dq = tp / (tp + 0.5 * fp + 0.5 * fn)
    sq = iou_sum / tp if tp else 0.0
    return PanopticQuality(dq * sq, dq, sq, tp, fp, fn, iou_sum)


def _centroid_hits(t: np.ndarray, p: np.ndarray) -> int:
    """Number of true objects hit by a prediction's centroid (each true object counted once)."""
    p_ids, pi, p_area = _index(p.ravel())
    fg = pi >= 0
    coords = np.unravel_index(np.flatnonzero(fg), p.shape)
    centroid = tuple(
        np.clip(np.rint(np.bincount(pi[fg], weights=c, minlength=p_ids.size) / p_area), 0, n - 1).astype(np.int64)
        for c, n in zip(coords, p.shape)
    )
    hit = t[centroid]
    return int(np.unique(hit[hit > 0]).size)


def object_detection_scores(
    true: Any,
    pred: Any,
    *,
    match: Literal["iou", "centroid"] = "iou",
    iou_threshold: float = 0.5,
    empty: float = 1.0,
) -> ObjectDetectionScores:
    """Object-level TP/FP/FN, precision, recall and F1.

    ``match="iou"``: a prediction is a TP if :func:`match_instances` pairs it (IoU > ``iou_threshold``).
    ``match="centroid"``: a prediction is a TP if its centroid (rounded to the nearest pixel) lies inside
    a true object not already hit by a prediction of lower id. Precision, recall and F1 are 0 when their
    denominator is 0, except that both maps empty gives ``empty``.

    >>> object_detection_scores([[1, 1, 0, 2]], [[1, 1, 0, 0]]).f1
    0.6666666666666666
    """
    t, p = label_pair(true, pred)
    ov = _overlap(t, p)
    n_t, n_p = ov.true_ids.size, ov.pred_ids.size
    if n_t == 0 and n_p == 0:
        e = float(empty)
        return ObjectDetectionScores(0, 0, 0, e, e, e)
    if match == "iou":
        tp = int(_match(ov, _check_threshold(iou_threshold)).size)
    elif match == "centroid":
        tp = _centroid_hits(t, p) if n_p and n_t else 0
    else:
        raise InvalidInputError(f"match: expected 'iou' or 'centroid', got {match!r}")
    fp, fn = n_p - tp, n_t - tp
    precision = tp / n_p if n_p else 0.0
    recall = tp / n_t if n_t else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn)
    return ObjectDetectionScores(tp, fp, fn, precision, recall, f1)


def object_f1(
    true: Any,
    pred: Any,
    *,
    match: Literal["iou", "centroid"] = "iou",
    iou_threshold: float = 0.5,
    empty: float = 1.0,
) -> float:
    """Object-level F1; see :func:`object_detection_scores` for the matching rules.

    >>> object_f1([[1, 1, 0, 2]], [[1, 1, 0, 0]])
    0.6666666666666666
    """
    return object_detection_scores(true, pred, match=match, iou_threshold=iou_threshold, empty=empty).f1


def _best_overlap(ov: _Overlap, by_true: bool) -> tuple[np.ndarray, np.ndarray]:
    """For every object of one side: the pair index of its largest-intersection partner (or -1)."""
    own = ov.pair_true if by_true else ov.pair_pred
    other = ov.pair_pred if by_true else ov.pair_true
    n = ov.true_ids.size if by_true else ov.pred_ids.size
    order = np.lexsort((other, -ov.inter, own))
    first = np.ones(order.size, bool)
    first[1:] = own[order][1:] != own[order][:-1]
    best = np.full(n, -1, dtype=np.int64)
    best[own[order[first]]] = order[first]
    return best, own


def object_dice(true: Any, pred: Any, *, empty: float = 1.0) -> float:
    """Object-level Dice of Sirinukunwattana et al. (GlaS 2015).

    ``0.5 * (sum_i w_i Dice(G_i, S*(G_i)) + sum_j v_j Dice(G*(S_j), S_j))`` where ``S*(G_i)`` is the
    prediction overlapping ``G_i`` most (Dice 0 if none) and the weights are object areas over total area.

    >>> object_dice([[1, 1, 0, 0]], [[1, 1, 0, 2]])
    0.8333333333333333
    """
    ov = _overlap(*label_pair(true, pred))
    if ov.true_ids.size == 0 and ov.pred_ids.size == 0:
        return float(empty)
    if ov.true_ids.size == 0 or ov.pred_ids.size == 0:
        return 0.0
    pair_dice = 2.0 * ov.inter / (ov.true_area[ov.pair_true] + ov.pred_area[ov.pair_pred])
    total = 0.0
    for by_true, area in ((True, ov.true_area), (False, ov.pred_area)):
        best, _ = _best_overlap(ov, by_true)
        d = np.zeros(best.size)
        d[best >= 0] = pair_dice[best[best >= 0]]
        total += float((area * d).sum() / area.sum())
    return 0.5 * total


def _nearest_objects(src: np.ndarray, dst: np.ndarray, n_src: int, sp: np.ndarray) -> np.ndarray:
    """For each object of ``src`` (index map, -1 background): the dst index map value nearest to it."""
    dist, inds = ndi.distance_transform_edt(dst < 0, sampling=sp, return_indices=True)
    fg = np.flatnonzero(src.ravel() >= 0)
    owner = src.ravel()[fg]
    order = np.lexsort((dist.ravel()[fg], owner))
    first = np.ones(order.size, bool)
    first[1:] = owner[order][1:] != owner[order][:-1]
    pix = fg[order[first]]
    nearest_pix = tuple(ix.ravel()[pix] for ix in inds)
    out = np.full(n_src, -1, dtype=np.int64)
    out[owner[order[first]]] = dst[nearest_pix]
    return out


def _union_box(a: tuple[slice, ...], b: tuple[slice, ...]) -> tuple[slice, ...]:
    return tuple(slice(min(x.start, y.start), max(x.stop, y.stop)) for x, y in zip(a, b))


def object_hausdorff(true: Any, pred: Any, *, spacing: float | Sequence[float] | None = None) -> float:
    """Object-level Hausdorff distance of Sirinukunwattana et al. (GlaS 2015), in ``spacing`` units.

    Area-weighted mean of the surface Hausdorff distance between each object and its partner in the other
    map, averaged over both directions. The partner is the object of largest overlap or, when nothing
    overlaps, the object holding the foreground pixel nearest to it. 0.0 if both maps are empty, ``inf``
    if only one is.

    >>> a = np.zeros((9, 9), int); a[2:6, 2:6] = 1
    >>> object_hausdorff(a, np.roll(a, 2, axis=1))
    2.0
    """
    t, p = label_pair(true, pred)
    sp = spacing_for(spacing, t.ndim)
    ov = _overlap(t, p)
    n_t, n_p = ov.true_ids.size, ov.pred_ids.size
    if n_t == 0 and n_p == 0:
        return 0.0
    if n_t == 0 or n_p == 0:
        return float("inf")
    ti = _index(t.ravel())[1].reshape(t.shape)
    pi = _index(p.ravel())[1].reshape(p.shape)
    t_boxes = ndi.find_objects(ti + 1)
    p_boxes = ndi.find_objects(pi + 1)
    total = 0.0
    for by_true, area in ((True, ov.true_area), (False, ov.pred_area)):
        best, _ = _best_overlap(ov, by_true)
        other = ov.pair_pred if by_true else ov.pair_true
        partner = np.full(best.size, -1, dtype=np.int64)
        partner[best >= 0] = other[best[best >= 0]]
        if np.any(partner < 0):
            near = _nearest_objects(ti, pi, n_t, sp) if by_true else _nearest_objects(pi, ti, n_p, sp)
            partner = np.where(partner < 0, near, partner)
        dists = np.empty(partner.size)
        for k, j in enumerate(partner):
            a_idx, b_idx = (k, int(j)) if by_true else (int(j), k)
            box = _union_box(t_boxes[a_idx], p_boxes[b_idx])
            d1, d2 = _surface_distances(ti[box] == a_idx, pi[box] == b_idx, sp)
            dists[k] = max(d1.max(), d2.max())
        total += float((area * dists).sum() / area.sum())
    return 0.5 * total
