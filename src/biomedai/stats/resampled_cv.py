"""Class-imbalance handling that cannot leak: SMOTE inside the training folds only, and a cross-validation loop.

:class:`OversampledClassifier` wraps any scikit-learn-style classifier: ``fit`` oversamples the
minority classes with SMOTE (Chawla et al. 2002, ``imbalanced-learn``) and fits on the result;
``predict``/``predict_proba`` never resample. :func:`cross_validate_classifier` runs stratified k-fold
(optionally repeated) with a fresh model per fold fitted on the training part only, so synthetic
samples are built from training rows and never enter a test fold. Labels need not be contiguous
(they are encoded internally, which XGBoost requires).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from biomedai.errors import BiomedaiError, InvalidInputError

logger = logging.getLogger(__name__)

__all__ = ["OversampledClassifier", "CVFold", "CVResult", "cross_validate_classifier", "check_xy"]


def check_xy(X: Any, y: Any = None, name: str = "X") -> tuple[np.ndarray, np.ndarray | None]:
    """``X`` as a finite 2-D float array and ``y`` as 1-D int labels of the same length."""
    x = np.asarray(X, dtype=float)
    if x.ndim != 2 or x.shape[0] == 0:
        raise InvalidInputError(f"{name}: expected a non-empty 2-D array (samples, features), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise InvalidInputError(f"{name}: contains NaN or infinite values")
    if y is None:
        return x, None
    labels = np.asarray(y)
    if labels.ndim != 1 or labels.shape[0] != x.shape[0]:
        raise InvalidInputError(f"y: expected {x.shape[0]} labels, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.equal(np.mod(labels, 1), 0)):
            raise InvalidInputError("y: class labels must be integers")
    return x, labels.astype(int)


def _make_smote(k_neighbors: int, seed: int) -> Any:
    """The oversampler (a module-level factory so that tests can watch what it is given)."""
    try:
        from imblearn.over_sampling import SMOTE
    except ImportError as exc:
        raise BiomedaiError("SMOTE needs the imbalanced-learn package: pip install imbalanced-learn") from exc
    return SMOTE(k_neighbors=k_neighbors, random_state=seed)


class OversampledClassifier:
    """A classifier fitted on SMOTE-oversampled training data; prediction never resamples.

    Args:
        estimator: an unfitted scikit-learn-style classifier (``fit``, ``predict_proba``).
        smote: oversample every class up to the majority count before fitting.
        k_neighbors: SMOTE's neighbours (5 as imbalanced-learn); lowered to ``smallest class - 1`` when
            a class is smaller, and SMOTE is skipped (logged) when a class has a single sample.
        seed: SMOTE's random state (and the inner folds' shuffle).
        param_grid: optional ``{parameter: [values]}`` of the estimator; ``fit`` then picks the combination
            with the best macro F1 in an inner stratified ``inner_folds``-fold CV on the training data
            (SMOTE inside each inner training part too) and refits with it (``best_params_``).

    Example:
        >>> from sklearn.tree import DecisionTreeClassifier
        >>> X = np.r_[np.zeros((20, 2)), np.ones((6, 2))] + np.random.default_rng(0).normal(0, .1, (26, 2))
        >>> y = np.r_[np.zeros(20, int), np.ones(6, int)]
        >>> model = OversampledClassifier(DecisionTreeClassifier(random_state=0)).fit(X, y)
        >>> model.n_fitted_, model.predict([[1.0, 1.0]]).tolist()
        (40, [1])
    """

    def __init__(self, estimator: Any, smote: bool = True, k_neighbors: int = 5, seed: int = 0,
                 param_grid: Mapping[str, Sequence[Any]] | None = None, inner_folds: int = 3) -> None:
        self.estimator = estimator
        self.smote = smote
        self.k_neighbors = k_neighbors
        self.seed = seed
        self.param_grid = dict(param_grid) if param_grid else None
        self.inner_folds = inner_folds
        self.classes_: np.ndarray | None = None
        self.best_params_: dict[str, Any] | None = None
        self.n_fitted_ = 0

    def _resample(self, x: np.ndarray, encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self.smote or len(np.unique(encoded)) < 2:
            return x, encoded
        smallest = int(np.bincount(encoded)[np.unique(encoded)].min())
        k = min(self.k_neighbors, smallest - 1)
        if k < 1:
            logger.warning("SMOTE skipped: a class has a single training sample")
            return x, encoded
        return _make_smote(k, self.seed).fit_resample(x, encoded)

    def _tune(self, x: np.ndarray, encoded: np.ndarray) -> dict[str, Any]:
        from sklearn.base import clone
        from sklearn.model_selection import ParameterGrid, StratifiedKFold

        from biomedai.metrics import f1_score

        folds = min(self.inner_folds, int(np.bincount(encoded).min()))
        if folds < 2:
            logger.warning("tuning skipped: a class has fewer than 2 training samples")
            return {}
        splits = list(StratifiedKFold(folds, shuffle=True, random_state=self.seed).split(x, encoded))
        best, best_score = {}, -np.inf
        for params in ParameterGrid(self.param_grid):
            scores = []
            for train, test in splits:
                xr, yr = self._resample(x[train], encoded[train])
                model = clone(self.estimator).set_params(**params).fit(xr, yr)
                scores.append(float(f1_score(encoded[test], model.predict(x[test]), average="macro",
                                             labels=list(np.unique(encoded)))))
            if np.mean(scores) > best_score:
                best, best_score = params, float(np.mean(scores))
        logger.info("tuned %s: macro F1 %.3f (inner %d-fold)", best, best_score, folds)
        return dict(best)

    def fit(self, X: Any, y: Any) -> OversampledClassifier:
        """Oversample the training data, then fit the classifier on it."""
        x, labels = check_xy(X, y)
        assert labels is not None
        self.classes_ = np.unique(labels)
        encoded = np.searchsorted(self.classes_, labels)
        if self.param_grid:
            self.best_params_ = self._tune(x, encoded)
            self.estimator.set_params(**self.best_params_)
        x, encoded = self._resample(x, encoded)
        self.n_fitted_ = int(len(encoded))
        self.estimator.fit(x, encoded)
        return self

    def _check_fitted(self) -> np.ndarray:
        if self.classes_ is None:
            raise InvalidInputError("the classifier is not fitted yet")
        return self.classes_

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities, one column per class in ``classes_`` order."""
        classes = self._check_fitted()
        x, _ = check_xy(X)
        if len(classes) == 1:
            return np.ones((len(x), 1))
        return np.asarray(self.estimator.predict_proba(x), dtype=float)

    def predict(self, X: Any) -> np.ndarray:
        """Class predictions of the fitted classifier."""
        classes = self._check_fitted()
        return classes[np.argmax(self.predict_proba(X), axis=1)]


