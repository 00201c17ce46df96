"""The two real-data evaluations of issue 4 on the DeepLIIF sample (used by ``evaluate``, the benchmark and tests).

1. :func:`evaluate_ihc_quantifier` - per tile: our positive / negative counts, labelling index and
   Rpos from the IHC image against the ground-truth masks (and ``val/metrics.json``), per-cell F1.
2. :func:`morphology_experiment` - train the Table 2 ResNet18 on haematoxylin-panel patches of the
   train tiles labelled by the IHC mask; report test-tile patch accuracy and the Pearson r between the
   FCN-predicted Rpos and the true Rpos across test tiles.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.utils import lazy_import

from .config import BACKGROUND, CLASS_NAMES, NEGATIVE, POSITIVE, Ki67Config
from .deepliif import DeepliifTile, cell_points, load_deepliif, match_cells, seg_to_instances
from .ihc import area_indices, hematoxylin_only_rgb, quantify_ihc, stain_channels
from .patches import build_patch_set
from .training_data import training_patches

ki67_model = lazy_import(".model", __package__)  # torch: imported on first use

logger = logging.getLogger(__name__)


def true_area_indices(seg: np.ndarray) -> dict[str, float | None]:
    """Dpos, Dneg, Rpos of the ground-truth mask (red / blue interiors)."""
    labels, classes = seg_to_instances(seg)
    class_map = np.full(labels.shape, BACKGROUND, np.uint8)
    class_map[labels > 0] = np.where(classes[labels[labels > 0]] == 1, POSITIVE, NEGATIVE)
    return area_indices(class_map)


def evaluate_ihc_quantifier(root: str | Path, config: Ki67Config | None = None) -> dict[str, Any]:
    """Rows per tile and a summary, for every tile of a DeepLIIF-style folder."""
    config = config or Ki67Config()
    root = Path(root)
    recorded = {}
    metrics_file = root / "val" / "metrics.json"
    if metrics_file.is_file():
        recorded = json.loads(metrics_file.read_text(encoding="utf-8"))
    rows = []
    for tile in load_deepliif(root):
        result = quantify_ihc(tile.ihc, config, tile.source)
        truth_labels, truth_classes = seg_to_instances(tile.seg)
        cells = result.cells
        match = match_cells(truth_labels, truth_classes, cells.x, cells.y, cells.positive)
        true_area = true_area_indices(tile.seg)
        row = {"tile": tile.name, "split": tile.split,
               "true_pos": match["true_positive_cells"], "true_neg": match["true_negative_cells"],
               "pred_pos": result.n_positive, "pred_neg": result.n_cells - result.n_positive,
               "true_LI_pct": match["true_labelling_index_pct"], "pred_LI_pct": result.labelling_index,
               "true_Rpos": true_area["Rpos"], "pred_Rpos": result.indices["Rpos"],
               "cell_f1": match["f1"], "cell_precision": match["precision"], "cell_recall": match["recall"],
               "f1_positive": match["f1_positive"], "f1_negative": match["f1_negative"]}
        if tile.name in recorded:  # DeepLIIF's own counts of the same mask (its post-processing)
            rec = recorded[tile.name]
            row.update({"metrics_json_pos": rec.get("num_pos"), "metrics_json_neg": rec.get("num_neg"),
                        "metrics_json_LI_pct": rec.get("percent_pos")})
        rows.append(row)
    test = [r for r in rows if r["split"] == "test"] or rows
    summary = {
        "tiles": len(rows), "test_tiles": len(test),
        "mean_cell_f1_test": float(np.mean([r["cell_f1"] for r in test])),
        "mean_f1_positive_test": float(np.mean([r["f1_positive"] for r in test])),
        "mean_f1_negative_test": float(np.mean([r["f1_negative"] for r in test])),
        "mean_abs_LI_error_pct_test": float(np.mean([abs(r["pred_LI_pct"] - r["true_LI_pct"]) for r in test
                                                     if r["pred_LI_pct"] is not None])),
        "pearson_LI_all_tiles": _pearson([r["pred_LI_pct"] for r in rows], [r["true_LI_pct"] for r in rows]),
        "pearson_Rpos_all_tiles": _pearson([r["pred_Rpos"] for r in rows], [r["true_Rpos"] for r in rows]),
    }
    return {"rows": rows, "summary": summary, "data": str(root), "config": config.to_dict()}


def _pearson(x: list[Any], y: list[Any]) -> float | None:
    pairs = [(a, b) for a, b in zip(x, y) if a is not None and b is not None]
    if len(pairs) < 3:
        return None
    a, b = np.asarray(pairs, float).T
    if a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def tile_patch_set(image: np.ndarray, tile: DeepliifTile, config: Ki67Config,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Cell patches at the mask's nucleus centroids plus background boxes (paper's no-overlap rule)."""
    xy, classes = cell_points(tile)
    n_bg = int(round(config.background_per_cell * len(xy)))
    patches, labels, _ = build_patch_set(image, xy, classes, config.patch_size, n_bg, config.cell_box_size,
                                         config.border_policy, rng, tile.source)
    return patches, labels


