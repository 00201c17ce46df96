"""SMOTE inside training folds: equal to imbalanced-learn's own Pipeline, and never fitted on test rows."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("imblearn", reason="imbalanced-learn is not installed")
from imblearn.over_sampling import SMOTE  # noqa: E402
from imblearn.pipeline import Pipeline  # noqa: E402
from sklearn.tree import DecisionTreeClassifier  # noqa: E402

from biomedai.errors import InvalidInputError  # noqa: E402
from biomedai.stats.resampled_cv import OversampledClassifier, cross_validate_classifier  # noqa: E402


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    counts = (60, 25, 10)
    X = np.vstack([rng.normal(i, 0.8, (n, 3)) for i, n in enumerate(counts)])
    y = np.repeat(np.arange(3), counts)
    return X, y


def test_matches_imbalanced_learn_pipeline() -> None:
    X, y = _data()
    ours = OversampledClassifier(DecisionTreeClassifier(random_state=0), k_neighbors=5, seed=3).fit(X, y)
    ref = Pipeline([("smote", SMOTE(k_neighbors=5, random_state=3)), ("tree", DecisionTreeClassifier(random_state=0))])
    ref.fit(X, y)
    grid = np.random.default_rng(1).normal(1, 1.5, (200, 3))
    assert np.array_equal(ours.predict(grid), ref.predict(grid))
    assert np.allclose(ours.predict_proba(grid), ref.predict_proba(grid))
    assert ours.n_fitted_ == 180


def test_labels_need_not_be_contiguous_and_tiny_classes_skip_smote() -> None:
    X, y = _data()
    model = OversampledClassifier(DecisionTreeClassifier(random_state=0)).fit(X, np.array([2, 5, 9])[y])
    assert set(model.predict(X)) <= {2, 5, 9}
    y1 = y.copy()
    y1[-10:] = 1
    y1[-1] = 2  # a class with a single sample: SMOTE cannot run, the model still fits
    assert OversampledClassifier(DecisionTreeClassifier()).fit(X, y1).n_fitted_ == len(y1)


def test_cross_validation_covers_every_row_once() -> None:
    X, y = _data()
    result = cross_validate_classifier(lambda: OversampledClassifier(DecisionTreeClassifier(random_state=0)), X, y,
                                       folds=5, repeats=2, seed=1)
    assert len(result.folds) == 10
    for r in range(2):
        tested = np.concatenate([f.test_index for f in result.folds if f.repeat == r])
        assert sorted(tested.tolist()) == list(range(len(y)))
    for f in result.folds:
        assert not set(f.train_index) & set(f.test_index) and len(f.y_pred) == len(f.test_index)
    summary = result.summary()
    assert 0.5 < summary["accuracy"] <= 1.0 and np.asarray(summary["confusion"]).sum() == 2 * len(y)
    with pytest.raises(InvalidInputError, match="at least folds"):
        cross_validate_classifier(lambda: OversampledClassifier(DecisionTreeClassifier()), X, y, folds=11)
