"""Two-group comparisons as clinical case-control papers report them, with the test chosen by the data.

* Categorical: Pearson's chi-square, or Fisher's exact test when an expected count is below 5
  (:func:`categorical_test`; Yates' correction off by default, as SPSS's "Pearson Chi-Square" row).
* Continuous: Shapiro-Wilk in each group at ``alpha``; both normal -> Student's t-test and
  mean ± SD, else Mann-Whitney U and median (IQR) (:func:`continuous_test`).
* Benjamini-Hochberg adjusted P (:func:`benjamini_hochberg`), power of the two-proportion z-test
  (:func:`power_two_proportions`, Cohen's h as statsmodels), Cohen's kappa (:func:`cohens_kappa`).
* :func:`group_table` lays the results out as a paper's Table 1/2/3: one row per variable,
  ``n (%)`` or ``mean ± SD`` / ``median (IQR)`` per group, the test and P.

Built on :mod:`biomedai.stats.baseline_tests` (same result type, same complete-case policy).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

from .baseline_tests import (
    GroupTestResult,
    chi_square_from_counts,
    contingency_table,
    fisher_test_from_counts,
    format_p,
)

__all__ = ["categorical_test", "continuous_test", "benjamini_hochberg", "power_two_proportions", "cohens_kappa",
           "VariableSpec", "group_table", "expected_counts"]


def expected_counts(table: Any) -> np.ndarray:
    """Expected cell counts under independence: row total x column total / grand total."""
    arr = np.asarray(table, float)
    return np.outer(arr.sum(axis=1), arr.sum(axis=0)) / arr.sum()


def categorical_test(table: Sequence[Sequence[float]], *, min_expected: float = 5.0,
                     yates: bool = False, n_resamples: int = 9999, seed: int = 0) -> GroupTestResult:
    """Chi-square or Fisher's exact test of a contingency table.

    Chi-square, or Fisher's exact test when any expected count is below ``min_expected``
    (exact for 2x2; for larger tables a seeded permutation estimate with ``n_resamples``).

    >>> categorical_test([[38, 14], [57, 23]]).test   # Table 2, GGO: all expected counts >= 5
    'chi-square'
    >>> categorical_test([[3, 49], [5, 75]]).test     # lymphadenopathy: an expected count < 5
    "Fisher's exact"
    """
    arr = contingency_table(table)
    if expected_counts(arr).min() < min_expected:
        # exact for 2x2; r x c: scipy's permutation version, seeded so that the same table gives the same P
        return fisher_test_from_counts(arr, n_resamples=n_resamples, seed=seed)
    return chi_square_from_counts(arr, yates=yates)


@dataclass
class ContinuousComparison:
    """A continuous test with the normality checks that chose it and the group summaries."""

    result: GroupTestResult
    normal: bool
    shapiro_p: tuple[float, float]
    summaries: tuple[str, str]


def _summary(x: np.ndarray, normal: bool, digits: int) -> str:
    if x.size == 0:
        return "-"
    if normal:
        sd = float(np.std(x, ddof=1)) if x.size > 1 else float("nan")
        return f"{np.mean(x):.{digits}f} ± {sd:.{digits}f}"
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    return f"{med:.{digits}f} ({q1:.{digits}f}-{q3:.{digits}f})"


def continuous_test(a: Any, b: Any, *, alpha: float = 0.05, digits: int = 2) -> ContinuousComparison:
    """Shapiro-Wilk in both groups, then Student's t (both normal) or Mann-Whitney U; NaNs dropped.

    >>> rng = np.random.default_rng(0)
    >>> continuous_test(rng.normal(0, 1, 40), rng.normal(1, 1, 40)).result.test
    'Student t'
    """
    from scipy.stats import mannwhitneyu, shapiro, ttest_ind

    x = np.asarray(a, float)
    y = np.asarray(b, float)
    n_missing = int(np.isnan(x).sum() + np.isnan(y).sum())
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    if x.size < 2 or y.size < 2:
        raise InvalidInputError(f"each group needs >= 2 values, got {x.size} and {y.size}")
    shapiro_p = tuple(float(shapiro(v).pvalue) if v.size >= 3 and np.ptp(v) > 0 else 0.0 for v in (x, y))
    normal = all(p >= alpha for p in shapiro_p)
    if normal:
        res = ttest_ind(x, y, equal_var=True)
        result = GroupTestResult("Student t", float(res.statistic), float(res.pvalue), x.size + y.size, n_missing,
                                 float(x.size + y.size - 2))
    else:
        res = mannwhitneyu(x, y, alternative="two-sided", method="auto", use_continuity=True)
        result = GroupTestResult("Mann-Whitney U", float(res.statistic), float(res.pvalue), x.size + y.size,
                                 n_missing)
    return ContinuousComparison(result, normal, shapiro_p, (_summary(x, normal, digits), _summary(y, normal, digits)))


def benjamini_hochberg(p_values: Any) -> np.ndarray:
    """Benjamini-Hochberg adjusted P (false discovery rate), in the input order.

    >>> benjamini_hochberg([0.01, 0.04, 0.03, 0.5]).round(3).tolist()
    [0.04, 0.053, 0.053, 0.5]
    """
    p = np.asarray(p_values, float)
    if p.ndim != 1 or np.any((p < 0) | (p > 1)) or np.any(np.isnan(p)):
        raise InvalidInputError("P-values must be a 1-D list of numbers in [0, 1]")
    n = p.size
    if n == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * n / np.arange(1, n + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def power_two_proportions(p1: float, p2: float, n1: int, n2: int, alpha: float = 0.05) -> float:
    """Power of the two-sided two-sample z-test of proportions.

    Power of the two-sided two-sample z-test of proportions, effect size Cohen's h (as statsmodels'
    ``NormalIndPower`` with ``proportion_effectsize``).

    >>> round(power_two_proportions(0.3, 0.5, 52, 80), 3)   # spec 3.3: about 62-65 %
    0.637
    """
    from scipy.stats import norm

    for name, p in (("p1", p1), ("p2", p2)):
        if not 0.0 <= p <= 1.0:
            raise InvalidInputError(f"{name} must lie in [0, 1], got {p}")
    if n1 < 1 or n2 < 1:
        raise InvalidInputError("group sizes must be >= 1")
    h = abs(2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p2)))
    z = h * math.sqrt(n1 * n2 / (n1 + n2))
    crit = norm.ppf(1 - alpha / 2)
    return float(norm.cdf(z - crit) + norm.cdf(-z - crit))


def cohens_kappa(reader1: Any, reader2: Any) -> float:
    """Cohen's kappa between two readers' categorical ratings of the same cases.

    >>> round(cohens_kappa([1, 1, 0, 0, 1, 0], [1, 0, 0, 0, 1, 1]), 3)
    0.333
    """
    a = np.asarray(reader1, dtype=object)
    b = np.asarray(reader2, dtype=object)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise InvalidInputError("two readers need ratings of the same non-empty list of cases")
    levels = sorted(set(a.tolist()) | set(b.tolist()), key=str)
    index = {v: i for i, v in enumerate(levels)}
    table = np.zeros((len(levels), len(levels)))
    for u, v in zip(a, b):
        table[index[u], index[v]] += 1
    n = table.sum()
    observed = np.trace(table) / n
    expected = float((table.sum(axis=0) * table.sum(axis=1)).sum()) / n ** 2
    if expected == 1.0:
        return 1.0 if observed == 1.0 else 0.0
    return float((observed - expected) / (1 - expected))


@dataclass
class VariableSpec:
    """One row of a group-comparison table.

    One table row: ``column`` of the data, its ``label``, and ``kind`` "categorical" (with the
    ``level`` counted as n (%) for a binary variable) or "continuous".
    """

    column: str
    label: str
    kind: str = "continuous"
    level: Any = 1


def group_table(data: Any, group_column: str, groups: Sequence[Any], variables: Sequence[VariableSpec], *,
                alpha: float = 0.05, fdr: bool = False, digits: int = 2) -> list[dict[str, Any]]:
    """A paper's group-comparison table.

    A paper's table: per variable the two groups' summaries, the test chosen and its P
    (and the Benjamini-Hochberg P with ``fdr``). ``data`` is a pandas DataFrame.
    """
    if len(groups) != 2:
        raise InvalidInputError(f"two groups are compared, got {list(groups)}")
    g = data[group_column]
    sizes = [int((g == level).sum()) for level in groups]
    heads = [f"{level} (N={n})" for level, n in zip(groups, sizes)]
    rows: list[dict[str, Any]] = []
    for var in variables:
        if var.column not in data:
            raise InvalidInputError(f"no column {var.column!r} in the data")
        values = data[var.column]
        if var.kind == "categorical":
            counts = []
            for level in groups:
                v = values[(g == level) & values.notna()]
                counts.append((int((v == var.level).sum()), int(len(v))))
            table = [[c, n - c] for c, n in counts]
            res = categorical_test(table)
            cells = [f"{c} ({100.0 * c / n:.{digits}f})" if n else "-" for c, n in counts]
        elif var.kind == "continuous":
            comparison = continuous_test(values[g == groups[0]].astype(float), values[g == groups[1]].astype(float),
                                         alpha=alpha, digits=digits)
            res, cells = comparison.result, list(comparison.summaries)
        else:
            raise InvalidInputError(f"variable {var.column!r}: kind must be 'categorical' or 'continuous'")
        rows.append({"variable": var.label, heads[0]: cells[0], heads[1]: cells[1], "test": res.test,
                     "p": res.p_value, "P": format_p(res.p_value), "n_used": res.n_used})
    if fdr and rows:
        adjusted = benjamini_hochberg([r["p"] for r in rows])
        for row, q in zip(rows, adjusted):
            row["p_bh"] = float(q)
            row["P (BH)"] = format_p(float(q))
    return rows