def morphology_experiment(root: str | Path, config: Ki67Config | None = None, output_dir: Path | None = None,
                          per_class: int = 400, test_views: tuple[str, ...] = ("deepliif_hematoxylin",
                                                                                "deconvolved_hematoxylin"),
                          progress: bool = False) -> dict[str, Any]:
    """Train on train-tile haematoxylin patches, test on the test tiles; returns metrics and the model."""
    config = config or Ki67Config()
    test_tiles = [t for t in load_deepliif(root) if t.split == "test"]
    if not test_tiles:
        raise ValueError(f"{root}: no test tiles (test_cli/ + test_groundtruth/)")
    (x_train, y_train), (x_val, y_val), raw_counts = training_patches(Path(root), config, per_class)
    model, train_result = ki67_model.train_classifier(x_train, y_train, x_val, y_val, config, output_dir, progress)
    out: dict[str, Any] = {"train_cells_and_background": raw_counts, "train_patches": int(len(y_train)),
                           "val_patches": int(len(y_val)),
                           "monitor": train_result.monitor, "best_metric": train_result.best_metric,
                           "best_epoch": train_result.best_epoch, "epochs": train_result.epochs_completed,
                           "views": evaluate_morphology(model, test_tiles, config, test_views)}
    out["model"] = model
    return out


def evaluate_morphology(model: Any, tiles: list[DeepliifTile], config: Ki67Config,
                        views: tuple[str, ...] = ("deepliif_hematoxylin", "deconvolved_hematoxylin")
                        ) -> dict[str, Any]:
    """Patch accuracy (cells at mask centroids + background boxes) and FCN Rpos vs true Rpos per view."""
    from biomedai.metrics.classification import accuracy, confusion_matrix, f1_score, precision, recall

    device = ki67_model.resolve_device(config.device)
    results: dict[str, Any] = {}
    labels = [NEGATIVE, POSITIVE, BACKGROUND]
    for view in views:
        xs, ys, rows = [], [], []
        for t in tiles:
            image = _test_view(t, view)
            if image is None:
                continue
            patches, truth = tile_patch_set(image, t, config, np.random.default_rng(config.seed + 1))
            xs.append(patches)
            ys.append(truth)
            prob = ki67_model.probability_map(model, image, config, device)
            pred_idx = area_indices(ki67_model.map_to_classes(prob, config))
            rows.append({"tile": t.name, "true_Rpos": true_area_indices(t.seg)["Rpos"],
                         "pred_Rpos": pred_idx["Rpos"], "pred_Dpos": pred_idx["Dpos"], "pred_Dneg": pred_idx["Dneg"]})
        if not xs:
            continue
        y_test = np.concatenate(ys)
        pred = ki67_model.predict_patches(model, np.concatenate(xs), device=device).argmax(1)
        counts = np.bincount(y_test, minlength=3)

        def per_class(fn: Any) -> dict[str, float]:
            return dict(zip(CLASS_NAMES, np.asarray(fn(y_test, pred, labels=labels, average=None)).tolist()))

        results[view] = {
            "test_patches": int(len(y_test)), "test_counts": {CLASS_NAMES[c]: int(counts[c]) for c in labels},
            "accuracy": accuracy(y_test, pred), "majority_rate": float(counts.max() / counts.sum()),
            "precision": per_class(precision), "recall": per_class(recall), "f1": per_class(f1_score),
            "weighted_f1": float(f1_score(y_test, pred, labels=labels, average="weighted")),
            # mean per-class recall over the 3 classes (chance 1/3) and over positive/negative cells (chance 1/2)
            "balanced_accuracy": float(np.mean(list(per_class(recall).values()))),
            "cell_balanced_accuracy": float(np.mean([per_class(recall)[CLASS_NAMES[c]] for c in (NEGATIVE, POSITIVE)])),
            "confusion_rows_true_cols_pred": confusion_matrix(y_test, pred, labels=labels).tolist(),
            "tiles": rows,
            "pearson_Rpos": _pearson([r["pred_Rpos"] for r in rows], [r["true_Rpos"] for r in rows]),
        }
    return results


def _test_view(tile: DeepliifTile, view: str) -> np.ndarray | None:
    if view == "deepliif_hematoxylin":
        return tile.hematoxylin
    if view == "deconvolved_hematoxylin":
        return hematoxylin_only_rgb(tile.ihc)
    if view == "ihc":
        return tile.ihc
    raise ValueError(f"unknown test view {view!r}")


