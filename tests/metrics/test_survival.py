"""C-index: hand-counted pairs and lifelines' concordance_index (ties in times and predictions) in the same tests."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.metrics import concordance_index, concordance_index_ci



def _lifelines_utils():
    return pytest.importorskip("lifelines.utils")  # a test dependency (MIT); the metric itself needs only numpy


def test_hand_counted_pairs():
    # times 1..4 all events: 6 pairs; predictions swap the last two -> 5 concordant
    assert concordance_index([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(5 / 6)
    # subject 2 censored at 2: pairs (1,2) (1,3) (1,4) (3,4) comparable, (2,3) (2,4) not
    assert concordance_index([1, 2, 3, 4], [4, 3, 2, 1], [1, 0, 1, 1]) == 0.0
    # tied prediction counts one half; tied times with one event are comparable
    assert concordance_index([1, 2], [5, 5]) == 0.5
    assert concordance_index([3, 3], [1, 2], [1, 0]) == 1.0
    with pytest.raises(InvalidInputError, match="no comparable pairs"):
        concordance_index([3, 3], [1, 2], [1, 1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_lifelines_with_ties_and_censoring(seed):
    rng = np.random.default_rng(seed)
    n = 150
    time = rng.integers(1, 30, n).astype(float)  # many tied times
    event = rng.random(n) < 0.6
    pred = np.round(time + rng.normal(0, 8, n))  # many tied predictions
    lifelines_utils = _lifelines_utils()
    ref = lifelines_utils.concordance_index(time, pred, event)
    assert concordance_index(time, pred, event) == pytest.approx(ref, abs=1e-12)
    assert concordance_index(time, -pred, event, predicted_is_risk=True) == pytest.approx(ref, abs=1e-12)
    assert concordance_index(time, pred) == pytest.approx(lifelines_utils.concordance_index(time, pred), abs=1e-12)


def test_bootstrap_ci():
    rng = np.random.default_rng(3)
    time = rng.exponential(10, 200)
    event = rng.random(200) < 0.7
    risk = -time + rng.normal(0, 5, 200)
    ci = concordance_index_ci(time, risk, event, predicted_is_risk=True, n_resamples=200, seed=1)
    assert ci.estimate == pytest.approx(_lifelines_utils().concordance_index(time, -risk, event))
    assert ci.low < ci.estimate < ci.high and ci.high - ci.low < 0.15
    assert ci == concordance_index_ci(time, risk, event, predicted_is_risk=True, n_resamples=200, seed=1)


def test_survival_bad_inputs():
    with pytest.raises(InvalidInputError, match="length"):
        concordance_index([1, 2, 3], [1, 2])
    with pytest.raises(InvalidInputError, match="event"):
        concordance_index([1, 2, 3], [1, 2, 3], [0, 2, 1])
    with pytest.raises(InvalidInputError, match="NaN"):
        concordance_index([1, np.nan, 3], [1, 2, 3])
