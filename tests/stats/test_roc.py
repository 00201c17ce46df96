"""ROC statistics: DeLong against its definition (placement values by brute force), scikit-learn's AUC, Youden."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.stats.roc import auc_with_ci, binary_metrics_at, delong_test, youden_threshold


def _psi(x, y):
    return (x > y) + 0.5 * (x == y)


def _delong_brute(y, scores):
    pos, neg = scores[:, y == 1], scores[:, y == 0]
    m, n = pos.shape[1], neg.shape[1]
    v10 = np.array([[np.mean(_psi(p[i], q)) for i in range(m)] for p, q in zip(pos, neg)])
    v01 = np.array([[np.mean(_psi(p, q[j])) for j in range(n)] for p, q in zip(pos, neg)])
    return v10.mean(1), np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n


def test_delong_matches_definition_and_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = (rng.random(60) < 0.4).astype(int)
    a = y * 0.8 + rng.normal(0, 1, 60)
    b = np.round(y * 0.5 + rng.normal(0, 1, 60), 1)        # ties
    aucs, cov = _delong_brute(y, np.stack([a, b]))
    ra, rb = auc_with_ci(y, a), auc_with_ci(y, b)
    assert ra.auc == pytest.approx(roc_auc_score(y, a)) and rb.auc == pytest.approx(roc_auc_score(y, b))
    assert ra.se == pytest.approx(np.sqrt(cov[0, 0])) and rb.se == pytest.approx(np.sqrt(cov[1, 1]))
    z, p, diff = delong_test(y, a, b)
    assert z == pytest.approx((aucs[0] - aucs[1]) / np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]))
    assert 0 < p < 1 and diff == pytest.approx(aucs[0] - aucs[1])
    assert delong_test(y, a, a)[1] == 1.0
    assert ra.ci_low < ra.auc < ra.ci_high


def test_youden_and_metrics_known_case():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9])
    thr, j = youden_threshold(y, s)
    assert thr == pytest.approx(0.7) and j == pytest.approx(0.75)
    m = binary_metrics_at(y, s, thr)
    assert (m["TP"], m["FN"], m["TN"], m["FP"]) == (3, 1, 4, 0)
    assert m["sensitivity"] == 0.75 and m["specificity"] == 1.0 and m["ppv"] == 1.0 and m["npv"] == 0.8


def test_one_class_is_an_error():
    with pytest.raises(InvalidInputError, match="both classes"):
        auc_with_ci([1, 1, 1], [0.1, 0.2, 0.3])
