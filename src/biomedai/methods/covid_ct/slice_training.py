"""EXTENSION: train and test the slice CNN of :mod:`.slices` on a COVID-CT folder, with the shortcut checks.

One run: grouped split (by source figure), training with the shared engine (best epoch chosen on
validation AUC only), test AUC with a 95 % bootstrap CI, then three shortcut checks on the same
test split: the CNN on marks-only images, the CNN on test images without coloured marks, and a
logistic regression on features that carry no lung information (size, aspect, colour, text,
JPEG blockiness).
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.metrics import bootstrap_ci, roc_auc

from .config import CovidCTConfig
from .slices import (SliceDataset, auc_validation, build_slice_cnn, grouped_split, load_slice,
                     colour_marks_only, outside_body_only, predict_scores, read_slice_set, shortcut_features)

logger = logging.getLogger(__name__)


def _auc_ci(labels: np.ndarray, scores: np.ndarray, seed: int) -> dict[str, float]:
    ci = bootstrap_ci(roc_auc, labels, scores, n_resamples=2000, seed=seed)
    return {"auc": round(ci.estimate, 4), "ci_low": round(ci.low, 4), "ci_high": round(ci.high, 4),
            "n": int(len(labels)), "n_covid": int(labels.sum())}


def shortcut_baseline(paths: list[Path], labels: np.ndarray, split: dict[str, np.ndarray], seed: int
                      ) -> dict[str, Any]:
    """Logistic regression on non-lung features, fitted on train+validation, scored on test."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features = np.stack([shortcut_features(p) for p in paths])
    fit_idx = np.concatenate([split["train"], split["val"]])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(features[fit_idx], labels[fit_idx])
    scores = model.predict_proba(features[split["test"]])[:, 1]
    return _auc_ci(labels[split["test"]], scores, seed)


def shortcut_checks(model: Any, paths: list[Path], labels: np.ndarray, split: dict[str, np.ndarray], size: int,
                    seed: int) -> dict[str, Any]:
    """The data README's shortcut checks on the test split: the CNN on colour-marks-only and on
    outside-the-body-only pictures (should be near 0.5), the CNN on test slices without coloured
    marks (should stay near the full test AUC), and a logistic regression on non-lung features."""
    test = split["test"]
    scores = predict_scores(model, np.stack([load_slice(paths[i], size) for i in test]))
    coloured = np.array([shortcut_features(paths[i])[3] > 0.001 for i in test])
    marks = np.stack([colour_marks_only(paths[i], size) for i in test])
    outside = np.stack([outside_body_only(paths[i], size) for i in test])
    return {
        "shortcut_colour_marks_only_cnn": _auc_ci(labels[test], predict_scores(model, marks), seed),
        "shortcut_outside_body_only_cnn": _auc_ci(labels[test], predict_scores(model, outside), seed),
        "test_without_coloured_marks": _auc_ci(labels[test][~coloured], scores[~coloured], seed),
        "shortcut_features_logistic": shortcut_baseline(paths, labels, split, seed),
        "n_test_with_coloured_marks": int(coloured.sum()),
    }


def train_slice_classifier(data: str | Path, output_dir: str | Path, config: CovidCTConfig) -> dict[str, Any]:
    """Train, choose on validation, test, run the shortcut checks; returns metrics (model in ``output_dir``)."""
    import torch

    from biomedai.train import load_weights, train_model

    torch.set_num_threads(max(1, int(config.threads)))
    output_dir = Path(output_dir)
    dataset = read_slice_set(data)
    split = grouped_split(dataset.groups, dataset.labels, seed=config.seed)
    paths = [dataset.root / f for f in dataset.files]
    size = config.image_size
    images = np.stack([load_slice(p, size) for p in paths])
    labels = dataset.labels
    groups = np.asarray(dataset.groups)
    overlap = set(groups[split["train"]]) & set(groups[split["test"]]) | set(groups[split["val"]]) & \
        set(groups[split["test"]]) | set(groups[split["train"]]) & set(groups[split["val"]])
    if overlap:
        raise RuntimeError(f"source groups straddle splits: {sorted(overlap)[:3]}")
    train = SliceDataset(images[split["train"]], labels[split["train"]], augment=True, seed=config.seed)
    val = SliceDataset(images[split["val"]], labels[split["val"]], augment=False)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    result = train_model(build_slice_cnn(), train, val, loss_fn=torch.nn.BCEWithLogitsLoss(),
                         validate=auc_validation, output_dir=output_dir, epochs=config.epochs,
                         batch_size=config.batch_size, lr=config.learning_rate, weight_decay=1e-4,
                         device=config.device, monitor="val_auc", mode="max", patience=10, seed=config.seed,
                         progress=False, max_minutes=config.train_time_budget_s / 60.0,
                         time_budget_check="epoch")  # stop after the epoch that spends the wall-clock budget
    train_s = time.perf_counter() - start
    model = build_slice_cnn()
    load_weights(model, result.weights)
    test = split["test"]
    scores = predict_scores(model, images[test])
    metrics: dict[str, Any] = {
        "data": f"COVID-CT cropped slices ({data}); split by source figure, seed {config.seed}",
        "split_sizes": {k: int(len(v)) for k, v in split.items()},
        "split_groups": {k: int(len(set(groups[v]))) for k, v in split.items()},
        "best_epoch": result.best_epoch, "epochs_run": result.epochs_completed,
        "val_auc_best": round(float(result.best_metric or float("nan")), 4),
        "test": _auc_ci(labels[test], scores, config.seed),
        **shortcut_checks(model, paths, labels, split, size, config.seed),
        "train_seconds": round(train_s, 1), "load_average_at_start": round(load, 2),
        "threads": int(config.threads),
    }
    metrics["_state"] = model.state_dict()
    metrics["_test_files"] = [dataset.files[i] for i in test]
    metrics["_test_scores"] = scores.tolist()
    return metrics

