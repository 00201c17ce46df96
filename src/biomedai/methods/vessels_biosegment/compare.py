"""Comparison with the manual tracing (spec 4.5): percent error, accuracy with the paper's N/A rule,
Bland-Altman, and the Tables 1-2 layout (mean per-image percent error per fold and partition).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from biomedai.metrics.agreement import bland_altman


def percent_error(manual: float, measured: float) -> float:
    """``|manual - measured| / manual * 100`` (spec 4.5); NaN when the manual length is 0.

    Example:
        >>> percent_error(10.0, 9.0)
        10.0
    """
    manual, measured = float(manual), float(measured)
    if manual == 0 or not math.isfinite(manual) or not math.isfinite(measured):
        return float("nan")
    return abs(manual - measured) / manual * 100.0


def accuracy(manual: float, measured: float, na_above: float = 100.0) -> float | None:
    """``100 - percent error``, or None ("N/A", the paper's rule) when the error exceeds ``na_above``.

    Example:
        >>> accuracy(10.0, 9.0), accuracy(10.0, 25.0)
        (90.0, None)
    """
    err = percent_error(manual, measured)
    if not math.isfinite(err) or err > na_above:
        return None
    return 100.0 - err


def format_accuracy(value: float | None) -> str:
    return "N/A" if value is None else f"{value:.2f}"


def agreement_summary(manual: Sequence[float], measured: Sequence[float], na_above: float = 100.0) -> dict[str, Any]:
    """Per-image percent errors, their mean/median, the share within 10 %, and the Bland-Altman bias and limits."""
    m = np.asarray(manual, float)
    p = np.asarray(measured, float)
    errors = np.array([percent_error(a, b) for a, b in zip(m, p)])
    finite = errors[np.isfinite(errors)]
    out: dict[str, Any] = {"n": int(len(m)), "percent_error": errors.tolist(),
                           "mean_percent_error": float(finite.mean()) if finite.size else float("nan"),
                           "median_percent_error": float(np.median(finite)) if finite.size else float("nan"),
                           "within_10_percent": int((finite <= 10).sum()),
                           "n_accuracy_na": int((~np.isfinite(errors) | (errors > na_above)).sum())}
    if len(m) >= 2:
        ba = bland_altman(m, p)
        out["bland_altman"] = {"bias": float(ba.bias), "lower": float(ba.lower), "upper": float(ba.upper)}
    return out


def group_accuracy(manual_by_group: Mapping[str, Sequence[float]], measured_by_group: Mapping[str, Sequence[float]],
                   na_above: float = 100.0) -> list[dict[str, Any]]:
    """Fig. 4D: accuracy per group from the group-average length densities (N/A above ``na_above`` % error)."""
    rows = []
    for group in manual_by_group:
        man = float(np.mean(manual_by_group[group]))
        meas = float(np.mean(measured_by_group[group]))
        rows.append({"group": group, "manual_mean": man, "measured_mean": meas,
                     "percent_error": percent_error(man, meas),
                     "accuracy": format_accuracy(accuracy(man, meas, na_above))})
    return rows


def cross_validation_table(errors: Mapping[Any, Mapping[str, Sequence[float]]],
                           partitions: Sequence[str] = ("holdout", "validation", "train")) -> list[dict[str, Any]]:
    """Tables 1-2: one row per fold, the mean per-image percent error of each partition, plus a mean (SD) row."""
    rows = []
    for fold, parts in errors.items():
        row: dict[str, Any] = {"fold": fold}
        for name in partitions:
            vals = np.asarray(parts.get(name, []), float)
            vals = vals[np.isfinite(vals)]
            row[name] = float(vals.mean()) if vals.size else float("nan")
        rows.append(row)
    if len(rows) > 1:
        summary: dict[str, Any] = {"fold": "mean (SD)"}
        for name in partitions:
            vals = np.array([r[name] for r in rows], float)
            summary[name] = f"{np.nanmean(vals):.2f} ({np.nanstd(vals, ddof=1):.2f})"
        rows.append(summary)
    return rows


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, digits: int = 3) -> str:
    """A plain Markdown table of dict rows."""
    if not rows:
        return ""
    cols = list(columns or rows[0].keys())

    def fmt(v: Any) -> str:
        return f"{v:.{digits}f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)
