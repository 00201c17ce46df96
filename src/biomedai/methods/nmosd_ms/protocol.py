"""The evaluation protocol of spec 3.7: stratified 5-fold cross-validation repeated 15 times, subjects kept apart
(grouped by subject id), and accuracy / sensitivity / specificity with NMOSD as the positive class."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from biomedai.errors import InvalidInputError
from biomedai.metrics.classification import accuracy, sensitivity, specificity


class Split(NamedTuple):
    repeat: int
    fold: int
    train: np.ndarray
    val: np.ndarray


def repeated_folds(subjects: Sequence[str], labels: Sequence[int], *, folds: int = 5, repeats: int = 15,
                   seed: int = 0) -> Iterator[Split]:
    """Stratified, subject-grouped folds; every repeat reshuffles (seed + repeat). Scans of one subject
    always fall on the same side."""
    subjects = np.asarray(subjects)
    labels = np.asarray(labels)
    if subjects.shape != labels.shape:
        raise InvalidInputError(f"{subjects.size} subject ids but {labels.size} labels")
    if len(set(labels.tolist())) < 2:
        raise InvalidInputError("cross-validation needs both classes (NMOSD and MS)")
    for r in range(repeats):
        cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed + r)
        for f, (tr, va) in enumerate(cv.split(np.zeros(len(labels)), labels, subjects)):
            yield Split(r, f, tr, va)


def binary_scores(true: Sequence[int], pred: Sequence[int]) -> dict[str, float]:
    """Accuracy, sensitivity and specificity with class 1 (NMOSD) positive."""
    return {"accuracy": accuracy(true, pred), "sensitivity": sensitivity(true, pred, pos_label=1),
            "specificity": specificity(true, pred, pos_label=1)}


def summarise(per_repeat: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    """Mean and SD over repeats (Table 2's mean +/- std)."""
    keys = per_repeat[0].keys()
    return {k: (float(np.mean([r[k] for r in per_repeat])), float(np.std([r[k] for r in per_repeat], ddof=1))
                if len(per_repeat) > 1 else 0.0) for k in keys}


def validation_split(labels: Sequence[int], fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stratified ``(train, validation)`` subject indices, at least one subject of each class in validation."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    val = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        val += idx[: max(1, round(fraction * len(idx)))].tolist()
    val_idx = np.sort(np.array(val, int))
    return np.setdiff1d(np.arange(len(labels)), val_idx), val_idx
