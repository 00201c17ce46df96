"""Agreement metrics against published values (Shrout & Fleiss 1979) and hand-computed cases."""
from __future__ import annotations

import doctest

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.metrics import agreement
from biomedai.metrics.agreement import bland_altman, intraclass_correlation, mean_absolute_error

SHROUT_FLEISS = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]


@pytest.mark.parametrize("kind, expected", [("1,1", 0.1657), ("2,1", 0.2898), ("3,1", 0.7148)])
def test_icc_matches_shrout_fleiss_table(kind, expected):
    assert intraclass_correlation(SHROUT_FLEISS, kind) == pytest.approx(expected, abs=5e-4)


def test_icc_perfect_and_offset():
    a = np.arange(10.0)
    assert intraclass_correlation(np.c_[a, a], "2,1") == pytest.approx(1.0)
    assert intraclass_correlation(np.c_[a, a + 5], "3,1") == pytest.approx(1.0)  # consistency ignores offsets
    assert intraclass_correlation(np.c_[a, a + 5], "2,1") < 0.7  # absolute agreement does not


def test_bland_altman_and_mae():
    r = bland_altman([0.0, 0.0, 0.0, 0.0], [1.0, 3.0, 1.0, 3.0])
    assert r.bias == 2.0 and r.sd == pytest.approx(np.std([1, 3, 1, 3], ddof=1))
    assert r.upper - r.lower == pytest.approx(2 * 1.96 * r.sd)
    assert mean_absolute_error([0, 0], [1, -3]) == 2.0


@pytest.mark.parametrize("call", [lambda: bland_altman([1, 2], [1]), lambda: mean_absolute_error([1], [1]),
                                  lambda: intraclass_correlation([[1, 2]]), lambda: intraclass_correlation(SHROUT_FLEISS, "4"),
                                  lambda: bland_altman([1, np.nan], [1, 2])])
def test_bad_input(call):
    with pytest.raises(InvalidInputError):
        call()


def test_docstring_examples():
    result = doctest.testmod(agreement, extraglobs={"np": np}, verbose=False)
    assert result.attempted > 0 and result.failed == 0
