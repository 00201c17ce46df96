"""Metrics of the paper from a confusion matrix (Eqs. 7-10, CPS = positive) and their fold summaries.

The paper's F1 is not the harmonic mean of its P and R (spec 2.6), so three conventions are reported and named:
``micro`` (Eqs. 7-10 on the confusion matrix pooled over folds), ``fold_mean`` (Eqs. 7-10 per fold, then mean +/- SD)
and ``macro`` (mean of the F1 of CPS-positive and SPS-positive).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.metrics import classification


@dataclass(frozen=True)
class Counts:
    """TP, TN, FP, FN with CPS (label 1) positive."""

    tp: int
    tn: int
    fp: int
    fn: int

    @classmethod
    def from_labels(cls, true: Sequence[int], pred: Sequence[int]) -> Counts:
        """Count from binary labels (1 = CPS)."""
        cm = classification.confusion_matrix(np.asarray(true, int), np.asarray(pred, int), labels=[0, 1])
        return cls(tp=int(cm[1, 1]), tn=int(cm[0, 0]), fp=int(cm[0, 1]), fn=int(cm[1, 0]))

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.tn + other.tn, self.fp + other.fp, self.fn + other.fn)

    def swapped(self) -> Counts:
        """The same matrix with SPS positive."""
        return Counts(tp=self.tn, tn=self.tp, fp=self.fn, fn=self.fp)


def _div(num: float, den: float) -> float:
    return float(num / den) if den else 0.0


def paper_metrics(c: Counts) -> dict[str, float]:
    """Eq. 7 precision, Eq. 8 accuracy, Eq. 9 recall, Eq. 10 F1 = 2TP / (2TP + FP + FN); 0 where undefined."""
    total = c.tp + c.tn + c.fp + c.fn
    if total == 0:
        raise InvalidInputError("confusion matrix is empty: no predictions to score")
    return {"accuracy": _div(c.tp + c.tn, total), "recall": _div(c.tp, c.tp + c.fn),
            "precision": _div(c.tp, c.tp + c.fp), "f1": _div(2 * c.tp, 2 * c.tp + c.fp + c.fn)}


def macro_f1(c: Counts) -> float:
    """Mean of the F1 with CPS positive and with SPS positive."""
    return 0.5 * (paper_metrics(c)["f1"] + paper_metrics(c.swapped())["f1"])


def summarise_folds(fold_counts: Sequence[Counts]) -> dict[str, float]:
    """``{metric}_micro``, ``{metric}_mean``, ``{metric}_sd`` (sample SD over folds) and ``f1_macro``."""
    if not fold_counts:
        raise InvalidInputError("no folds to summarise")
    pooled = fold_counts[0]
    for c in fold_counts[1:]:
        pooled = pooled + c
    out: dict[str, float] = {f"{k}_micro": v for k, v in paper_metrics(pooled).items()}
    per_fold = [paper_metrics(c) for c in fold_counts]
    for key in ("accuracy", "recall", "precision", "f1"):
        values = np.array([m[key] for m in per_fold])
        out[f"{key}_mean"] = float(values.mean())
        out[f"{key}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    out["f1_macro"] = macro_f1(pooled)
    return out


def subject_vote(subjects: Sequence[str], probabilities: Sequence[float]) -> dict[str, float]:
    """Subject-level probability: the mean of its windows' probabilities (spec 2.8.2)."""
    subjects = np.asarray(subjects)
    p = np.asarray(probabilities, float)
    if subjects.shape != p.shape:
        raise InvalidInputError(f"{subjects.shape[0]} subject ids for {p.shape[0]} probabilities")
    return {str(s): float(p[subjects == s].mean()) for s in np.unique(subjects)}


def auc(true: Sequence[int], score: Sequence[float]) -> float:
    """ROC AUC (CPS positive); NaN when only one class is present."""
    t = np.asarray(true, int)
    if len(np.unique(t)) < 2:
        return float("nan")
    return float(classification.roc_auc(t, np.asarray(score, float)))
