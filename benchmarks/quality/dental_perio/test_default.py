"""Score the FDI U-Net teeth model (``train_default.py``) once: the numbering variant (U-Net numbers as
predicted, or checked by the calibration) is chosen on the 30 validation films, then the 75 test films of the
fixed UFBA split give Table 1's metrics with 95 % percentile bootstrap intervals over films.

Usage (from the repository root):
    python benchmarks/quality/dental_perio/test_default.py runs/teeth_default/model [--data ...] [--out FILE]
Writes a JSON (default: MODEL_FOLDER/test_metrics.json; the chosen variant and the test metrics also go into model.json). mAP@0.5 is recomputed per resample from per-film
matches (COCO's rule: per film and class, detections by score, each to the unmatched true tooth of highest
IoU >= 0.5; 101-point interpolation); on the full set it equals ``biomedai.metrics.detection``'s value.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from biomedai.methods.dental_perio.config import DentalPerioConfig
from biomedai.methods.dental_perio.data import ToothInstances, UFBADataset, split_ids
from biomedai.methods.dental_perio.inference import infer_radiograph_unet, load_fdi_unet
from biomedai.methods.dental_perio.numbering import dice_all, dice_single_scores, numbering_accuracy, table1_metrics
from biomedai.metrics.bootstrap import bootstrap_ci

ROOT = Path(__file__).resolve().parents[3]


def film_matches(truth: ToothInstances, pred: ToothInstances, iou_min: float = 0.5) -> list[tuple[int, float, bool]]:
    """(FDI, score, true positive) per numbered prediction of one film, COCO's greedy rule per class."""
    out = []
    for fdi in np.unique(pred.fdi[pred.fdi > 0]):
        dets = np.flatnonzero(pred.fdi == fdi)
        dets = dets[np.argsort(-pred.scores[dets], kind="mergesort")]
        gts = np.flatnonzero(truth.fdi == fdi)
        used = np.zeros(len(gts), bool)
        for d in dets:
            best, best_iou = -1, iou_min
            for j, g in enumerate(gts):
                if used[j]:
                    continue
                inter = np.logical_and(pred.masks[d], truth.masks[g]).sum()
                union = np.logical_or(pred.masks[d], truth.masks[g]).sum()
                iou = inter / union if union else 0.0
                if iou >= best_iou:
                    best, best_iou = j, iou
            if best >= 0:
                used[best] = True
            out.append((int(fdi), float(pred.scores[d]), best >= 0))
    return out


def map50(records: list[list[tuple[int, float, bool]]], n_true: list[dict[int, int]]) -> float:
    """mAP@0.5 over the FDI classes present in the truth of the given films (101-point interpolation)."""
    npos: dict[int, int] = {}
    for counts in n_true:
        for fdi, n in counts.items():
            npos[fdi] = npos.get(fdi, 0) + n
    aps = []
    for fdi, n in npos.items():
        if n == 0:
            continue
        dets = [(s, tp) for film in records for f, s, tp in film if f == fdi]
        if not dets:
            aps.append(0.0)
            continue
        scores = np.array([s for s, _ in dets])
        tps = np.array([tp for _, tp in dets], float)[np.argsort(-scores, kind="mergesort")]
        tp, fp = np.cumsum(tps), np.cumsum(1 - tps)
        recall, precision = tp / n, tp / np.maximum(tp + fp, np.finfo(float).eps)
        precision = np.maximum.accumulate(precision[::-1])[::-1]
        idx = np.searchsorted(recall, np.linspace(0, 1, 101), side="left")
        aps.append(float(np.mean([precision[i] if i < len(precision) else 0.0 for i in idx])))
    return float(np.mean(aps)) if aps else float("nan")


def score_films(net, info, films, config, calibrate: bool) -> dict:
    """Predictions, per-film records and Table 1 metrics of one numbering variant."""
    info.preprocessing["calibrate"] = calibrate
    preds = [infer_radiograph_unet(net, info, image, config)["numbered"] for image, _ in films]
    truths = [t for _, t in films]
    records = [film_matches(t, p) for t, p in zip(truths, preds)]
    n_true = [{int(f): int((t.fdi == f).sum()) for f in np.unique(t.fdi)} for t in truths]
    singles = [dice_single_scores(t, p) for t, p in zip(truths, preds)]
    correct_matched = [numbering_accuracy(t, p) for t, p in zip(truths, preds)]
    return {"preds": preds, "truths": truths, "records": records, "n_true": n_true, "singles": singles,
            "dice_all": [dice_all(t, p) for t, p in zip(truths, preds)], "correct_matched": correct_matched,
            "table1": table1_metrics(truths, preds)}


