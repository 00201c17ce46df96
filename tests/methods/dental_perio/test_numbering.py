"""Table 1 metrics (spec 4.6) on known answers, mAP@0.5 checked against pycocotools."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.methods.dental_perio.data import ToothInstances, instances_from_label_map
from biomedai.methods.dental_perio.numbering import dice_all, dice_single_scores, table1_metrics


def teeth(seed: int = 0) -> ToothInstances:
    lm = np.zeros((60, 120), np.uint8)
    for k, fdi in enumerate((14, 13, 12, 11, 21, 22)):
        lm[5:28, 4 + 19 * k:18 + 19 * k] = fdi
    for k, fdi in enumerate((43, 42, 41, 31, 32)):
        lm[32:56, 8 + 20 * k:22 + 20 * k] = fdi
    t = instances_from_label_map(lm)
    t.scores = np.random.default_rng(seed).uniform(0.7, 1.0, len(t))
    return t


def relabel(t: ToothInstances, fdi: np.ndarray, keep: np.ndarray | None = None) -> ToothInstances:
    keep = np.ones(len(t), bool) if keep is None else keep
    return ToothInstances(np.asarray(fdi)[keep], t.masks[keep], t.boxes[keep], t.scores[keep])


def test_perfect_and_degraded_predictions() -> None:
    truth = teeth()
    perfect = table1_metrics([truth], [truth])
    assert perfect["mAP50"] == pytest.approx(1.0) and perfect["dice_all"] == 1.0 and perfect["dice_single"] == 1.0
    wrong = truth.fdi.copy()
    wrong[[0, 1]] = wrong[[1, 0]]  # two teeth swap numbers: masks are right, numbers wrong
    swapped = table1_metrics([truth], [relabel(truth, wrong)])
    assert swapped["dice_all"] == 1.0 and swapped["dice_single"] == pytest.approx(9 / 11)
    missing = relabel(truth, truth.fdi, keep=np.arange(len(truth)) != 3)
    assert dice_single_scores(truth, missing)[3] == 0.0
    union_t, union_p = truth.masks.any(0), missing.masks.any(0)
    assert dice_all(truth, missing) == pytest.approx(2 * union_p.sum() / (union_t.sum() + union_p.sum()))


def test_map50_matches_pycocotools() -> None:
    mask_util = pytest.importorskip("pycocotools.mask")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    rng = np.random.default_rng(3)
    truths, preds = [], []
    for i in range(3):
        t = teeth(i)
        fdi = t.fdi.copy()
        flip = rng.random(len(fdi)) < 0.3
        fdi[flip] = rng.choice(t.fdi, flip.sum())
        masks = t.masks.copy()
        masks[rng.random(len(fdi)) < 0.2] = np.roll(masks[0], 9, axis=1)  # some poor masks
        truths.append(t)
        preds.append(ToothInstances(fdi, masks, t.boxes, rng.uniform(0.1, 1, len(fdi))))
    ours = table1_metrics(truths, preds)["mAP50"]

    gt = {"images": [], "annotations": [], "categories": [{"id": int(c)} for c in np.unique(truths[0].fdi)]}
    dt = []
    for i, (t, p) in enumerate(zip(truths, preds), start=1):
        gt["images"].append({"id": i, "height": 60, "width": 120})
        for k in range(len(t)):
            rle = mask_util.encode(np.asfortranarray(t.masks[k].astype(np.uint8)))
            rle["counts"] = rle["counts"].decode()
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": i, "category_id": int(t.fdi[k]),
                                      "segmentation": rle, "area": float(t.masks[k].sum()), "iscrowd": 0,
                                      "bbox": [0, 0, 1, 1]})
        for k in range(len(p)):
            rle = mask_util.encode(np.asfortranarray(p.masks[k].astype(np.uint8)))
            rle["counts"] = rle["counts"].decode()
            dt.append({"image_id": i, "category_id": int(p.fdi[k]), "segmentation": rle, "score": float(p.scores[k])})
    coco = COCO()
    coco.dataset = gt
    coco.createIndex()
    ev = COCOeval(coco, coco.loadRes(dt), "segm")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ours == pytest.approx(ev.stats[1], abs=1e-6)
    assert 0.2 < ours < 0.95
