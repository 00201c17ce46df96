"""Lesion- and breast-based FROC for DBT (spec 1.7), FPs at fixed sensitivities (Table 2), the area under the
FROC curve (AUFC) and the paired bootstrap test of an AUFC difference that resamples breasts.

A view (one DBT volume) holds its true lesion boxes and scored detections. A detection *hits* a lesion of its
view when their 3-D IoU exceeds 0.5 (spec decision 1.7; ``criterion="centre"``: the detection's centre lies in
the lesion box). Each target counts once, at the highest score of the detections hitting it; further hits on
a target are neither TP nor FP (as CAMELYON16/LUNA16 and Bandos et al. 2010); a detection hitting nothing is
a false positive.

* **lesion-based**: a target is a lesion in one view; FPs are averaged over views ("per lesion", one lesion per
  view in the paper);
* **breast-based**: a target is a lesion of a breast, found if it is hit in any view; FPs are summed over the
  breast's views and averaged over breasts (spec 1.10 point 6).

Lesions of one breast are the same physical lesion across views when they carry the same ``lesion_ids``
entry (default: their index in the view, which fits the paper's one mass per breast).

Example:
    >>> import numpy as np
    >>> v = [ViewDetections("b1-CC", "b1", np.array([[0, 0, 0, 4, 4, 4]]), np.array([[0, 0, 0, 4, 4, 4],
    ...      [9, 9, 9, 12, 12, 12]]), np.array([0.9, 0.5]))]
    >>> c = froc(v, mode="lesion")
    >>> c.fps_per_image.tolist(), c.sensitivity.tolist()
    ([0.0, 0.0, 1.0], [0.0, 1.0, 1.0])
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.metrics.detection import FROCCurve, box_iou, froc_curve

logger = logging.getLogger(__name__)

__all__ = ["ViewDetections", "TABLE2_SENSITIVITIES", "lesion_hits", "froc", "fps_at_sensitivities", "aufc",
           "AufcComparison", "bootstrap_aufc_difference", "FrocUnits", "froc_units"]

#: operating points of Table 2
TABLE2_SENSITIVITIES: tuple[float, ...] = (0.60, 0.70, 0.80, 0.85, 0.90, 0.95)

Mode = Literal["lesion", "breast"]


@dataclass
class ViewDetections:
    """One DBT view: its true lesion boxes and its scored detections (boxes ``[z0, y0, x0, z1, y1, x1]``)."""

    view_id: str
    breast_id: str
    true_boxes: np.ndarray
    pred_boxes: np.ndarray
    scores: np.ndarray
    lesion_ids: Sequence[str] | None = field(default=None)

    def __post_init__(self) -> None:
        self.true_boxes = np.asarray(self.true_boxes, float).reshape(-1, 6)
        self.pred_boxes = np.asarray(self.pred_boxes, float).reshape(-1, 6)
        self.scores = np.asarray(self.scores, float).ravel()
        if self.scores.size != self.pred_boxes.shape[0]:
            raise InvalidInputError(f"view {self.view_id}: {self.pred_boxes.shape[0]} boxes but "
                                    f"{self.scores.size} scores")
        if not np.all(np.isfinite(self.scores)):
            raise InvalidInputError(f"view {self.view_id}: scores must be finite")
        if self.lesion_ids is None:
            self.lesion_ids = [str(k) for k in range(self.true_boxes.shape[0])]
        elif len(self.lesion_ids) != self.true_boxes.shape[0]:
            raise InvalidInputError(f"view {self.view_id}: {len(self.lesion_ids)} lesion ids for "
                                    f"{self.true_boxes.shape[0]} lesions")


def lesion_hits(true_boxes: np.ndarray, pred_boxes: np.ndarray, criterion: Literal["iou", "centre"] = "iou",
                iou_threshold: float = 0.5) -> np.ndarray:
    """Index of the lesion each detection hits (the one of highest IoU), or -1 for a false positive."""
    true_boxes = np.asarray(true_boxes, float).reshape(-1, 6)
    pred_boxes = np.asarray(pred_boxes, float).reshape(-1, 6)
    hits = np.full(pred_boxes.shape[0], -1, np.int64)
    if true_boxes.shape[0] == 0 or pred_boxes.shape[0] == 0:
        return hits
    iou = box_iou(pred_boxes, true_boxes)
    if criterion == "iou":
        ok = iou > iou_threshold
    elif criterion == "centre":
        centre = (pred_boxes[:, :3] + pred_boxes[:, 3:]) / 2
        ok = np.all((centre[:, None] >= true_boxes[None, :, :3]) & (centre[:, None] < true_boxes[None, :, 3:]), -1)
    else:
        raise InvalidInputError(f"criterion: 'iou' or 'centre', got {criterion!r}")
    best = np.argmax(np.where(ok, iou + 1.0, -1.0), axis=1)  # a centre hit with IoU 0 still counts
    return np.where(ok.any(axis=1), best, -1)


class FrocUnits(NamedTuple):
    """Detections collapsed to scored marks, grouped by breast (the bootstrap's resampling unit).

    ``scores``/``is_tp``/``unit`` list one mark per target found (at its best score) and one per false positive;
    ``n_targets[u]`` and ``n_norm[u]`` are breast ``u``'s targets and FP normaliser (views or 1).
    """

    scores: np.ndarray
    is_tp: np.ndarray
    unit: np.ndarray
    n_targets: np.ndarray
    n_norm: np.ndarray
    breast_ids: list[str]


def froc_units(views: Sequence[ViewDetections], mode: Mode = "breast", criterion: Literal["iou", "centre"] = "iou",
               iou_threshold: float = 0.5) -> FrocUnits:
    """Collapse views into per-breast marks for :func:`froc` and :func:`bootstrap_aufc_difference`."""
    if mode not in ("lesion", "breast"):
        raise InvalidInputError(f"mode: 'lesion' or 'breast', got {mode!r}")
    if not views:
        raise InvalidInputError("froc: no views given")
    breast_ids = sorted({v.breast_id for v in views})
    index = {b: k for k, b in enumerate(breast_ids)}
    n_targets = np.zeros(len(breast_ids))
    n_norm = np.zeros(len(breast_ids))
    best: dict[tuple[str, ...], float] = {}
    fp_scores, fp_units = [], []
    for v in views:
        u = index[v.breast_id]
        hits = lesion_hits(v.true_boxes, v.pred_boxes, criterion, iou_threshold)
        fp_scores.append(v.scores[hits < 0])
        fp_units.append(np.full(int((hits < 0).sum()), u))
        n_norm[u] += 1.0 if mode == "lesion" else 0.0
        keys = [(v.view_id, lid) if mode == "lesion" else (v.breast_id, lid) for lid in v.lesion_ids]
        for k, key in enumerate(keys):
            best.setdefault(key, -np.inf)
            if np.any(hits == k):
                best[key] = max(best[key], float(v.scores[hits == k].max()))
    if mode == "breast":
        n_norm[:] = 1.0
    tp_scores, tp_units = [], []
    breast_of_view = {v.view_id: v.breast_id for v in views}
    for key, score in best.items():
        breast = key[0] if mode == "breast" else breast_of_view[key[0]]
        n_targets[index[breast]] += 1
        if np.isfinite(score):
            tp_scores.append(score)
            tp_units.append(index[breast])
    scores = np.concatenate([np.asarray(tp_scores, float)] + fp_scores)
    is_tp = np.concatenate([np.ones(len(tp_scores), bool)] + [np.zeros(s.size, bool) for s in fp_scores])
    unit = np.concatenate([np.asarray(tp_units, np.int64)] + [f.astype(np.int64) for f in fp_units])
    return FrocUnits(scores, is_tp, unit, n_targets, n_norm, breast_ids)


def _curves(units: FrocUnits, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FROC points ``(fps, sens)`` of shape ``(B, n_points)`` for breast weights ``(B, n_breasts)``.

    Weight ``w`` counts a breast ``w`` times (a bootstrap resample); all-ones weights give :func:`froc`'s curve.
    Points follow decreasing distinct score thresholds, preceded by ``(0, 0)``.
    """
    order = np.argsort(-units.scores, kind="mergesort")
    s, tp, u = units.scores[order], units.is_tp[order], units.unit[order]
    last = np.ones(s.size, bool)
    last[:-1] = s[1:] != s[:-1]
    w = weights[:, u]  # (B, n_marks)
    cum_tp = np.cumsum(w * tp, axis=1)[:, last]
    cum_fp = np.cumsum(w * ~tp, axis=1)[:, last]
    n_targets = weights @ units.n_targets
    n_norm = weights @ units.n_norm
    with np.errstate(invalid="ignore", divide="ignore"):
        sens = cum_tp / n_targets[:, None]
        fps = cum_fp / n_norm[:, None]
    zero = np.zeros((weights.shape[0], 1))
    return np.concatenate([zero, fps], 1), np.concatenate([zero, sens], 1)


def froc(views: Sequence[ViewDetections], mode: Mode = "breast", criterion: Literal["iou", "centre"] = "iou",
         iou_threshold: float = 0.5) -> FROCCurve:
    """The lesion- or breast-based FROC curve (operating points by decreasing score threshold)."""
    units = froc_units(views, mode, criterion, iou_threshold)
    if units.n_targets.sum() < 1:
        raise InvalidInputError("froc: the views hold no true lesion")
    n_norm = int(units.n_norm.sum())
    return froc_curve(units.scores, units.is_tp, int(units.n_targets.sum()), n_norm)


def fps_at_sensitivities(curve: FROCCurve, sensitivities: Sequence[float] = TABLE2_SENSITIVITIES) -> np.ndarray:
    """Mean FPs at which the FROC curve first reaches each sensitivity (linear between operating points).

    NaN where the curve never reaches the sensitivity (the detector finds too few lesions at any threshold).
    """
    fps, sens = np.asarray(curve.fps_per_image, float), np.asarray(curve.sensitivity, float)
    out = np.full(len(sensitivities), np.nan)
    for k, target in enumerate(sensitivities):
        reached = np.nonzero(sens >= target - 1e-12)[0]
        if reached.size == 0:
            continue
        i = int(reached[0])
        if i == 0:
            out[k] = fps[0]
            continue
        frac = (target - sens[i - 1]) / (sens[i] - sens[i - 1])
        out[k] = fps[i - 1] + frac * (fps[i] - fps[i - 1])
    return out


def _area(fps: np.ndarray, sens: np.ndarray, max_fp: float) -> np.ndarray:
    """Trapezoidal area under ``sens(fps)`` over ``[0, max_fp]`` per row, flat after the last point."""
    f0, f1, s0, s1 = fps[:, :-1], fps[:, 1:], sens[:, :-1], sens[:, 1:]
    right = np.minimum(f1, max_fp)
    width = np.clip(right - f0, 0.0, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        cut = np.where(f1 > f0, s0 + (s1 - s0) * (right - f0) / (f1 - f0), s1)
    area = np.nansum(width * (s0 + cut) / 2, axis=1)
    tail = np.clip(max_fp - fps[:, -1], 0.0, None) * sens[:, -1]
    return area + tail


def aufc(curve: FROCCurve, max_fp: float = 3.0, normalise: bool = True) -> float:
    """Area under the FROC curve over ``[0, max_fp]`` mean FPs (divided by ``max_fp`` when ``normalise``).

    The curve is linear between operating points and flat after the last one (no lower threshold exists).

    >>> c = FROCCurve(np.array([0.0, 1.0]), np.array([0.0, 1.0]), np.array([np.inf, 0.5]))
    >>> aufc(c, max_fp=2.0)      # triangle 0.5 plus rectangle 1.0, over 2
    0.75
    """
    if max_fp <= 0:
        raise InvalidInputError(f"max_fp: must be > 0, got {max_fp}")
    area = float(_area(np.asarray(curve.fps_per_image, float)[None], np.asarray(curve.sensitivity, float)[None],
                       float(max_fp))[0])
    return area / max_fp if normalise else area


class AufcComparison(NamedTuple):
    """AUFC of two systems on the same breasts, their difference and the bootstrap p-value."""

    aufc_a: float
    aufc_b: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    n_resamples: int
    n_breasts: int


def bootstrap_aufc_difference(views_a: Sequence[ViewDetections], views_b: Sequence[ViewDetections], *,
                              mode: Mode = "breast", max_fp: float = 3.0, n_resamples: int = 2000,
                              seed: int = 0, confidence: float = 0.95, criterion: Literal["iou", "centre"] = "iou",
                              iou_threshold: float = 0.5) -> AufcComparison:
    """Paired bootstrap test of ``AUFC(a) - AUFC(b)``, resampling breasts with replacement (spec 1.7).

    Both systems see the same resampled breasts. The two-sided p-value is
    ``2 * min(P(D* <= 0), P(D* >= 0))`` over the resampled differences ``D*`` (capped at 1); the interval is
    the percentile interval of ``D*``. Replicates without a target are drawn again.
    """
    ua = froc_units(views_a, mode, criterion, iou_threshold)
    ub = froc_units(views_b, mode, criterion, iou_threshold)
    if ua.breast_ids != ub.breast_ids or not np.array_equal(ua.n_targets, ub.n_targets):
        raise InvalidInputError("bootstrap_aufc_difference: the two systems must be evaluated on the same "
                                "breasts, views and lesions")
    n = len(ua.breast_ids)
    if ua.n_targets.sum() < 1:
        raise InvalidInputError("bootstrap_aufc_difference: the views hold no true lesion")
    if n < 2:
        raise InvalidInputError("bootstrap_aufc_difference: need at least two breasts")
    ones = np.ones((1, n))
    est_a = float(_area(*_curves(ua, ones), max_fp)[0]) / max_fp
    est_b = float(_area(*_curves(ub, ones), max_fp)[0]) / max_fp
    rng = np.random.default_rng(seed)
    diffs: list[np.ndarray] = []
    remaining = int(n_resamples)
    while remaining > 0:
        chunk = min(remaining, 500)
        idx = rng.integers(0, n, size=(chunk, n))
        weights = np.zeros((chunk, n))
        np.add.at(weights, (np.arange(chunk)[:, None], idx), 1.0)
        ok = weights @ ua.n_targets > 0
        weights = weights[ok]
        d = (_area(*_curves(ua, weights), max_fp) - _area(*_curves(ub, weights), max_fp)) / max_fp
        diffs.append(d)
        remaining -= int(ok.sum())
    delta = np.concatenate(diffs)[: int(n_resamples)]
    p = min(1.0, 2.0 * min(float(np.mean(delta <= 0)), float(np.mean(delta >= 0))))
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(delta, [alpha, 1 - alpha])
    return AufcComparison(est_a, est_b, est_a - est_b, float(low), float(high), p, int(delta.size), n)