@dataclass
class CVFold:
    """One test fold: which rows, their labels, the predictions and probabilities (columns = ``labels``)."""

    repeat: int
    fold: int
    train_index: np.ndarray
    test_index: np.ndarray
    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray
    n_fitted: int


@dataclass
class CVResult:
    """All folds of a (repeated) stratified k-fold run and the metrics computed from them."""

    labels: np.ndarray
    folds: list[CVFold] = field(default_factory=list)

    def fold_metrics(self) -> list[dict[str, float]]:
        """Per fold: macro F1 (over ``labels``) and accuracy."""
        from biomedai.metrics import accuracy, f1_score

        return [{"repeat": f.repeat, "fold": f.fold,
                 "macro_f1": float(f1_score(f.y_true, f.y_pred, average="macro", labels=list(self.labels))),
                 "accuracy": float(accuracy(f.y_true, f.y_pred))} for f in self.folds]

    def summary(self) -> dict[str, Any]:
        """Mean and SD over folds, pooled confusion matrix (rows true, columns predicted) and per-class P/R."""
        from biomedai.metrics import confusion_matrix, precision, recall

        per_fold = self.fold_metrics()
        y_true = np.concatenate([f.y_true for f in self.folds])
        y_pred = np.concatenate([f.y_pred for f in self.folds])
        labels = list(self.labels)
        out: dict[str, Any] = {}
        for key in ("macro_f1", "accuracy"):
            values = np.array([m[key] for m in per_fold])
            out[key] = float(values.mean())
            out[f"{key}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        out["confusion"] = confusion_matrix(y_true, y_pred, labels=labels).tolist()
        out["precision"] = [float(v) for v in precision(y_true, y_pred, average=None, labels=labels)]
        out["recall"] = [float(v) for v in recall(y_true, y_pred, average=None, labels=labels)]
        out["n_folds"] = len(self.folds)
        return out


def cross_validate_classifier(make_model: Callable[[], Any], X: Any, y: Any, *, folds: int = 5, repeats: int = 1,
                              seed: int = 0, labels: Sequence[int] | None = None) -> CVResult:
    """Stratified k-fold cross-validation, repeated ``repeats`` times with shuffles seeded ``seed + r``.

    ``make_model()`` returns a fresh unfitted model per fold (e.g. an :class:`OversampledClassifier`);
    it is fitted on the training rows only and predicts the test rows. Probability columns follow
    ``labels`` (default: the sorted classes of ``y``), zero for a class missing from a training part.
    """
    from sklearn.model_selection import StratifiedKFold

    x, yy = check_xy(X, y)
    assert yy is not None
    all_labels = np.unique(yy) if labels is None else np.asarray(labels, dtype=int)
    counts = np.bincount(np.searchsorted(np.unique(yy), yy))
    if folds < 2 or counts.min() < folds:
        raise InvalidInputError(f"cross-validation: every class needs at least folds={folds} samples, "
                                f"smallest has {int(counts.min())}")
    result = CVResult(labels=all_labels)
    for r in range(repeats):
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed + r)
        for k, (train, test) in enumerate(splitter.split(x, yy)):
            model = make_model().fit(x[train], yy[train])
            raw = model.predict_proba(x[test])
            proba = np.zeros((len(test), len(all_labels)))
            for j, c in enumerate(model.classes_):
                proba[:, int(np.searchsorted(all_labels, c))] = raw[:, j]
            pred = all_labels[np.argmax(proba, axis=1)]
            result.folds.append(CVFold(r, k, train, test, yy[test], pred, proba, int(getattr(model, "n_fitted_", 0))))
    return result
