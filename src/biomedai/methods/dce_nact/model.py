"""SVM-RFE ranking + RBF-SVM with a 10-fold CV grid search inside the development set only (spec 4.4 step 9).

For every fold of the development set: z-score and rank features by linear-SVM RFE on the fold's training rows
only; for every k (top-k features added sequentially) and every (C, gamma) of the grid, fit an RBF-SVM on the
training rows and score the held-out rows. The (k, C, gamma) with the best mean fold AUC is refitted on the whole
development set (scaler, RFE ranking, SVM) and applied once to the test set. The test set is never passed to
the search. A fitted model is plain numbers (JSON): features, scaler, support vectors, dual coefficients.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

logger = logging.getLogger(__name__)


def make_scaler() -> Any:
    """The z-scorer fitted on training rows (a module-level factory so tests can spy on what it sees)."""
    from sklearn.preprocessing import StandardScaler

    return StandardScaler()


def rfe_ranking(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Feature indices from most to least relevant by linear-SVM recursive feature elimination."""
    from sklearn.feature_selection import RFE
    from sklearn.svm import SVC

    if x.shape[1] == 1:
        return np.array([0])
    rfe = RFE(SVC(kernel="linear", C=1.0), n_features_to_select=1, step=max(1, x.shape[1] // 20)).fit(x, y)
    return np.argsort(rfe.ranking_, kind="stable")


def _rbf(c: float, gamma: float, seed: int) -> Any:
    from sklearn.svm import SVC

    return SVC(kernel="rbf", C=c, gamma=gamma, random_state=seed)


def _fold_auc(y: np.ndarray, s: np.ndarray) -> float:
    from biomedai.metrics.classification import roc_auc

    if y.all() or not y.any():
        return float("nan")
    return float(roc_auc(y.astype(int), s))


@dataclass
class SearchResult:
    """The chosen (k, C, gamma), its mean CV AUC, the CV decision values of every development row (for the
    Youden threshold) and the grid's mean AUCs."""

    k: int
    c: float
    gamma: float
    cv_auc: float
    cv_scores: np.ndarray
    grid: list[dict[str, float]] = field(default_factory=list)


def grid_search_cv(x: np.ndarray, y: np.ndarray, *, k_grid: tuple[int, ...], c_grid: tuple[float, ...],
                   gamma_grid: tuple[float, ...], folds: int = 10, seed: int = 0) -> SearchResult:
    """10-fold CV grid search of (k, C, gamma) on development rows ``x`` (RFE and z-score inside each fold)."""
    from sklearn.model_selection import StratifiedKFold

    x, y = _check_xy(x, y)
    n_min = int(min(y.sum(), (~y).sum()))
    folds = min(folds, n_min)
    if folds < 2:
        raise InvalidInputError(f"need >= 2 cases of each class for cross-validation, got {n_min}")
    ks = sorted({min(k, x.shape[1]) for k in k_grid})
    combos = [(k, c, g) for k in ks for c in c_grid for g in gamma_grid]
    scores = np.zeros((len(combos), y.size))
    fold_aucs = np.zeros((len(combos), folds))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for f, (tr, va) in enumerate(splitter.split(x, y)):
        scaler = make_scaler().fit(x[tr])
        xtr, xva = scaler.transform(x[tr]), scaler.transform(x[va])
        order = rfe_ranking(xtr, y[tr])
        for i, (k, c, g) in enumerate(combos):
            cols = order[:k]
            svm = _rbf(c, g, seed).fit(xtr[:, cols], y[tr])
            s = svm.decision_function(xva[:, cols])
            scores[i, va] = s
            fold_aucs[i, f] = _fold_auc(y[va], s)
    mean_auc = np.nanmean(fold_aucs, axis=1)
    best = int(np.nanargmax(mean_auc))
    k, c, g = combos[best]
    grid = [{"k": kk, "C": cc, "gamma": gg, "cv_auc": float(a)} for (kk, cc, gg), a in zip(combos, mean_auc)]
    logger.info("grid search: best k=%d C=%g gamma=%g mean CV AUC %.3f over %d folds", k, c, g, mean_auc[best], folds)
    return SearchResult(k, c, g, float(mean_auc[best]), scores[best], grid)


def _check_xy(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, float)
    y = np.asarray(y).astype(bool)
    if x.ndim != 2 or x.shape[0] != y.size:
        raise InvalidInputError(f"features must be (cases, features) matching {y.size} labels, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise InvalidInputError("features contain NaN or infinity; impute or drop them first")
    return x, y


@dataclass
class SvmModel:
    """A refitted RBF-SVM on the top-k RFE features, as numbers: predicts the decision value (> threshold:
    responder)."""

    features: list[str]
    mean: np.ndarray
    scale: np.ndarray
    support_vectors: np.ndarray
    dual_coef: np.ndarray
    intercept: float
    gamma: float
    c: float
    threshold: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    def decision(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, float) - self.mean) / self.scale
        d2 = ((z[:, None, :] - self.support_vectors[None]) ** 2).sum(-1)
        return np.exp(-self.gamma * d2) @ self.dual_coef + self.intercept

    def to_dict(self) -> dict[str, Any]:
        return {"features": self.features, "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "support_vectors": self.support_vectors.tolist(), "dual_coef": self.dual_coef.tolist(),
                "intercept": self.intercept, "gamma": self.gamma, "C": self.c, "threshold": self.threshold,
                "info": self.info}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SvmModel:
        try:
            return cls(list(d["features"]), np.array(d["mean"], float), np.array(d["scale"], float),
                       np.array(d["support_vectors"], float).reshape(-1, len(d["features"])),
                       np.array(d["dual_coef"], float), float(d["intercept"]), float(d["gamma"]), float(d["C"]),
                       float(d.get("threshold", 0.0)), dict(d.get("info", {})))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"not a dce_nact SVM model ({exc})") from None


def fit_final(x: np.ndarray, y: np.ndarray, names: list[str], search: SearchResult, *, seed: int = 0) -> SvmModel:
    """Refit scaler, RFE ranking and the RBF-SVM with the chosen (k, C, gamma) on all development rows."""
    x, y = _check_xy(x, y)
    scaler = make_scaler().fit(x)
    z = scaler.transform(x)
    cols = rfe_ranking(z, y)[:search.k]
    svm = _rbf(search.c, search.gamma, seed).fit(z[:, cols], y)
    scale = np.where(scaler.scale_[cols] > 0, scaler.scale_[cols], 1.0)
    # sklearn orders classes (False, True): the decision is positive for responders
    return SvmModel([names[i] for i in cols], scaler.mean_[cols], scale, svm.support_vectors_,
                    svm.dual_coef_[0], float(svm.intercept_[0]), search.gamma, search.c)