def nuclear_darkness_auc(root: str | Path) -> list[dict[str, Any]]:
    """Per tile and view, how well one number separates positive from negative nuclei: the ROC AUC of the
    darkest grey value inside each true nucleus (darker = positive).

    A diagnostic of what the "morphology" images carry: on a view computed from the IHC image (DeepLIIF's
    inferred haematoxylin, our deconvolution), a high AUC means DAB leaks into it.
    """
    from scipy import ndimage as ndi
    from scipy.stats import rankdata

    rows = []
    for tile in load_deepliif(root):
        labels, classes = seg_to_instances(tile.seg)
        ids = np.arange(1, labels.max() + 1)
        y = classes[1:] == 1
        if not y.any() or y.all():
            continue
        views = {"deconvolved_hematoxylin": hematoxylin_only_rgb(tile.ihc)}
        if tile.hematoxylin is not None:
            views["hematoxylin_panel" if tile.split == "train" else "deepliif_hematoxylin"] = tile.hematoxylin
        for view, image in views.items():
            darkest = -np.asarray(ndi.minimum(image.astype(float).mean(-1), labels, ids))
            ranks = rankdata(darkest)
            n1, n0 = int(y.sum()), int((~y).sum())
            rows.append({"tile": tile.name, "split": tile.split, "view": view,
                         "auc_darkest_pixel": float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))})
    return rows


def nuclear_intensity_baseline(root: str | Path) -> dict[str, Any]:
    """A reference for the CNN: logistic regression (class-balanced) on two numbers per *true* nucleus, its darkest
    and its mean grey value, trained on the train tiles' haematoxylin panel and tested on each test view.

    It is given the true nucleus outlines (the CNN is not), so it bounds what a plain intensity cue gives.
    Returns per view the positive / negative recall and their mean (balanced accuracy, chance 0.5).
    """
    from scipy import ndimage as ndi
    from sklearn.linear_model import LogisticRegression

    def features(image: np.ndarray, tile: DeepliifTile) -> tuple[np.ndarray, np.ndarray]:
        labels, classes = seg_to_instances(tile.seg)
        ids = np.arange(1, labels.max() + 1)
        grey = image.astype(float).mean(-1)
        x = np.c_[ndi.minimum(grey, labels, ids), ndi.mean(grey, labels, ids)] / 255.0
        return x, classes[1:]

    tiles = load_deepliif(root)
    train = [features(t.hematoxylin, t) for t in tiles if t.split == "train" and t.hematoxylin is not None]
    model = LogisticRegression(class_weight="balanced").fit(np.concatenate([x for x, _ in train]),
                                                            np.concatenate([y for _, y in train]))
    out: dict[str, Any] = {}
    for view in ("deepliif_hematoxylin", "deconvolved_hematoxylin"):
        parts = [features(image, t) for t in tiles if t.split == "test" and (image := _test_view(t, view)) is not None]
        if not parts:
            continue
        y = np.concatenate([y for _, y in parts])
        pred = model.predict(np.concatenate([x for x, _ in parts]))
        r_pos, r_neg = float((pred[y == 1] == 1).mean()), float((pred[y == 0] == 0).mean())
        out[view] = {"recall_positive": r_pos, "recall_negative": r_neg, "balanced_accuracy": (r_pos + r_neg) / 2,
                     "cells": int(y.size), "positive_cells": int(y.sum())}
    return out


def label_dab_check(root: str | Path, threshold: float | None = None) -> list[dict[str, Any]]:
    """Are the mask's positives DAB-positive on the IHC image? Per tile: median mean-DAB OD of positive and
    negative nuclei, and how many of each lie above ``threshold`` (default: the quantifier's ``dab_threshold``)."""
    from scipy import ndimage as ndi

    threshold = Ki67Config().dab_threshold if threshold is None else threshold
    rows = []
    for tile in load_deepliif(root):
        labels, classes = seg_to_instances(tile.seg)
        ids = np.arange(1, labels.max() + 1)
        y = classes[1:] == 1
        dab = np.asarray(ndi.mean(stain_channels(tile.ihc)[1], labels, ids))
        rows.append({"tile": tile.name, "split": tile.split, "positive": int(y.sum()), "negative": int((~y).sum()),
                     "median_dab_positive": float(np.median(dab[y])) if y.any() else None,
                     "median_dab_negative": float(np.median(dab[~y])) if (~y).any() else None,
                     "positive_above": int((dab[y] > threshold).sum()),
                     "negative_above": int((dab[~y] > threshold).sum()),
                     "threshold": threshold})
    return rows
