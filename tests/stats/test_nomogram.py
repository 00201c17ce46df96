"""Nomogram scales: points from coefficients, total points back to the linear predictor and survival."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.stats.nomogram import NomogramPredictor, build_nomogram, draw_nomogram


def _nomogram():
    preds = [NomogramPredictor("Rad-score", 1.5, -1.0, 1.0),
             NomogramPredictor("TNM stage", 0.4, 1, 4, [1, 2, 3, 4], ["I", "II", "III", "IV"]),
             NomogramPredictor("protective", -0.5, 0.0, 2.0)]
    return build_nomogram(preds, {36.0: 0.8, 60.0: 0.6}, {36.0: "3-year DFS", 60.0: "5-year DFS"})


def test_points_total_and_survival_round_trip():
    nom = _nomogram()
    # the widest effect (Rad-score: 1.5 * 2 = 3) spans 100 points
    assert nom.points("Rad-score", 1.0) == pytest.approx(100.0) and nom.points("Rad-score", -1.0) == 0.0
    assert nom.points("TNM stage", 4) == pytest.approx(100 * 0.4 * 3 / 3.0)
    assert nom.points("protective", 2.0) == 0.0 and nom.points("protective", 0.0) == pytest.approx(100 / 3)
    rng = np.random.default_rng(0)
    for _ in range(20):
        v = {"Rad-score": rng.uniform(-1, 1), "TNM stage": rng.integers(1, 5), "protective": rng.uniform(0, 2)}
        lp = 1.5 * v["Rad-score"] + 0.4 * v["TNM stage"] - 0.5 * v["protective"]
        total = nom.total_points(v)
        assert nom.linear_predictor(total) == pytest.approx(lp)
        assert nom.survival(total, 60.0) == pytest.approx(0.6 ** np.exp(lp))
    assert nom.max_total() == pytest.approx(100 + 40 + 100 / 3)


def test_draw_writes_a_figure(tmp_path):
    path = draw_nomogram(_nomogram(), tmp_path / "nom.png", title="test")
    assert path.is_file() and path.stat().st_size > 10_000


def test_bad_predictors():
    with pytest.raises(InvalidInputError):
        build_nomogram([NomogramPredictor("a", 1.0, 2.0, 1.0)], {1.0: 0.5})
    with pytest.raises(InvalidInputError):
        build_nomogram([NomogramPredictor("a", 1.0, 0.0, 1.0)], {1.0: 1.5})
    with pytest.raises(InvalidInputError, match="no value"):
        _nomogram().total_points({"Rad-score": 0.0})


def test_docstring_examples():
    import doctest

    import biomedai.stats.baseline_tests as bt
    import biomedai.stats.nomogram as nm
    import biomedai.stats.penalised_cox as pc
    import biomedai.stats.survival as sv

    for module in (bt, nm, pc, sv):
        result = doctest.testmod(module, extraglobs={"np": np}, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, module.__name__
