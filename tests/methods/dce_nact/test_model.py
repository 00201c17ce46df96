"""SVM-RFE + RBF-SVM: learns a known signal, its JSON model reproduces scikit-learn, and the nested CV never
lets a held-out row into any fit (spy on the scaler, like the dental SMOTE spy test)."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.methods.dce_nact import model as model_mod
from biomedai.methods.dce_nact.model import SvmModel, fit_final, grid_search_cv


def _data(n=80, p=15, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.4
    x = rng.normal(0, 1, (n, p))
    x[:, 3] += 1.5 * y
    x[:, 7] -= 1.0 * y
    return x, y


GRID = dict(k_grid=(1, 2, 5), c_grid=(0.5, 8.0), gamma_grid=(0.01, 0.1))


def test_learns_known_signal_and_json_round_trip():
    x, y = _data()
    search = grid_search_cv(x, y, folds=5, **GRID)
    assert search.cv_auc > 0.75
    m = fit_final(x, y, [f"f{i}" for i in range(x.shape[1])], search)
    assert "f3" in m.features
    xt, yt = _data(200, seed=5)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(yt, m.decision(xt[:, [int(f[1:]) for f in m.features]])) > 0.75
    again = SvmModel.from_dict(m.to_dict())
    assert np.allclose(again.decision(xt[:, [int(f[1:]) for f in m.features]]),
                       m.decision(xt[:, [int(f[1:]) for f in m.features]]))


def test_cv_never_fits_on_held_out_rows(monkeypatch):
    from sklearn.model_selection import StratifiedKFold

    seen: list[np.ndarray] = []
    real = model_mod.make_scaler

    class Spy:
        def __init__(self):
            self.inner = real()

        def fit(self, x):
            seen.append(np.array(x, copy=True))
            self.inner.fit(x)
            return self

        def transform(self, x):
            return self.inner.transform(x)

        def __getattr__(self, name):          # mean_, scale_ of the real scaler
            return getattr(self.inner, name)

    monkeypatch.setattr(model_mod, "make_scaler", Spy)
    x, y = _data(70, seed=1)
    dev, test = np.arange(50), np.arange(50, 70)
    search = grid_search_cv(x[dev], y[dev], folds=5, seed=3, **GRID)
    rows = lambda a: {r.tobytes() for r in a}  # noqa: E731
    splits = list(StratifiedKFold(n_splits=5, shuffle=True, random_state=3).split(x[dev], y[dev]))
    assert len(seen) == 5
    for fitted, (tr, va) in zip(seen, splits):
        assert rows(fitted) == rows(x[dev][tr])
        assert not rows(fitted) & rows(x[dev][va])
        assert not rows(fitted) & rows(x[test])
    seen.clear()
    fit_final(x[dev], y[dev], [str(i) for i in range(x.shape[1])], search)
    assert len(seen) == 1 and rows(seen[0]) == rows(x[dev]) and not rows(seen[0]) & rows(x[test])


def test_bad_features_raise():
    from biomedai.errors import InvalidInputError

    x, y = _data(30)
    x[0, 0] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        grid_search_cv(x, y, folds=3, **GRID)
