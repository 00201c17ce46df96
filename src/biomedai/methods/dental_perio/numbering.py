"""Binary + multi-class detections -> numbered teeth, and the paper's Table 1 metrics (spec 4.6).

* mAP@0.5: mask AP at IoU 0.5 per FDI class over the test set, mean over the classes present in the ground
  truth, computed with :func:`biomedai.metrics.detection.coco_mask_average_precision` (COCO's 101-point
  interpolation; the paper used matterport's all-point VOC interpolation, which differs by ~0.01 at most).
* Dice(all): per image, Dice of the union of predicted tooth masks against the union of true tooth masks;
  mean over images.
* Dice(single): over all n true teeth of the test set, Dice with the predicted mask carrying the same FDI
  number (the most confident one if several); a missing or wrongly numbered tooth counts 0.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .calibration import CalibrationResult, calibrate_numbering
from .data import ToothInstances


def number_binary_detections(binary: ToothInstances, multi: ToothInstances, config: Any
                             ) -> tuple[ToothInstances, CalibrationResult]:
    """Spec 4.3: the binary model's masks and boxes with numbers from the calibration algorithm."""
    keep = multi.scores >= config.transfer_min_confidence if multi.scores is not None else np.ones(len(multi), bool)
    result = calibrate_numbering(binary.boxes, multi.boxes[keep], multi.fdi[keep],
                                 None if multi.scores is None else multi.scores[keep],
                                 display=config.display, max_transfer_widths=config.max_transfer_widths,
                                 max_passes=config.max_passes)
    numbered = ToothInstances(result.labels.copy(), binary.masks, binary.boxes, binary.scores)
    return numbered, result


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(a, b).sum()) / total


def dice_all(true: ToothInstances, pred: ToothInstances) -> float:
    """Dice of the union of all predicted tooth masks against the union of all true ones."""
    shape = true.masks.shape[1:]
    t = true.masks.any(0) if len(true) else np.zeros(shape, bool)
    p = pred.masks.any(0) if len(pred) else np.zeros(shape, bool)
    return _dice(t, p)


def dice_single_scores(true: ToothInstances, pred: ToothInstances) -> list[float]:
    """One Dice per true tooth against the most confident predicted mask with its FDI number (0 if none)."""
    out = []
    for k, fdi in enumerate(true.fdi):
        hits = np.flatnonzero(pred.fdi == fdi)
        if not len(hits):
            out.append(0.0)
            continue
        best = hits[np.argmax(pred.scores[hits])] if pred.scores is not None else hits[0]
        out.append(_dice(true.masks[k], pred.masks[best]))
    return out


def table1_metrics(truths: Sequence[ToothInstances], preds: Sequence[ToothInstances]) -> dict[str, Any]:
    """mAP@0.5 over the FDI classes, Dice(all) and Dice(single) over a set of images (spec 4.6)."""
    from biomedai.metrics.detection import coco_mask_average_precision

    true_masks, pred_masks, pred_scores, true_labels, pred_labels = [], [], [], [], []
    for t, p in zip(truths, preds):
        numbered = p.fdi > 0
        true_masks.append(t.masks)
        true_labels.append(t.fdi)
        pred_masks.append(p.masks[numbered])
        pred_scores.append(np.ones(int(numbered.sum())) if p.scores is None else p.scores[numbered])
        pred_labels.append(p.fdi[numbered])
    ap = coco_mask_average_precision(true_masks, pred_masks, pred_scores, true_labels, pred_labels,
                                     max_detections=(100,), area_ranges={"all": (0.0, 1e10)})
    singles = [s for t, p in zip(truths, preds) for s in dice_single_scores(t, p)]
    return {"mAP50": float(np.nan_to_num(ap["AP50"])), "dice_all": float(np.mean([dice_all(t, p) for t, p in
                                                                                  zip(truths, preds)])),
            "dice_single": float(np.mean(singles)) if singles else float("nan"),
            "n_images": len(truths), "n_teeth": len(singles),
            "n_predicted_numbered": int(sum(len(x) for x in pred_labels))}


def numbering_accuracy(true: ToothInstances, pred: ToothInstances, iou: float = 0.5) -> tuple[int, int]:
    """(correctly numbered, matched) predicted teeth: a prediction matches the true tooth it overlaps most."""
    correct = matched = 0
    for k in range(len(pred)):
        if not len(true):
            break
        inter = np.logical_and(true.masks, pred.masks[k]).reshape(len(true), -1).sum(1)
        union = np.logical_or(true.masks, pred.masks[k]).reshape(len(true), -1).sum(1)
        j = int(np.argmax(inter / np.maximum(union, 1)))
        if inter[j] / max(union[j], 1) >= iou:
            matched += 1
            correct += int(true.fdi[j] == pred.fdi[k])
    return correct, matched
