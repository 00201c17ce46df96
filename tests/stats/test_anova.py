"""Two-way ANOVA and Holm-Sidak post hoc against hand calculations."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from biomedai.errors import InvalidInputError
from biomedai.stats.anova import holm_sidak_adjust, holm_sidak_pairwise, two_way_anova


def _balanced(seed: int = 0, n: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a, b, y = [], [], []
    effects = {("m1", "g1"): 1.0, ("m1", "g2"): 2.0, ("m2", "g1"): 1.5, ("m2", "g2"): 4.0, ("m3", "g1"): 1.0,
               ("m3", "g2"): 2.2}
    for (la, lb), mu in effects.items():
        a += [la] * n
        b += [lb] * n
        y += list(mu + rng.normal(0, 0.5, n))
    return np.array(y), np.array(a), np.array(b)


def test_two_way_anova_equals_the_textbook_sums_of_squares() -> None:
    y, a, b = _balanced()
    rows = {r.source: r for r in two_way_anova(y, a, b, names=("method", "group"))}
    grand = y.mean()
    la, lb = np.unique(a), np.unique(b)
    n = 4
    ss_a = sum(len(lb) * n * (y[a == i].mean() - grand) ** 2 for i in la)
    ss_b = sum(len(la) * n * (y[b == j].mean() - grand) ** 2 for j in lb)
    cells = {(i, j): y[(a == i) & (b == j)] for i in la for j in lb}
    ss_cells = sum(n * (v.mean() - grand) ** 2 for v in cells.values())
    ss_err = sum(((v - v.mean()) ** 2).sum() for v in cells.values())
    ss_ab = ss_cells - ss_a - ss_b
    df_err = len(y) - len(cells)
    assert rows["method"].sum_sq == pytest.approx(ss_a) and rows["group"].sum_sq == pytest.approx(ss_b)
    assert rows["method x group"].sum_sq == pytest.approx(ss_ab) and rows["Residual"].sum_sq == pytest.approx(ss_err)
    assert rows["Residual"].df == df_err and rows["method x group"].df == 2
    f_a = (ss_a / 2) / (ss_err / df_err)
    assert rows["method"].f == pytest.approx(f_a)
    assert rows["method"].p == pytest.approx(stats.f.sf(f_a, 2, df_err))
    typ3 = {r.source: r for r in two_way_anova(y, a, b, names=("method", "group"), typ=3)}
    assert typ3["method"].sum_sq == pytest.approx(ss_a)  # balanced: types II and III agree


def test_holm_sidak_adjustment_is_the_step_down_sidak_rule() -> None:
    p = np.array([0.04, 0.001, 0.03, 0.2])
    order = np.argsort(p)
    m = len(p)
    expected = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, 1 - (1 - p[i]) ** (m - rank))
        expected[i] = min(running, 1.0)
    assert holm_sidak_adjust(p) == pytest.approx(expected)


def test_pairwise_uses_the_pooled_residual_error() -> None:
    y, a, b = _balanced(1)
    out = holm_sidak_pairwise(y, a, b, compare="A", names=("method", "group"))
    assert [(c.within, c.level_a, c.level_b) for c in out] == [
        (g, x, z) for g in ("g1", "g2") for x, z in itertools.combinations(["m1", "m2", "m3"], 2)]
    cells = {(i, j): y[(a == i) & (b == j)] for i in np.unique(a) for j in np.unique(b)}
    mse = sum(((v - v.mean()) ** 2).sum() for v in cells.values()) / (len(y) - len(cells))
    first = out[0]
    t = (cells["m1", "g1"].mean() - cells["m2", "g1"].mean()) / np.sqrt(mse * 0.5)
    assert first.t == pytest.approx(t) and first.p_unadjusted == pytest.approx(2 * stats.t.sf(abs(t), len(y) - 6))
    assert [c.p_adjusted for c in out] == pytest.approx(holm_sidak_adjust([c.p_unadjusted for c in out]).tolist())
    assert any(c.significant for c in out if c.within == "g2")  # m2 differs from the others in g2


def test_bad_designs_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="two levels"):
        two_way_anova([1, 2, 3, 4], ["a"] * 4, ["x", "x", "y", "y"])
    with pytest.raises(InvalidInputError, match="more observations than cells"):
        two_way_anova([1, 2, 3, 4], ["a", "a", "b", "b"], ["x", "y", "x", "y"])
