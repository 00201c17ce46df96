"""Binary ROC statistics: AUC with DeLong's interval and test, Youden point, rates at a threshold.

Binary ROC statistics: AUC with DeLong's standard error and 95 % CI, DeLong's test of two correlated AUCs,
the Youden operating point, and sensitivity / specificity / PPV / NPV at a threshold.

DeLong's variance uses the structural components (placement values) of DeLong, DeLong & Clarke-Pearson,
Biometrics 1988, computed with midranks as in Sun & Xu, IEEE SPL 2014 (pROC's default method); ties count 1/2.

Example:
    >>> import numpy as np
    >>> y = np.array([0, 0, 0, 1, 1, 1]); s = np.array([0.1, 0.4, 0.35, 0.8, 0.3, 0.9])
    >>> r = auc_with_ci(y, s); round(r.auc, 4), round(r.se, 4)
    (0.7778, 0.2485)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

from biomedai.errors import InvalidInputError

__all__ = ["AucResult", "auc_with_ci", "delong_test", "youden_threshold", "binary_metrics_at", "roc_curve_points"]


def _check(y: Any, *scores: Any) -> tuple[np.ndarray, list[np.ndarray]]:
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise InvalidInputError(f"labels must be a non-empty 1-D vector, got shape {y.shape}")
    if not set(np.unique(y).tolist()) <= {0, 1, False, True}:
        raise InvalidInputError("labels must be 0/1")
    y = y.astype(bool)
    if y.all() or not y.any():
        raise InvalidInputError("ROC statistics need both classes among the labels")
    out = []
    for s in scores:
        s = np.asarray(s, float)
        if s.shape != y.shape or not np.all(np.isfinite(s)):
            raise InvalidInputError(f"scores must be finite and match the {y.size} labels, got shape {s.shape}")
        out.append(s)
    return y, out


def _midrank(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    ranks = np.empty(x.size)
    i = 0
    while i < x.size:
        j = i
        while j < x.size and xs[j] == xs[i]:
            j += 1
        ranks[i:j] = 0.5 * (i + j - 1) + 1
        i = j
    out = np.empty(x.size)
    out[order] = ranks
    return out


def _delong_components(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUCs (k,) and placement values V10 (k, m positives), V01 (k, n negatives) for k score rows."""
    pos, neg = scores[:, y], scores[:, ~y]
    m, n = pos.shape[1], neg.shape[1]
    aucs, v10, v01 = [], [], []
    for sp, sn in zip(pos, neg):
        tx, ty, tz = _midrank(sp), _midrank(sn), _midrank(np.concatenate([sp, sn]))
        aucs.append((tz[:m].sum() - m * (m + 1) / 2) / (m * n))
        v10.append((tz[:m] - tx) / n)
        v01.append(1.0 - (tz[m:] - ty) / m)
    return np.array(aucs), np.array(v10), np.array(v01)


def _delong_cov(v10: np.ndarray, v01: np.ndarray) -> np.ndarray:
    s10 = np.atleast_2d(np.cov(v10))
    s01 = np.atleast_2d(np.cov(v01))
    return s10 / v10.shape[1] + s01 / v01.shape[1]


@dataclass
class AucResult:
    """AUC, DeLong standard error and the 95 % (or ``level``) confidence interval, clipped to [0, 1]."""

    auc: float
    se: float
    ci_low: float
    ci_high: float
    level: float = 0.95

    def as_dict(self) -> dict[str, float]:
        """A JSON-ready dictionary of the AUC and its interval."""
        return {"auc": self.auc, "se": self.se, "ci_low": self.ci_low, "ci_high": self.ci_high, "level": self.level}


def auc_with_ci(y: Any, score: Any, *, level: float = 0.95) -> AucResult:
    """ROC AUC with DeLong's standard error and a normal-approximation interval (as pROC ``ci.auc``)."""
    yb, (s,) = _check(y, score)
    auc, v10, v01 = _delong_components(yb, s[None])
    se = float(np.sqrt(max(_delong_cov(v10, v01)[0, 0], 0.0)))
    z = sps.norm.ppf(0.5 + level / 2)
    a = float(auc[0])
    return AucResult(a, se, float(max(0.0, a - z * se)), float(min(1.0, a + z * se)), level)


def delong_test(y: Any, score_a: Any, score_b: Any) -> tuple[float, float, float]:
    """DeLong's two-sided test of equal AUCs for two scores on the same cases: ``(z, p, auc_a - auc_b)``."""
    yb, (a, b) = _check(y, score_a, score_b)
    aucs, v10, v01 = _delong_components(yb, np.stack([a, b]))
    cov = _delong_cov(v10, v01)
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    diff = float(aucs[0] - aucs[1])
    if var <= 1e-15:
        return 0.0, 1.0, diff
    z = diff / np.sqrt(var)
    return float(z), float(2 * sps.norm.sf(abs(z))), diff


def roc_curve_points(y: Any, score: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fpr, tpr, thresholds)``; a case is positive when ``score >= threshold``; starts at (0, 0)."""
    yb, (s,) = _check(y, score)
    thr = np.unique(s)[::-1]
    tpr = np.array([np.mean(s[yb] >= t) for t in thr])
    fpr = np.array([np.mean(s[~yb] >= t) for t in thr])
    return np.r_[0.0, fpr], np.r_[0.0, tpr], np.r_[np.inf, thr]


def youden_threshold(y: Any, score: Any) -> tuple[float, float]:
    """The threshold maximising sensitivity + specificity - 1 (ties: the highest threshold), and that J."""
    fpr, tpr, thr = roc_curve_points(y, score)
    j = tpr - fpr
    i = int(np.argmax(j))
    return float(thr[i]), float(j[i])


def binary_metrics_at(y: Any, score: Any, threshold: float) -> dict[str, float | int]:
    """Confusion counts and rates of ``score >= threshold``.

    Confusion counts and sensitivity, specificity, PPV, NPV, accuracy of ``score >= threshold``
    (NaN where a ratio has no cases).
    """
    yb, (s,) = _check(y, score)
    pred = s >= threshold
    tp, fn = int(np.sum(pred & yb)), int(np.sum(~pred & yb))
    tn, fp = int(np.sum(~pred & ~yb)), int(np.sum(pred & ~yb))

    def ratio(a: int, b: int) -> float:
        return a / b if b else float("nan")

    return {"threshold": float(threshold), "TP": tp, "FN": fn, "TN": tn, "FP": fp,
            "sensitivity": ratio(tp, tp + fn), "specificity": ratio(tn, tn + fp), "ppv": ratio(tp, tp + fp),
            "npv": ratio(tn, tn + fn), "accuracy": ratio(tp + tn, yb.size)}
