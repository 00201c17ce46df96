"""Periodontitis stage from the 32-value D vector: SMOTE + XGBoost and the paper's baselines (spec 4.5-4.6).

:class:`StagingModel` is one 4-class classifier (0 none, 1 mild, 2 moderate, 3 severe) of kind
``xgboost`` (the paper's), ``svm``, ``tree`` (decision tree) or ``adaboost``, trained on SMOTE-oversampled
data when ``smote=True``; SMOTE acts inside ``fit`` only (:class:`biomedai.stats.resampled_cv.OversampledClassifier`),
so test rows are never resampled. :func:`cross_validate_staging` gives the paper's Table 2 metrics
(macro F1 and accuracy) for several kinds on the same stratified folds.

Hyperparameters are not given in the paper; ours are the spec's decisions: XGBoost ``multi:softprob``,
200 trees, depth 4, learning rate 0.1, subsample 0.8; SVM RBF (C 1, gamma "scale") on standardised
features (probabilities by Platt scaling on internal 3-fold predictions); decision tree and AdaBoost
(100 stumps) with scikit-learn defaults otherwise. ``tune=True`` picks them from :data:`TUNING_GRID` by
an inner stratified 3-fold CV on the training data (SMOTE inside the inner training parts too).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from biomedai.errors import BiomedaiError, InvalidInputError, WeightsError

logger = logging.getLogger(__name__)

__all__ = ["STAGES", "KINDS", "TUNING_GRID", "StagingModel", "cross_validate_staging", "stage_from_bone_loss"]

STAGES: tuple[str, ...] = ("none", "mild", "moderate", "severe")
KINDS: tuple[str, ...] = ("xgboost", "svm", "tree", "adaboost")
Kind = Literal["xgboost", "svm", "tree", "adaboost"]
_FORMAT = "biomedai.dental_perio.staging/1"
#: ``tune=True`` searches these by inner 3-fold CV on the training data (spec 4.5: "tuned by CV on train")
TUNING_GRID: dict[str, dict[str, list[Any]]] = {
    "xgboost": {"max_depth": [2, 4, 6], "n_estimators": [100, 300], "learning_rate": [0.05, 0.1]},
    "svm": {"estimator__svc__C": [0.3, 1.0, 3.0, 10.0]},
    "tree": {"max_depth": [3, 5, None], "min_samples_leaf": [1, 5]},
    "adaboost": {"n_estimators": [50, 100, 300], "learning_rate": [0.5, 1.0]},
}


def stage_from_bone_loss(c: Sequence[float] | np.ndarray) -> int:
    """The stage from the per-tooth clinical bone loss fractions c (CEJ-based), worst tooth deciding.

    Spec 4.2 [inferred]: max c = 0 -> none; 0 < max c < 0.15 -> mild; 0.15 <= max c <= 0.33 -> moderate;
    max c > 0.33 -> severe.

    Example:
        >>> [stage_from_bone_loss(c) for c in ([0, 0], [0.1, 0], [0.15], [0.2, 0.34])]
        [0, 1, 2, 3]
    """
    values = np.asarray(c, dtype=float)
    if values.size == 0 or not np.isfinite(values).all() or (values < 0).any():
        raise InvalidInputError("bone loss fractions must be a non-empty list of finite values >= 0")
    worst = float(values.max())
    if worst == 0:
        return 0
    if worst < 0.15:
        return 1
    return 2 if worst <= 0.33 else 3


def _estimator(kind: str, seed: int) -> Any:
    if kind == "xgboost":
        try:
            from xgboost import XGBClassifier
        except ImportError as exc:
            raise BiomedaiError("the xgboost staging model needs XGBoost: pip install xgboost-cpu "
                                "(or xgboost, which also pulls NVIDIA NCCL)") from exc

        return XGBClassifier(objective="multi:softprob", n_estimators=200, max_depth=4, learning_rate=0.1,
                             subsample=0.8, random_state=seed, n_jobs=1, tree_method="hist", verbosity=0)
    if kind == "svm":
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        # probabilities by Platt scaling fitted on internal 3-fold predictions (SVC(probability=True) is deprecated)
        svc = make_pipeline(StandardScaler(), SVC(kernel="rbf", C=1.0, gamma="scale", random_state=seed))
        return CalibratedClassifierCV(svc, method="sigmoid", cv=3, ensemble=False)
    if kind == "tree":
        from sklearn.tree import DecisionTreeClassifier

        return DecisionTreeClassifier(random_state=seed)
    if kind == "adaboost":
        from sklearn.ensemble import AdaBoostClassifier

        return AdaBoostClassifier(n_estimators=100, random_state=seed)
    raise InvalidInputError(f"staging kind must be one of {KINDS}, got {kind!r}")


class StagingModel:
    """A 4-class periodontitis stage classifier on D vectors (n, 32).

    Example:
        >>> from biomedai.methods.dental_perio.synthetic import simulate_abl_cohort
        >>> X, y = simulate_abl_cohort(120, seed=0)
        >>> model = StagingModel("tree").fit(X[:100], y[:100])
        >>> model.predict_proba(X[100:]).shape
        (20, 4)
    """

    def __init__(self, kind: Kind = "xgboost", smote: bool = True, seed: int = 0, k_neighbors: int = 5,
                 tune: bool = False) -> None:
        from biomedai.stats.resampled_cv import OversampledClassifier

        if kind not in KINDS:
            raise InvalidInputError(f"staging kind must be one of {KINDS}, got {kind!r}")
        self.kind, self.smote, self.seed, self.k_neighbors = kind, bool(smote), int(seed), int(k_neighbors)
        self.tune = bool(tune)
        self.model = OversampledClassifier(_estimator(kind, self.seed), smote=self.smote, k_neighbors=self.k_neighbors,
                                           seed=self.seed, param_grid=TUNING_GRID[kind] if tune else None)

    @property
    def classes_(self) -> np.ndarray | None:
        return self.model.classes_

    @property
    def n_fitted_(self) -> int:
        return self.model.n_fitted_

    def fit(self, X: Any, y: Any) -> StagingModel:
        """Fit on D vectors ``X (n, 32)`` and stages ``y`` in 0..3 (SMOTE on these rows only)."""
        x, labels = _check(X, y)
        self.model.fit(x, labels)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """``(n, 4)`` probabilities of none / mild / moderate / severe (0 for a class absent from training)."""
        x, _ = _check(X)
        raw = self.model.predict_proba(x)
        out = np.zeros((len(x), len(STAGES)))
        out[:, self.model.classes_] = raw
        return out

    def predict(self, X: Any) -> np.ndarray:
        return np.argmax(self.predict_proba(X), axis=1)

    def save(self, path: str | Path) -> Path:
        """Write the fitted model (joblib) and a ``.sha256`` sidecar; :meth:`load` checks it."""
        import joblib

        from biomedai.utils import atomic_path, sha256_file, write_text_atomic

        if self.model.classes_ is None:
            raise InvalidInputError("StagingModel.save: the model is not fitted")
        path = Path(path)
        with atomic_path(path) as tmp:
            joblib.dump({"format": _FORMAT, "kind": self.kind, "smote": self.smote, "seed": self.seed,
                         "tune": self.tune, "model": self.model}, tmp)
            digest = sha256_file(tmp)
        write_text_atomic(path.with_name(path.name + ".sha256"), f"{digest}  {path.name}\n")
        return path

    @classmethod
    def load(cls, path: str | Path, expected_sha256: str | None = None) -> StagingModel:
        """Read a model written by :meth:`save` after checking its SHA-256 (argument or sidecar).

        joblib files are pickles: load only files you trust; the checksum guards against corruption.
        """
        import joblib

        from biomedai.utils import sha256_file

        path = Path(path)
        if not path.is_file():
            raise WeightsError(f"{path}: staging model file not found")
        sidecar = path.with_name(path.name + ".sha256")
        expected = expected_sha256 or (sidecar.read_text().split()[0] if sidecar.is_file() else None)
        if expected is None:
            logger.warning("%s: no SHA-256 to check against", path)
        elif sha256_file(path) != expected:
            raise WeightsError(f"{path}: SHA-256 does not match {expected[:12]}...; the file is corrupt or replaced")
        try:
            payload = joblib.load(path)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
            raise WeightsError(f"{path}: not a staging model file ({exc})") from exc
        if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
            raise WeightsError(f"{path}: not a staging model file (format {_FORMAT} expected)")
        obj = cls(payload["kind"], smote=payload["smote"], seed=payload["seed"], tune=payload.get("tune", False))
        obj.model = payload["model"]
        return obj


def _check(X: Any, y: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
    from biomedai.stats.resampled_cv import check_xy

    x, labels = check_xy(X, y)
    if x.shape[1] != 32:
        raise InvalidInputError(f"X: expected 32 ABL ratios per patient (FDI 11-48), got {x.shape[1]}")
    if labels is not None and ((labels < 0) | (labels > 3)).any():
        raise InvalidInputError(f"y: stages must be 0..3 ({', '.join(STAGES)}), got {sorted(set(labels.tolist()))}")
    return x, labels


def cross_validate_staging(X: Any, y: Any, kinds: Sequence[str] = KINDS, folds: int = 5, seed: int = 0, *,
                           smote: bool | Sequence[bool] = True, repeats: int = 1,
                           tune: bool = False) -> list[dict[str, Any]]:
    """Table 2-style comparison: one row per (kind, smote) with macro F1 and accuracy, mean and SD over folds.

    Every kind sees the same stratified folds (seeded ``seed + repeat``); SMOTE, when on, is applied
    to the training part of each fold only. Rows also hold the pooled confusion matrix (rows true,
    columns predicted, stages 0..3) and per-class precision and recall.

    Example:
        >>> from biomedai.methods.dental_perio.synthetic import simulate_abl_cohort
        >>> X, y = simulate_abl_cohort(150, seed=1)
        >>> rows = cross_validate_staging(X, y, kinds=["tree"], folds=3)
        >>> rows[0]["kind"], rows[0]["smote"], 0.25 < rows[0]["accuracy"] <= 1.0
        ('tree', True, True)
    """
    from biomedai.stats.resampled_cv import cross_validate_classifier

    x, labels = _check(X, y)
    flags = [smote] if isinstance(smote, bool) else [bool(s) for s in smote]
    rows = []
    for kind in kinds:
        if kind not in KINDS:
            raise InvalidInputError(f"staging kind must be one of {KINDS}, got {kind!r}")
        for flag in flags:
            result = cross_validate_classifier(lambda k=kind, f=flag: StagingModel(k, smote=f, seed=seed,
                                                                                   tune=tune).model,
                                               x, labels, folds=folds, repeats=repeats, seed=seed,
                                               labels=range(len(STAGES)))
            rows.append({"kind": kind, "smote": flag, "tuned": tune, "folds": folds, "repeats": repeats,
                         **result.summary()})
    return rows
