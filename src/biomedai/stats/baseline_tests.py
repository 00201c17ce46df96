"""Tests for a paper's baseline table ("Table 1").

Tests for a paper's baseline table ("Table 1"): chi-square with or without Yates' correction, Student's or
Welch's t-test, Mann-Whitney U, with one missing-data policy: complete case per variable, and the number of
subjects used reported with every P-value.

The defaults reproduce R: ``chisq.test`` applies Yates' continuity correction to 2x2 tables only (as
``scipy.stats.chi2_contingency``), ``t.test(var.equal = TRUE)`` is Student's test, ``wilcox.test`` is the
Mann-Whitney U test (normal approximation with continuity correction when there are ties).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

__all__ = ["GroupTestResult", "chi_square_test", "chi_square_from_counts", "t_test", "t_test_from_stats",
           "mann_whitney_test", "compare_groups", "format_p", "fisher_test_from_counts", "fisher_test", "anova_test"]


@dataclass
class GroupTestResult:
    """A test's statistic and two-sided P, with the subjects used (complete case) and dropped."""

    test: str
    statistic: float
    p_value: float
    n_used: int
    n_missing: int = 0
    df: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary of the result."""
        return {"test": self.test, "statistic": self.statistic, "p": self.p_value, "df": self.df,
                "n_used": self.n_used, "n_missing": self.n_missing}


def format_p(p: float) -> str:
    """P as a paper prints it: ``<0.001`` below 0.001, else two significant decimals.

    >>> format_p(0.00021), format_p(0.0172), format_p(0.43)
    ('<0.001', '0.017', '0.43')
    """
    if p < 0.001:
        return "<0.001"
    return f"{p:.3f}" if p < 0.1 else f"{p:.2f}"


def chi_square_from_counts(table: Sequence[Sequence[float]], *, yates: bool | None = None) -> GroupTestResult:
    """Pearson's chi-square test of independence on an ``r x c`` table of counts.

    ``yates=None`` (default) applies Yates' correction to 2x2 tables only, like R ``chisq.test``;
    ``True``/``False`` forces it on (2x2 only) or off. Rows or columns that are all zero are dropped.

    >>> round(chi_square_from_counts([[46, 61], [27, 108]]).p_value, 5)  # Cai et al. Table 1, sex
    0.00019
    """
    from scipy.stats import chi2_contingency

    arr = np.asarray(table, float)
    if arr.ndim != 2 or min(arr.shape) < 2:
        raise InvalidInputError(f"chi-square needs a table with >= 2 rows and columns, got shape {arr.shape}")
    if np.any(arr < 0) or not np.all(np.isfinite(arr)):
        raise InvalidInputError("chi-square counts must be finite and >= 0")
    arr = arr[arr.sum(axis=1) > 0][:, arr.sum(axis=0) > 0]
    if min(arr.shape) < 2:
        raise InvalidInputError("chi-square table has fewer than two non-empty rows or columns")
    correction = (arr.shape == (2, 2)) if yates is None else bool(yates)
    stat, p, dof, _ = chi2_contingency(arr, correction=correction)
    name = "chi-square (Yates)" if correction and arr.shape == (2, 2) else "chi-square"
    return GroupTestResult(name, float(stat), float(p), int(arr.sum()), 0, float(dof))


def _complete(values: Any, groups: Any) -> tuple[np.ndarray, np.ndarray, int]:
    v = np.asarray(values, dtype=object).ravel()
    g = np.asarray(groups, dtype=object).ravel()
    if v.size != g.size:
        raise InvalidInputError(f"values has {v.size} entries but groups has {g.size}")

    def missing(x: Any) -> bool:
        return x is None or (isinstance(x, float) and np.isnan(x)) or (isinstance(x, str) and x.strip() in
                                                                       ("", "NA", "NaN", "nan"))

    keep = np.array([not missing(a) and not missing(b) for a, b in zip(v, g)], bool)
    return v[keep], g[keep], int((~keep).sum())


def chi_square_test(values: Any, groups: Any, *, yates: bool | None = None) -> GroupTestResult:
    """Chi-square test of a categorical variable across groups, complete case (missing values dropped).

    >>> chi_square_test(["F"] * 46 + ["M"] * 27 + ["F"] * 61 + ["M"] * 108 + [None],
    ...                 ["low"] * 73 + ["high"] * 169 + ["high"]).n_missing
    1
    """
    v, g, n_missing = _complete(values, groups)
    levels_v = sorted(set(v.tolist()), key=str)
    levels_g = sorted(set(g.tolist()), key=str)
    table = [[int(np.count_nonzero((v == a) & (g == b))) for b in levels_g] for a in levels_v]
    res = chi_square_from_counts(table, yates=yates)
    res.n_missing = n_missing
    return res


def _two_numeric_groups(values: Any, groups: Any) -> tuple[np.ndarray, np.ndarray, int]:
    v, g, n_missing = _complete(values, groups)
    levels = sorted(set(g.tolist()), key=str)
    if len(levels) != 2:
        raise InvalidInputError(f"need exactly two groups, got {levels}")
    try:
        x = v.astype(float)
    except (TypeError, ValueError):
        raise InvalidInputError("values must be numeric") from None
    return x[g == levels[0]], x[g == levels[1]], n_missing


def t_test(values: Any, groups: Any, *, equal_var: bool = True) -> GroupTestResult:
    """Two-sample t-test (Student's by default, Welch's with ``equal_var=False``), complete case."""
    from scipy.stats import ttest_ind

    a, b, n_missing = _two_numeric_groups(values, groups)
    res = ttest_ind(a, b, equal_var=equal_var)
    return GroupTestResult("Student t" if equal_var else "Welch t", float(res.statistic), float(res.pvalue),
                      a.size + b.size, n_missing, float(res.df))


def t_test_from_stats(mean1: float, sd1: float, n1: int, mean2: float, sd2: float, n2: int, *,
                      equal_var: bool = True) -> GroupTestResult:
    """The t-test from a table's means, SDs and group sizes.

    >>> round(t_test_from_stats(65.3, 14.8, 35, 64.0, 12.6, 104).p_value, 2)  # Cai et al. Table 1, age
    0.61
    """
    from scipy.stats import ttest_ind_from_stats

    res = ttest_ind_from_stats(mean1, sd1, n1, mean2, sd2, n2, equal_var=equal_var)
    df = n1 + n2 - 2 if equal_var else None
    return GroupTestResult("Student t" if equal_var else "Welch t", float(res.statistic), float(res.pvalue),
                      n1 + n2, 0, df)


def mann_whitney_test(values: Any, groups: Any) -> GroupTestResult:
    """Two-sided Mann-Whitney U (R ``wilcox.test``: exact without ties for small samples), complete case."""
    from scipy.stats import mannwhitneyu

    a, b, n_missing = _two_numeric_groups(values, groups)
    res = mannwhitneyu(a, b, alternative="two-sided", method="auto", use_continuity=True)
    return GroupTestResult("Mann-Whitney U", float(res.statistic), float(res.pvalue), a.size + b.size, n_missing)


def contingency_table(table: Any) -> np.ndarray:
    """A contingency table of counts as floats, with empty rows and columns dropped.

    Parameters
    ----------
    table : array_like
        Counts, rows by columns.

    Returns
    -------
    numpy.ndarray
        The table without all-zero rows and columns.

    Raises
    ------
    InvalidInputError
        When it is not 2-D with at least two non-empty rows and columns of non-negative integer counts.

    Examples
    --------
    >>> contingency_table([[3, 0, 5], [2, 0, 7]]).tolist()
    [[3.0, 5.0], [2.0, 7.0]]
    """
    arr = np.asarray(table, float)
    if arr.ndim != 2 or min(arr.shape) < 2:
        raise InvalidInputError(f"a contingency table needs >= 2 rows and columns, got shape {arr.shape}")
    if np.any(arr < 0) or not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
        raise InvalidInputError("contingency table counts must be non-negative integers")
    arr = arr[arr.sum(axis=1) > 0][:, arr.sum(axis=0) > 0]
    if min(arr.shape) < 2:
        raise InvalidInputError("contingency table has fewer than two non-empty rows or columns")
    return arr


def fisher_test_from_counts(table: Sequence[Sequence[float]], *, n_resamples: int = 10000, seed: int = 0
                            ) -> GroupTestResult:
    """Fisher's exact test on an ``r x c`` table of counts.

    Fisher's exact test on an ``r x c`` table of counts: exact for 2x2; larger tables get scipy's seeded
    Monte-Carlo P over tables with the same margins (``n_resamples``; SE about 0.005 at P = 0.5).

    >>> p = fisher_test_from_counts([[6, 10, 24, 5, 16], [3, 11, 16, 5, 18]]).p_value  # Fan et al. Table 2, MP
    >>> abs(p - 0.706) < 0.02                                                          # R fisher.test: 0.706
    True
    """
    from scipy.stats import PermutationMethod, fisher_exact

    arr = contingency_table(table)
    if arr.shape == (2, 2):
        res = fisher_exact(arr.astype(np.int64))
    else:
        res = fisher_exact(arr.astype(np.int64), method=PermutationMethod(n_resamples=n_resamples, rng=seed))
    statistic = float(res.statistic) if np.ndim(res.statistic) == 0 else float("nan")
    return GroupTestResult("Fisher's exact", statistic, float(res.pvalue), int(arr.sum()), 0)


def fisher_test(values: Any, groups: Any) -> GroupTestResult:
    """Fisher's exact test of a categorical variable across groups, complete case."""
    v, g, n_missing = _complete(values, groups)
    levels, groups_ = sorted(set(v.tolist()), key=str), sorted(set(g.tolist()), key=str)
    table = [[int(np.sum((g == gr) & (v == lv))) for lv in levels] for gr in groups_]
    res = fisher_test_from_counts(table)
    res.n_missing = n_missing
    return res


