"""Cross-validation by subject (spec 2.8.2): no window of a test subject is ever in training."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from biomedai.errors import InvalidInputError


def subject_folds(y: np.ndarray, subjects: np.ndarray, k: int, seed: int = 0
                  ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(train_index, test_index)`` of a subject-grouped, label-stratified k-fold."""
    subjects = np.asarray(subjects).astype(str)
    y = np.asarray(y)
    per_subject = {s: set(y[subjects == s].tolist()) for s in np.unique(subjects)}
    mixed = [s for s, labels in per_subject.items() if len(labels) > 1]
    if mixed:
        raise InvalidInputError(f"subjects with windows of both subtypes: {mixed[:10]}")
    n_subjects = len(per_subject)
    if n_subjects < k:
        raise InvalidInputError(f"{n_subjects} subjects cannot make {k} subject-wise folds")
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    yield from splitter.split(np.zeros(len(y)), y, groups=subjects)


def inner_validation(y: np.ndarray, subjects: np.ndarray, fraction: float = 0.2, seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Split training windows again by subject into (fit, validation) index arrays, stratified by label."""
    subjects = np.asarray(subjects).astype(str)
    rng = np.random.default_rng(seed)
    val_subjects: list[str] = []
    for label in np.unique(y):
        subs = np.unique(subjects[y == label])
        rng.shuffle(subs)
        val_subjects += list(subs[:max(1, round(fraction * len(subs)))])
    is_val = np.isin(subjects, val_subjects)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)
