"""Fisher's test (2x2 exact, r x c Monte Carlo) and one-way ANOVA, on Fan et al. Table 2 counts."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.stats.baseline_tests import anova_test, chi_square_from_counts, fisher_test, fisher_test_from_counts


def test_fan_table2_p_values():
    # Miller-Payne grade 1-5, development vs testing (Table 2: Fisher P = 0.706)
    assert fisher_test_from_counts([[6, 10, 24, 5, 16], [3, 11, 16, 5, 18]]).p_value == pytest.approx(0.706, abs=0.02)
    # menopausal status and family history (Yates chi-square: 0.670, 0.642)
    assert chi_square_from_counts([[23, 38], [23, 30]]).p_value == pytest.approx(0.670, abs=0.001)
    assert chi_square_from_counts([[45, 16], [42, 11]]).p_value == pytest.approx(0.642, abs=0.001)


def test_fisher_2x2_exact_and_from_values():
    from scipy.stats import fisher_exact

    r = fisher_test_from_counts([[8, 2], [1, 5]])
    assert r.p_value == pytest.approx(fisher_exact([[8, 2], [1, 5]]).pvalue) and r.test == "Fisher's exact"
    values = ["a"] * 8 + ["b"] * 2 + ["a"] * 1 + ["b"] * 5
    groups = ["x"] * 10 + ["y"] * 6
    assert fisher_test(values, groups).p_value == pytest.approx(r.p_value)


def test_anova_matches_scipy_and_drops_missing():
    from scipy.stats import f_oneway

    rng = np.random.default_rng(0)
    a, b = rng.normal(49, 9, 61), rng.normal(47, 11, 53)
    res = anova_test(list(a) + list(b) + [None], ["dev"] * 61 + ["test"] * 53 + ["dev"])
    assert res.p_value == pytest.approx(f_oneway(a, b).pvalue) and res.n_missing == 1 and res.n_used == 114
    with pytest.raises(InvalidInputError):
        anova_test([1.0, 2.0, 3.0], ["a", "a", "b"])
