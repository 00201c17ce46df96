"""Survival metrics: Harrell's concordance index with lifelines' tie rules, and its bootstrap CI."""
from __future__ import annotations

from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.metrics._validate import vector
from biomedai.metrics.bootstrap import ConfidenceInterval, bootstrap_ci

__all__ = ["concordance_index", "concordance_index_ci"]

_CHUNK_ELEMENTS = 4_000_000


def _survival_inputs(time: Any, predicted: Any, event: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = vector(time, "time", kind="iuf").astype(float)
    p = vector(predicted, "predicted", kind="iufb").astype(float)
    if p.size != t.size:
        raise InvalidInputError(f"predicted: length {p.size} does not match time length {t.size}")
    if event is None:
        e = np.ones(t.size, bool)
    else:
        e_arr = vector(event, "event", kind="iufb")
        if e_arr.size != t.size:
            raise InvalidInputError(f"event: length {e_arr.size} does not match time length {t.size}")
        if not np.all((e_arr == 0) | (e_arr == 1)):
            raise InvalidInputError("event: must hold only 0/1 (or bool): 1 = event observed, 0 = censored")
        e = e_arr.astype(bool)
    return t, p, e


def concordance_index(
    time: Any, predicted: Any, event: Any = None, *, predicted_is_risk: bool = False
) -> float:
    """Harrell's C-index: the fraction of comparable pairs whose predictions are ordered like their times.

    Argument order and tie rules follow ``lifelines.utils.concordance_index``: ``predicted`` is a
    predicted survival time or score, **higher = longer survival** (pass ``predicted_is_risk=True`` for
    hazards/risk scores); ``event`` is 1 for an observed event, 0 for censoring (default: all events).
    A pair is comparable when the shorter time is an event, or when times are equal and exactly one is an
    event (that one should fail first). Tied predictions count 0.5. O(n^2) memory-chunked comparisons.

    >>> concordance_index([1, 2, 3, 4], [1, 2, 4, 3])
    0.8333333333333334
    """
    t, p, e = _survival_inputs(time, predicted, event)
    if predicted_is_risk:
        p = -p
    n = t.size
    step = max(1, _CHUNK_ELEMENTS // n)
    pairs = concordant = tied = 0
    for start in range(0, n, step):
        sl = slice(start, min(n, start + step))
        ti, pi, ei = t[sl, None], p[sl, None], e[sl, None]
        first = ei & ((ti < t[None]) | ((ti == t[None]) & ~e[None]))  # i should fail before j
        pairs += int(np.count_nonzero(first))
        concordant += int(np.count_nonzero(first & (pi < p[None])))
        tied += int(np.count_nonzero(first & (pi == p[None])))
    if pairs == 0:
        raise InvalidInputError("time/event: no comparable pairs (need at least one event before another time)")
    return (concordant + 0.5 * tied) / pairs


def concordance_index_ci(
    time: Any,
    predicted: Any,
    event: Any = None,
    *,
    predicted_is_risk: bool = False,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> ConfidenceInterval:
    """C-index with a percentile bootstrap CI over subjects (see :func:`concordance_index`).

    >>> ci = concordance_index_ci(np.arange(20), np.arange(20) + np.tile([0, 3], 10), n_resamples=100)
    >>> round(ci.estimate, 3), ci.low <= ci.estimate <= ci.high
    (0.932, True)
    """
    t, p, e = _survival_inputs(time, predicted, event)

    def metric(tt: np.ndarray, pp: np.ndarray, ee: np.ndarray) -> float:
        return concordance_index(tt, pp, ee, predicted_is_risk=predicted_is_risk)

    return bootstrap_ci(metric, t, p, e, n_resamples=n_resamples, confidence=confidence, seed=seed)
