"""Penalised Cox: the same optimum as lifelines' penaliser (glmnet's objective), exact zeros, glmnet-style CV."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.stats.penalised_cox import cox_partial_log_likelihood, cv_penalised_cox, penalised_cox_path

lifelines = pytest.importorskip("lifelines")
COLS = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]


@pytest.fixture(scope="module")
def rossi_untied():
    """Rossi with tiny jitter on the times: without ties Breslow (ours, glmnet) == Efron (lifelines)."""
    from lifelines.datasets import load_rossi

    df = load_rossi()
    df["week"] = df["week"] + np.random.default_rng(0).uniform(0, 0.01, len(df))
    X = df[COLS].to_numpy(float)
    return df, X / X.std(axis=0, ddof=1)


@pytest.mark.parametrize("penalizer,l1_ratio", [(0.05, 0.0), (0.02, 1.0), (0.01, 0.5)])
def test_same_optimum_as_lifelines(rossi_untied, penalizer, l1_ratio):
    import pandas as pd
    from lifelines import CoxPHFitter

    df, Xs = rossi_untied
    ours = penalised_cox_path(Xs, df.week, df.arrest, alpha=l1_ratio, lambdas=[penalizer], standardize=False,
                              tol=1e-10).coef[0]
    frame = pd.DataFrame(Xs, columns=COLS).assign(T=df.week.to_numpy(), E=df.arrest.to_numpy())
    ref = CoxPHFitter(penalizer=penalizer, l1_ratio=l1_ratio).fit(frame, "T", "E").params_.to_numpy()
    # lifelines smooths |beta|, so its L1 zeros are only near zero; the non-zeros agree closely
    big = np.abs(ref) > 1e-3
    np.testing.assert_allclose(ours[big], ref[big], atol=2e-3)
    if l1_ratio == 1.0:
        assert np.all(ours[~big] == 0.0) and (~big).any()


def test_unpenalised_limit_is_the_cox_fit(rossi_untied):
    from lifelines import CoxPHFitter

    df, _ = rossi_untied
    X = df[COLS].to_numpy(float)
    ours = penalised_cox_path(X, df.week, df.arrest, lambdas=[0.0], tol=1e-12).coef[0]
    ref = CoxPHFitter().fit(df, "week", "arrest").params_[COLS].to_numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    ll = cox_partial_log_likelihood(X, df.week, df.arrest, ours)
    assert ll >= cox_partial_log_likelihood(X, df.week, df.arrest, ref) - 1e-6


def test_path_and_cross_validation_find_the_true_features():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 20))
    t = rng.exponential(np.exp(-(1.0 * X[:, 0] - 0.8 * X[:, 1])))
    e = (rng.random(200) < 0.8).astype(int)
    path = penalised_cox_path(X, t, e, n_lambda=20)
    assert path.n_nonzero()[0] == 0 and path.n_nonzero()[-1] >= 2
    cv = cv_penalised_cox(X, t, e, n_folds=5, n_lambda=20, seed=3, feature_names=[f"f{i}" for i in range(20)])
    assert cv.lambda_1se >= cv.lambda_min
    chosen = cv.coefficients("1se")
    assert {"f0", "f1"} <= set(chosen) and chosen["f0"] > 0 > chosen["f1"]
    again = cv_penalised_cox(X, t, e, n_folds=5, n_lambda=20, seed=3)
    np.testing.assert_array_equal(cv.folds, again.folds)
    np.testing.assert_allclose(cv.cv_mean, again.cv_mean)


def test_bad_input():
    with pytest.raises(InvalidInputError, match="NaN"):
        penalised_cox_path([[np.nan], [1.0]], [1, 2], [1, 1])
    with pytest.raises(InvalidInputError, match="alpha"):
        penalised_cox_path([[0.0], [1.0]], [1, 2], [1, 1], alpha=2)
