"""biomedai.stats.group_tests against scipy and statsmodels on the same numbers (Dou et al. tables)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from biomedai.errors import InvalidInputError
from biomedai.stats.group_tests import (VariableSpec, benjamini_hochberg, categorical_test, cohens_kappa,
                                        continuous_test, group_table, power_two_proportions)

# Table 2 of Dou et al.: (COVID present, N) and (non-COVID present, N)
TABLE2 = {"ground glass": (38, 57), "patchy infiltration": (30, 48), "patchy consolidation": (15, 28),
          "pleural effusion": (4, 9), "lymphadenopathy": (3, 5), "air bronchogram": (11, 15),
          "pleural thickening": (4, 6), "interstitial change": (10, 16)}


@pytest.mark.parametrize("name", sorted(TABLE2))
def test_categorical_matches_scipy_and_picks_fisher_when_sparse(name):
    a, b = TABLE2[name]
    table = [[a, 52 - a], [b, 80 - b]]
    res = categorical_test(table)
    expected = st.contingency.expected_freq(np.array(table))
    if expected.min() < 5:
        assert res.test == "Fisher's exact"
        assert res.p_value == pytest.approx(st.fisher_exact(table).pvalue, rel=1e-12)
    else:
        assert res.test == "chi-square"
        assert res.p_value == pytest.approx(st.chi2_contingency(table, correction=False).pvalue, rel=1e-12)


def test_ggo_row_gives_the_recomputed_p_not_the_printed_one():
    # spec 3.4: 38/52 vs 57/80 gives chi-square P ~ 0.82 (the paper prints 0.27)
    assert categorical_test([[38, 14], [57, 23]]).p_value == pytest.approx(0.82, abs=0.01)


def test_fisher_for_larger_sparse_table_matches_scipy():
    table = [[1, 2, 3], [4, 5, 0]]
    theirs = st.fisher_exact(table, method=st.PermutationMethod(n_resamples=9999, rng=0)).pvalue
    assert categorical_test(table).p_value == pytest.approx(theirs)
    assert categorical_test(table).p_value == pytest.approx(st.fisher_exact(table).pvalue, abs=0.01)


def test_categorical_rejects_bad_tables():
    with pytest.raises(InvalidInputError):
        categorical_test([[1, 2]])
    with pytest.raises(InvalidInputError):
        categorical_test([[1.5, 2], [3, 4]])


def test_continuous_picks_t_for_normal_and_mann_whitney_for_skewed():
    rng = np.random.default_rng(1)
    a, b = rng.normal(45.6, 14.2, 52), rng.normal(48.7, 14.6, 80)
    res = continuous_test(a, b)
    assert res.normal and res.result.test == "Student t"
    assert res.shapiro_p[0] == pytest.approx(st.shapiro(a).pvalue)
    assert res.result.p_value == pytest.approx(st.ttest_ind(a, b).pvalue)
    x, y = rng.lognormal(3, 1, 52), rng.lognormal(3.5, 1, 80)   # infected volumes are skewed
    res = continuous_test(x, y)
    assert not res.normal and res.result.test == "Mann-Whitney U"
    assert res.result.p_value == pytest.approx(st.mannwhitneyu(x, y, alternative="two-sided").pvalue)
    assert "(" in res.summaries[0] and "±" not in res.summaries[0]


def test_benjamini_hochberg_matches_statsmodels():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p = np.random.default_rng(2).uniform(0, 0.2, 17)
    ours = benjamini_hochberg(p)
    theirs = multitest.multipletests(p, method="fdr_bh")[1]
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@pytest.mark.parametrize("p1,p2,n1,n2", [(0.3, 0.5, 52, 80), (0.5, 0.7, 52, 80), (0.1, 0.3, 65, 65)])
def test_power_matches_statsmodels(p1, p2, n1, n2):
    power = pytest.importorskip("statsmodels.stats.power")
    proportion = pytest.importorskip("statsmodels.stats.proportion")
    h = proportion.proportion_effectsize(p1, p2)
    theirs = power.NormalIndPower().power(effect_size=h, nobs1=n1, alpha=0.05, ratio=n2 / n1)
    assert power_two_proportions(p1, p2, n1, n2) == pytest.approx(theirs, rel=1e-9)


def test_power_of_the_papers_design_is_below_the_claimed_70_percent():
    assert 0.60 < power_two_proportions(0.3, 0.5, 52, 80) < 0.66


def test_kappa_matches_sklearn_and_statsmodels():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(3)
    r1 = rng.integers(0, 3, 100)
    r2 = np.where(rng.random(100) < 0.7, r1, rng.integers(0, 3, 100))
    assert cohens_kappa(r1, r2) == pytest.approx(cohen_kappa_score(r1, r2), rel=1e-12)
    inter = pytest.importorskip("statsmodels.stats.inter_rater")
    table = np.zeros((3, 3))
    for a, b in zip(r1, r2):
        table[a, b] += 1
    assert cohens_kappa(r1, r2) == pytest.approx(inter.cohens_kappa(table).kappa, rel=1e-12)
    assert cohens_kappa([1, 0, 1], [1, 0, 1]) == 1.0


def test_group_table_layout_and_fdr():
    rng = np.random.default_rng(4)
    n1, n2 = 52, 80
    df = pd.DataFrame({"group": ["COVID-19"] * n1 + ["other"] * n2,
                       "ggo": np.r_[np.ones(38), np.zeros(14), np.ones(57), np.zeros(23)],
                       "age": np.r_[rng.normal(45.6, 14.2, n1), rng.normal(48.7, 14.6, n2)]})
    rows = group_table(df, "group", ["COVID-19", "other"],
                       [VariableSpec("ggo", "Ground glass opacities", "categorical", 1),
                        VariableSpec("age", "Age")], fdr=True)
    assert rows[0]["COVID-19 (N=52)"] == "38 (73.08)" and rows[0]["other (N=80)"] == "57 (71.25)"
    assert rows[0]["test"] == "chi-square" and rows[1]["test"] in ("Student t", "Mann-Whitney U")
    assert all(r["p_bh"] >= r["p"] for r in rows)
