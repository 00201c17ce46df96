"""Two-way ANOVA with Holm-Sidak post hoc comparisons, as SigmaPlot reports them.

:func:`two_way_anova` fits ``value ~ A + B + A:B`` by ordinary least squares (statsmodels) and returns
the ANOVA table (type II sums of squares by default; type III with sum-to-zero contrasts for unbalanced
designs when asked). :func:`holm_sidak_pairwise` compares every pair of levels of one factor, within
each level of the other factor or pooled over it, by t-tests on the model's residual mean square (the
pooled error SigmaPlot uses), and adjusts the P values by Holm's step-down Sidak procedure.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

__all__ = ["AnovaRow", "PairwiseComparison", "two_way_anova", "holm_sidak_pairwise", "holm_sidak_adjust"]


@dataclass(frozen=True)
class AnovaRow:
    """One source of variation of an ANOVA table."""

    source: str
    df: float
    sum_sq: float
    mean_sq: float
    f: float
    p: float


@dataclass(frozen=True)
class PairwiseComparison:
    """One post hoc comparison of two levels of a factor (``within``: the other factor's level, or "all")."""

    factor: str
    within: str
    level_a: str
    level_b: str
    difference: float
    t: float
    p_unadjusted: float
    p_adjusted: float
    significant: bool


def _frame(values: Any, a: Any, b: Any) -> Any:
    import pandas as pd

    df = pd.DataFrame({"value": np.asarray(values, float), "A": np.asarray(a).astype(str),
                       "B": np.asarray(b).astype(str)})
    if not (len(df["value"]) == len(df["A"]) == len(df["B"])):
        raise InvalidInputError("values and both factors must have the same length")
    df = df[np.isfinite(df["value"])]
    if df["A"].nunique() < 2 or df["B"].nunique() < 2:
        raise InvalidInputError("two-way ANOVA needs at least two levels of each factor")
    if len(df) <= df["A"].nunique() * df["B"].nunique():
        raise InvalidInputError("two-way ANOVA with interaction needs more observations than cells "
                                f"({len(df)} values for {df['A'].nunique() * df['B'].nunique()} cells)")
    return df


def _fit(df: Any, typ: int) -> Any:
    import statsmodels.formula.api as smf

    formula = "value ~ C(A, Sum) * C(B, Sum)" if typ == 3 else "value ~ C(A) * C(B)"
    return smf.ols(formula, data=df).fit()


def two_way_anova(values: Any, factor_a: Any, factor_b: Any, *, names: tuple[str, str] = ("A", "B"),
                  typ: int = 2) -> list[AnovaRow]:
    """ANOVA table of ``value ~ A + B + A:B``: rows for A, B, A x B and the residual.

    Parameters
    ----------
    values : array-like of float
        The measurements (non-finite values are dropped).
    factor_a, factor_b : array-like
        The level of each factor per measurement.
    names : tuple of str
        Names of the two factors in the table.
    typ : {2, 3}
        Type of sums of squares (3 uses sum-to-zero contrasts, for unbalanced designs).

    Returns
    -------
    list of AnovaRow

    Examples
    --------
    >>> rows = two_way_anova([1, 2, 1, 2, 5, 6, 5, 6], list("aabbaabb"), list("xxxxyyyy"))
    >>> [r.source for r in rows], round(rows[1].f, 1)
    (['A', 'B', 'A x B', 'Residual'], 64.0)
    """
    from statsmodels.stats.anova import anova_lm

    if typ not in (2, 3):
        raise InvalidInputError(f"typ must be 2 or 3, not {typ}")
    df = _frame(values, factor_a, factor_b)
    table = anova_lm(_fit(df, typ), typ=typ)
    a_name, b_name = names
    matchers = ((a_name, lambda i: i.startswith("C(A") and ":" not in i),
                (b_name, lambda i: i.startswith("C(B") and ":" not in i),
                (f"{a_name} x {b_name}", lambda i: ":" in i), ("Residual", lambda i: i == "Residual"))
    rows = []
    for label, matches in matchers:
        r = table.loc[next(i for i in table.index if matches(i))]
        mean_sq = float(r["sum_sq"] / r["df"]) if r["df"] else float("nan")
        rows.append(AnovaRow(label, float(r["df"]), float(r["sum_sq"]), mean_sq,
                             float(r.get("F", float("nan"))), float(r.get("PR(>F)", float("nan")))))
    return rows


def holm_sidak_adjust(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down Sidak adjustment of a family of P values (statsmodels ``holm-sidak``).

    Examples
    --------
    >>> holm_sidak_adjust([0.01, 0.04]).round(4).tolist()
    [0.0199, 0.04]
    """
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p_values, float)
    if p.size == 0:
        return p
    with np.errstate(divide="ignore"):  # a P value of exactly 1 takes log(0) inside statsmodels, harmlessly
        return multipletests(p, method="holm-sidak")[1]


def holm_sidak_pairwise(values: Any, factor_a: Any, factor_b: Any, *, compare: str = "A",
                        within_levels: bool = True, alpha: float = 0.05,
                        names: tuple[str, str] = ("A", "B")) -> list[PairwiseComparison]:
    """All pairwise comparisons of the levels of one factor (Holm-Sidak post hoc of a two-way ANOVA).

    Each comparison is a t-test of the difference of cell means over the two-way model's residual
    mean square; ``within_levels`` compares within each level of the other factor (SigmaPlot's
    "comparisons for factor A within B"), else the marginal means. One family per table: the P values
    of all comparisons returned are adjusted together.

    Examples
    --------
    >>> out = holm_sidak_pairwise([1, 1.2, 1, 1.2, 5, 5.2, 1, 1.2], list("aabbaabb"), list("xxxxyyyy"))
    >>> [(c.within, c.level_a, c.level_b, c.significant) for c in out]
    [('x', 'a', 'b', False), ('y', 'a', 'b', True)]
    """
    from scipy import stats

    if compare not in ("A", "B"):
        raise InvalidInputError(f"compare must be 'A' or 'B', not {compare!r}")
    df = _frame(values, factor_a, factor_b)
    fit = _fit(df, 2)
    mse, dof = float(fit.mse_resid), float(fit.df_resid)
    other = "B" if compare == "A" else "A"
    groups = [(level, df[df[other] == level]) for level in sorted(df[other].unique())] if within_levels \
        else [("all", df)]
    raw: list[tuple[str, str, str, float, float, float]] = []
    for within, part in groups:
        levels = sorted(part[compare].unique())
        for la, lb in itertools.combinations(levels, 2):
            xa, xb = part.loc[part[compare] == la, "value"], part.loc[part[compare] == lb, "value"]
            if len(xa) == 0 or len(xb) == 0:
                continue
            diff = float(xa.mean() - xb.mean())
            se = math.sqrt(mse * (1.0 / len(xa) + 1.0 / len(xb)))
            t = diff / se if se > 0 else (math.inf if diff else 0.0)
            p = float(2.0 * stats.t.sf(abs(t), dof))
            raw.append((within, la, lb, diff, t, p))
    adjusted = holm_sidak_adjust([r[5] for r in raw])
    name = names[0] if compare == "A" else names[1]
    return [PairwiseComparison(name, w, la, lb, d, t, p, float(pa), bool(pa < alpha))
            for (w, la, lb, d, t, p), pa in zip(raw, adjusted)]