def record_in_model_json(folder: Path, calibrate: bool, test: dict) -> None:
    """The numbering variant chosen on validation and the test metrics, into the folder's model.json."""
    from biomedai.train.model_folder import INFO_FILE, read_model_info
    from biomedai.utils import write_json_atomic

    info = read_model_info(folder)
    info.preprocessing["calibrate"] = bool(calibrate)
    info.preprocessing["numbering_variant_chosen_on"] = "the 30 validation films"
    info.metrics.update({"test_map50": test["mAP50"], "test_map50_ci95": test["ci95"]["mAP50"],
                         "test_dice_all": test["dice_all"], "test_dice_single": test["dice_single"],
                         "test_numbering_accuracy_matched": test["numbering_accuracy_matched"]})
    info.metrics_data = ("val_*: 30 validation films from the training part; test_*: the 75 test films of the "
                         "fixed UFBA split (95 % bootstrap intervals over films)")
    write_json_atomic(folder / INFO_FILE, info.to_dict())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/teeth/ufba_subset")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--resamples", type=int, default=1000)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    t0, cpu0, load0 = time.time(), time.process_time(), os.getloadavg()
    net, info = load_fdi_unet(args.model)
    config = DentalPerioConfig()
    dataset = UFBADataset(args.data)
    val_ids = info.training_data["split"]["validation"]
    val_films = [dataset.load(n) for n in val_ids]
    choice = {c: score_films(net, info, val_films, config, c)["table1"] for c in (False, True)}
    calibrate = choice[True]["mAP50"] > choice[False]["mAP50"]
    test_ids = split_ids(dataset, "test")
    films = [dataset.load(n) for n in test_ids]
    out = {"model": str(args.model), "validation": {"as_predicted": choice[False], "calibrated": choice[True],
                                                     "chosen": "calibrated" if calibrate else "as_predicted"},
           "test": {}}
    idx = np.arange(len(films))
    for variant, cal in (("as_predicted", False), ("calibrated", True)):
        s = score_films(net, info, films, config, cal)
        ours = map50(s["records"], s["n_true"])
        cis = {"mAP50": bootstrap_ci(lambda i: map50([s["records"][k] for k in i], [s["n_true"][k] for k in i]),
                                     idx, n_resamples=args.resamples),
               "dice_all": bootstrap_ci(lambda i: float(np.mean([s["dice_all"][k] for k in i])), idx,
                                        n_resamples=args.resamples),
               "dice_single": bootstrap_ci(lambda i: float(np.mean([v for k in i for v in s["singles"][k]])), idx,
                                           n_resamples=args.resamples)}
        correct = sum(c for c, _ in s["correct_matched"])
        matched = sum(m for _, m in s["correct_matched"])
        out["test"][variant] = {**s["table1"], "mAP50_recomputed": ours,
                                "numbering_accuracy_matched": correct / matched if matched else None,
                                "n_matched": matched,
                                "ci95": {k: [round(v.low, 4), round(v.high, 4)] for k, v in cis.items()}}
    out["test"]["chosen"] = out["validation"]["chosen"]
    out.update({"n_test_films": len(films), "test_ids": test_ids, "wall_s": round(time.time() - t0, 1),
                "process_cpu_s": round(time.process_time() - cpu0, 1), "load_start": load0,
                "load_end": os.getloadavg(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})
    record_in_model_json(args.model, calibrate, out["test"][out["test"]["chosen"]])
    path = args.out or args.model / "test_metrics.json"
    path.write_text(json.dumps(out, indent=2, default=float))
    print(json.dumps({k: out["test"][k] for k in ("as_predicted", "calibrated", "chosen")}, indent=1, default=float))


if __name__ == "__main__":
    main()
