"""Test-split metrics with 95 % intervals for a trained 3-D Mask R-CNN model folder (the numbers of MODEL.md).

AUFC (lesion- and breast-based, 0-3 FPs, normalised) with a percentile bootstrap interval over breasts (B = 2000;
the paired bootstrap against a system without detections, whose AUFC is 0, is the bootstrap of the AUFC itself),
and the lesion-based sensitivity at up to 0.5 / 1 / 2 FPs per view with Wilson intervals (hits: 3-D box IoU > 0.5;
also, for information, the spec's optional centre-in-box rule). SIMULATED data only.

Usage:
    python benchmarks/quality/dbt_maskrcnn/model_card_metrics.py COHORT_DIR MODEL_FOLDER OUT_JSON
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import binomtest

from biomedai.methods.dbt_maskrcnn import evaluate
from biomedai.methods.dbt_maskrcnn.config import DbtMaskRcnnConfig
from biomedai.methods.dbt_maskrcnn.data import load_cohort
from biomedai.methods.dbt_maskrcnn.froc import ViewDetections, aufc, bootstrap_aufc_difference, froc
from biomedai.methods.dbt_maskrcnn.inference import detect_volume
from biomedai.methods.dbt_maskrcnn.training import load_trained_model
from biomedai.utils import write_json_atomic


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cohort")
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--boot", type=int, default=2000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cpu0 = time.process_time()
    model, cfg, _ = load_trained_model(args.model, DbtMaskRcnnConfig())
    model.float()
    test = load_cohort(args.cohort, cfg.spacing, ("test",))
    found = {r.view_id: detect_volume(model, r.volume, cfg.patch, cfg.margin, cfg.nms_iou) for r in test}
    views = evaluate.to_view_detections(test, found)
    empty = [ViewDetections(v.view_id, v.breast_id, v.true_boxes, np.zeros((0, 6)), np.zeros(0)) for v in views]
    out: dict[str, object] = {"data": "SIMULATED DBT cohort, test split", "n_views": len(test),
                              "n_breasts": len({r.breast_id for r in test}), "model": str(args.model)}
    for mode in ("lesion", "breast"):
        ci = bootstrap_aufc_difference(views, empty, mode=mode, n_resamples=args.boot, seed=0)
        out[f"AUFC_{mode}"] = {"value": aufc(froc(views, mode)), "ci95": [ci.ci_low, ci.ci_high]}
    curve = froc(views, "lesion")
    fps, sens = np.asarray(curve.fps_per_image, float), np.asarray(curve.sensitivity, float)
    for limit in (0.5, 1.0, 2.0):
        s = float(sens[fps <= limit + 1e-9].max())
        hits = int(round(s * len(test)))
        ci = binomtest(hits, len(test)).proportion_ci(0.95, method="wilson")
        out[f"sensitivity_lesion_at_{limit:g}_fp_per_view"] = {"value": s, "hits": hits,
                                                               "ci95": [float(ci.low), float(ci.high)]}
    centre = froc(views, "lesion", criterion="centre")  # the spec's optional hit rule, for information
    fps, sens = np.asarray(centre.fps_per_image, float), np.asarray(centre.sensitivity, float)
    out["centre_in_box"] = {"AUFC_lesion": aufc(centre), "AUFC_breast": aufc(froc(views, "breast", criterion="centre")),
                            "sensitivity_lesion_at_1_fp_per_view": float(sens[fps <= 1.0 + 1e-9].max())}
    seg = evaluate.table4(test, {"m": found})[0]
    out.update({"mask_AP50": seg["m AP"], "dice_mean": seg["m Dice"], "fnr_mean": seg["m FNR"],
                "cpu_s": time.process_time() - cpu0})
    write_json_atomic(Path(args.out), out)
    print(out)


if __name__ == "__main__":
    main()
