"""Percentile bootstrap confidence intervals for any metric of paired samples."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.metrics._validate import as_array

__all__ = ["ConfidenceInterval", "bootstrap_ci"]

logger = logging.getLogger(__name__)


class ConfidenceInterval(NamedTuple):
    """The metric on the full sample and its percentile bootstrap interval."""

    estimate: float
    low: float
    high: float
    confidence: float
    n_resamples: int


def bootstrap_ci(
    metric: Callable[..., float],
    *arrays: Any,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> ConfidenceInterval:
    """Percentile bootstrap CI of ``metric(*arrays)``, resampling cases (first axis) with replacement.

    All arrays are resampled with the same indices, so pairs stay together. Resamples on which the
    metric is undefined (it raises ``InvalidInputError``, e.g. ROC AUC with one class) are skipped and
    logged; ``n_resamples`` in the result counts the ones used. Seeded: the same call gives the same CI.

    >>> from biomedai.metrics import accuracy
    >>> ci = bootstrap_ci(accuracy, [0, 1, 1, 0] * 10, [0, 1, 0, 0] * 10, n_resamples=200)
    >>> ci.estimate, ci.low <= 0.75 <= ci.high
    (0.75, True)
    """
    if not arrays:
        raise InvalidInputError("bootstrap_ci: give at least one array")
    if not 0.0 < confidence < 1.0:
        raise InvalidInputError(f"confidence: must lie in (0, 1), got {confidence}")
    if int(n_resamples) < 1:
        raise InvalidInputError(f"n_resamples: must be at least 1, got {n_resamples}")
    arrs = [as_array(a, f"array {k}") for k, a in enumerate(arrays)]
    n = arrs[0].shape[0] if arrs[0].ndim else 0
    if n < 2 or any(a.ndim == 0 or a.shape[0] != n for a in arrs):
        raise InvalidInputError(f"bootstrap_ci: arrays need the same length >= 2, got {[a.shape for a in arrs]}")
    estimate = float(metric(*arrs))
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(int(n_resamples)):
        idx = rng.integers(0, n, size=n)
        try:
            values.append(float(metric(*(a[idx] for a in arrs))))
        except InvalidInputError:
            continue
    skipped = int(n_resamples) - len(values)
    if skipped:
        logger.info("bootstrap_ci: %d of %d resamples left the metric undefined and were skipped", skipped, n_resamples)
    if len(values) < max(2, int(n_resamples) // 2):
        raise InvalidInputError(f"bootstrap_ci: the metric was undefined on {skipped} of {n_resamples} resamples")
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(np.asarray(values), [alpha, 1.0 - alpha])
    return ConfidenceInterval(estimate, float(low), float(high), float(confidence), len(values))
