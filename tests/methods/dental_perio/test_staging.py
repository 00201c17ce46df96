"""Staging on simulated D vectors with known classes; SMOTE only ever sees training rows (simulated data)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("imblearn", reason="imbalanced-learn is not installed")
pytest.importorskip("xgboost", reason="xgboost is not installed (pip install xgboost-cpu)")
from sklearn.model_selection import StratifiedKFold  # noqa: E402

import biomedai.methods.dental_perio.staging as staging  # noqa: E402
import biomedai.stats.resampled_cv as resampled_cv  # noqa: E402
from biomedai.errors import InvalidInputError, WeightsError  # noqa: E402
from biomedai.methods.dental_perio.staging import (StagingModel, cross_validate_staging,  # noqa: E402
                                                   stage_from_bone_loss)
from biomedai.methods.dental_perio.synthetic import simulate_abl_cohort  # noqa: E402
from biomedai.metrics import accuracy, f1_score  # noqa: E402

BALANCED = (0.25, 0.25, 0.25, 0.25)


def test_stage_thresholds() -> None:
    cases = ([0.0], [0.149], [0.15], [0.33], [0.3301], [0.0, 0.5])
    assert [stage_from_bone_loss(c) for c in cases] == [0, 1, 2, 2, 3, 3]
    with pytest.raises(InvalidInputError):
        stage_from_bone_loss([])
    with pytest.raises(InvalidInputError):
        stage_from_bone_loss([-0.1])


@pytest.mark.parametrize("kind", ["xgboost", "svm"])
def test_staging_well_above_chance(kind: str) -> None:
    X, y = simulate_abl_cohort(400, seed=3, shares=BALANCED)
    model = StagingModel(kind, smote=True, seed=0).fit(X[:300], y[:300])
    pred = model.predict(X[300:])
    proba = model.predict_proba(X[300:])
    assert proba.shape == (100, 4) and np.allclose(proba.sum(axis=1), 1.0)
    assert np.array_equal(pred, proba.argmax(axis=1))
    # chance is 0.25 on balanced classes
    assert accuracy(y[300:], pred) > 0.6
    assert f1_score(y[300:], pred, average="macro", labels=[0, 1, 2, 3]) > 0.55


def test_smote_sees_training_rows_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spy on the oversampler: in every fold it receives exactly the fold's training rows, never a test row."""
    calls: list[np.ndarray] = []
    real = resampled_cv._make_smote

    class Spy:
        def __init__(self, k: int, seed: int) -> None:
            self.inner = real(k, seed)

        def fit_resample(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            calls.append(np.array(x, copy=True))
            return self.inner.fit_resample(x, y)

    monkeypatch.setattr(resampled_cv, "_make_smote", Spy)
    X, y = simulate_abl_cohort(200, seed=2)
    rows = cross_validate_staging(X, y, kinds=["tree"], folds=5, seed=4)
    assert len(calls) == 5 and rows[0]["n_folds"] == 5
    splits = StratifiedKFold(n_splits=5, shuffle=True, random_state=4).split(X, y)
    as_set = lambda a: {r.tobytes() for r in a}  # noqa: E731
    for seen, (train, test) in zip(calls, splits):
        assert as_set(seen) == as_set(X[train])
        assert not as_set(seen) & as_set(X[test])
    # the pooled confusion matrix counts every real sample exactly once: no synthetic test rows
    assert np.asarray(rows[0]["confusion"]).sum() == len(y)
    # with hyperparameter tuning SMOTE also runs inside the inner folds: still only training rows
    calls.clear()
    monkeypatch.setitem(staging.TUNING_GRID, "tree", {"max_depth": [2, None]})
    cross_validate_staging(X, y, kinds=["tree"], folds=5, seed=4, tune=True)
    assert len(calls) == 5 * (2 * 3 + 1)  # per outer fold: 2 grid points x 3 inner folds + the refit
    splits = list(StratifiedKFold(n_splits=5, shuffle=True, random_state=4).split(X, y))
    for i, seen in enumerate(calls):
        train, test = splits[i // 7]
        assert as_set(seen) <= as_set(X[train]) and not as_set(seen) & as_set(X[test])
    # without SMOTE the spy is never called
    calls.clear()
    cross_validate_staging(X, y, kinds=["tree"], folds=5, smote=False)
    assert calls == []


def test_smote_balances_training_data_only() -> None:
    X, y = simulate_abl_cohort(120, seed=0)
    with_smote = StagingModel("tree", smote=True).fit(X, y)
    assert with_smote.n_fitted_ == 4 * np.bincount(y).max()
    assert StagingModel("tree", smote=False).fit(X, y).n_fitted_ == len(y)
    # a class absent from training gets probability 0
    keep = y != 3
    proba = StagingModel("adaboost").fit(X[keep], y[keep]).predict_proba(X)
    assert proba.shape == (len(y), 4) and np.all(proba[:, 3] == 0)


def test_cross_validation_table_and_save_load(tmp_path) -> None:
    X, y = simulate_abl_cohort(150, seed=5, shares=BALANCED)
    rows = cross_validate_staging(X, y, kinds=["tree"], folds=3, smote=[True, False])
    assert [(r["kind"], r["smote"]) for r in rows] == [("tree", True), ("tree", False)]
    for r in rows:
        assert 0.0 <= r["macro_f1"] <= 1.0 and 0.0 <= r["accuracy"] <= 1.0 and r["macro_f1_sd"] >= 0
        assert len(r["recall"]) == 4 and np.asarray(r["confusion"]).shape == (4, 4)
    tuned = StagingModel("tree", tune=True).fit(X, y)
    assert set(tuned.model.best_params_) == {"max_depth", "min_samples_leaf"}
    model = StagingModel("xgboost", seed=1).fit(X, y)
    path = model.save(tmp_path / "staging.joblib")
    again = StagingModel.load(path)
    assert again.kind == "xgboost" and np.allclose(again.predict_proba(X), model.predict_proba(X))
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(WeightsError, match="SHA-256"):
        StagingModel.load(path)
    with pytest.raises(WeightsError, match="not found"):
        StagingModel.load(tmp_path / "absent.joblib")


def test_bad_inputs() -> None:
    X, y = simulate_abl_cohort(60, seed=0)
    with pytest.raises(InvalidInputError, match="kind"):
        StagingModel("cnn")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="32"):
        StagingModel("tree").fit(X[:, :10], y)
    with pytest.raises(InvalidInputError, match="stages"):
        StagingModel("tree").fit(X, y + 1)
    with pytest.raises(InvalidInputError, match="NaN"):
        StagingModel("tree").fit(np.where(X > 0.5, np.nan, X), y)
    with pytest.raises(InvalidInputError, match="not fitted"):
        StagingModel("tree").predict(X)
