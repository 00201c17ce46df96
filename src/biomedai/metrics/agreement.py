"""Agreement between two measurement methods or raters: ICC (Shrout & Fleiss 1979), Bland-Altman limits, MAE, kappa.

Example:
    >>> a = np.array([10.0, 20.0, 30.0, 40.0]); b = a + np.array([1.0, -1.0, 1.0, -1.0])
    >>> round(intraclass_correlation(np.c_[a, b], "3,1"), 4), bland_altman(a, b).bias
    (0.9959, 0.0)
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from biomedai.errors import InvalidInputError

__all__ = ["BlandAltman", "bland_altman", "intraclass_correlation", "mean_absolute_error"]


def _pair(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    if x.shape != y.shape:
        raise InvalidInputError(f"the two measurement series differ in length: {x.size} and {y.size}")
    if x.size < 2:
        raise InvalidInputError(f"agreement needs at least 2 paired measurements, got {x.size}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise InvalidInputError("measurements must be finite (no NaN or inf)")
    return x, y


def mean_absolute_error(true: Any, pred: Any) -> float:
    """Mean of ``|pred - true|``.

    Example:
        >>> mean_absolute_error([1, 2, 3], [2, 2, 1])
        1.0
    """
    x, y = _pair(true, pred)
    return float(np.mean(np.abs(y - x)))


class BlandAltman(NamedTuple):
    """Bias (mean of ``b - a``), SD of the differences and the 95% limits of agreement (bias ± 1.96 SD)."""

    bias: float
    sd: float
    lower: float
    upper: float
    n: int


def bland_altman(a: Any, b: Any) -> BlandAltman:
    """Bland-Altman statistics of ``b - a`` (SD with n-1).

    Example:
        >>> r = bland_altman([1.0, 2.0, 3.0], [2.0, 3.0, 5.0])
        >>> round(r.bias, 4), round(r.sd, 4), round(r.upper, 4)
        (1.3333, 0.5774, 2.4649)
    """
    x, y = _pair(a, b)
    diff = y - x
    bias, sd = float(diff.mean()), float(diff.std(ddof=1))
    return BlandAltman(bias, sd, bias - 1.96 * sd, bias + 1.96 * sd, int(diff.size))


def intraclass_correlation(ratings: Any, kind: str = "2,1") -> float:
    """Shrout & Fleiss intraclass correlation of an ``(n_targets, k_raters)`` table.

    ``kind``: ``"1,1"`` (one-way random), ``"2,1"`` (two-way random, absolute agreement, McGraw-Wong
    ICC(A,1)) or ``"3,1"`` (two-way mixed, consistency, ICC(C,1)).

    Example (Shrout & Fleiss 1979, Table 2: 6 targets, 4 judges):
        >>> t = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
        >>> [round(intraclass_correlation(t, k), 2) for k in ("1,1", "2,1", "3,1")]
        [0.17, 0.29, 0.71]
    """
    y = np.asarray(ratings, float)
    if y.ndim != 2 or y.shape[0] < 2 or y.shape[1] < 2:
        raise InvalidInputError(f"ICC needs an (n_targets >= 2, k_raters >= 2) table, got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise InvalidInputError("ICC ratings must be finite (no NaN or inf)")
    n, k = y.shape
    grand = y.mean()
    ss_rows = k * ((y.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((y.mean(axis=0) - grand) ** 2).sum()
    ss_total = ((y - grand) ** 2).sum()
    ss_err = ss_total - ss_rows - ss_cols
    bms = ss_rows / (n - 1)
    jms = ss_cols / (k - 1)
    ems = ss_err / ((n - 1) * (k - 1))
    wms = (ss_cols + ss_err) / (n * (k - 1))
    if kind == "1,1":
        den = bms + (k - 1) * wms
        return float((bms - wms) / den) if den else float("nan")
    if kind == "2,1":
        den = bms + (k - 1) * ems + k * (jms - ems) / n
        return float((bms - ems) / den) if den else float("nan")
    if kind == "3,1":
        den = bms + (k - 1) * ems
        return float((bms - ems) / den) if den else float("nan")
    raise InvalidInputError(f"ICC kind must be '1,1', '2,1' or '3,1', got {kind!r}")


def binary_agreement_from_counts(counts: np.ndarray) -> dict[str, float]:
    """Cohen's kappa, positive F1 and accuracy of binary calls pooled over groups (e.g. nuclei over tiles).

    ``counts`` rows are ``(n_items, truly_positive, called_positive, both_positive)``, one per group.

    Examples
    --------
    >>> d = binary_agreement_from_counts(np.array([[10, 2, 0, 0]]))     # "all negative" on 10 nuclei, 2 positive
    >>> d["kappa"], d["f1_positive"], d["accuracy"]
    (0.0, 0.0, 0.8)
    """
    n, truth, called, both = np.asarray(counts, np.float64).reshape(-1, 4).sum(axis=0)
    if n <= 0:
        return {"kappa": float("nan"), "f1_positive": float("nan"), "accuracy": float("nan")}
    agree = (n - truth - called + 2 * both) / n
    chance = (truth * called + (n - truth) * (n - called)) / n ** 2
    kappa = 0.0 if chance >= 1.0 else (agree - chance) / (1.0 - chance)
    f1 = 2 * both / (truth + called) if truth + called else 0.0
    return {"kappa": float(kappa), "f1_positive": float(f1), "accuracy": float(agree)}