def anova_test(values: Any, groups: Any) -> GroupTestResult:
    """One-way analysis of variance of a numeric variable across groups (F test), complete case."""
    from scipy.stats import f_oneway

    v, g, n_missing = _complete(values, groups)
    try:
        v = v.astype(float)
    except (TypeError, ValueError):
        raise InvalidInputError("ANOVA needs numeric values") from None
    samples = [v[g == level] for level in sorted(set(g.tolist()), key=str)]
    if len(samples) < 2 or any(s.size < 2 for s in samples):
        raise InvalidInputError("ANOVA needs >= 2 groups with >= 2 values each")
    res = f_oneway(*samples)
    return GroupTestResult("ANOVA", float(res.statistic), float(res.pvalue), int(v.size), n_missing,
                           float(len(samples) - 1))


def compare_groups(values: Any, groups: Any, kind: str) -> GroupTestResult:
    """The baseline-table test for one variable.

    The baseline-table test for one variable: ``kind`` is ``"categorical"`` (chi-square, Yates on
    2x2), ``"continuous"`` (Student t) or ``"ordinal"`` / ``"skewed"`` (Mann-Whitney).
    """
    if kind == "categorical":
        return chi_square_test(values, groups)
    if kind == "continuous":
        return t_test(values, groups)
    if kind in ("ordinal", "skewed"):
        return mann_whitney_test(values, groups)
    raise InvalidInputError(f"kind must be 'categorical', 'continuous', 'ordinal' or 'skewed', got {kind!r}")
