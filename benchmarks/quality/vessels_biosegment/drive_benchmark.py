"""DRIVE test images (15 here): the segmentation path, the paper's detector path and the Frangi baseline side by
side in one run: Dice, AUC, accuracy and clDice inside the FOV, length-density percent error against the
manual tracing (skeleton of 1st_manual), junction-count error, and seconds per image on the CPU.

Usage (repository root): python benchmarks/quality/vessels_biosegment/drive_benchmark.py [--weights RUN] [--out OUT]
(``--weights``: a folder holding model/ and detector/ from ``biomedai train``; default: the bundled models).
Writes OUT (the evaluate output: per_image_scores.csv, result.json, report.html, overlays) and
benchmarks/results/RESULTS-vessels_biosegment.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from biomedai.methods.vessels_biosegment.compare import markdown_table
from biomedai.methods.vessels_biosegment.config import VesselsConfig
from biomedai.methods.vessels_biosegment.pipeline import VesselsBioSegmentMethod

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]

PATHS = (("segmentation (U-Net + skan)", "seg"), ("detector (paper: boxes + linking + MST)", "det"),
         ("Frangi baseline", "base"))


def _mean(rows: list[dict], key: str) -> float:
    v = np.array([r.get(key, np.nan) for r in rows], float)
    return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")


def summary_rows(rows: list[dict], metrics: dict) -> list[dict]:
    out = []
    for label, p in PATHS:
        if f"{p}_length_density" not in rows[0]:
            continue
        agree = metrics.get(f"{p}_agreement", {})
        seconds = {"seg": "seconds_segmentation_path", "det": "seconds_detector_path", "base": "seconds_baseline"}[p]
        out.append({"path": label, "Dice": _mean(rows, f"{p}_dice"), "AUC": _mean(rows, f"{p}_auc"),
                    "accuracy": _mean(rows, f"{p}_accuracy"), "clDice": _mean(rows, f"{p}_cldice"),
                    "centre-line F1 (4 px)": _mean(rows, f"{p}_centreline_f1"),
                    "length density % error (mean)": agree.get("mean_percent_error", np.nan),
                    "(median)": agree.get("median_percent_error", np.nan),
                    "images within 10 %": f"{agree.get('within_10_percent', 0)}/{len(rows)}",
                    "Bland-Altman bias": agree.get("bland_altman", {}).get("bias", np.nan),
                    "junction error (mean abs)": _mean(rows, f"{p}_junction_error"),
                    "junction % error": _mean(rows, f"{p}_junction_percent_error"),
                    "s/image (+ preprocess)": _mean(rows, seconds)})
    return out


def interval_rows(rows: list[dict]) -> list[dict]:
    """95 % percentile-bootstrap intervals of the per-image means (1000 resamples of the images, seed 0)."""
    from biomedai.metrics.bootstrap import bootstrap_ci

    out = []
    for label, p in PATHS:
        row: dict = {"path": label}
        for name, key in (("Dice", "dice"), ("AUC", "auc"), ("clDice", "cldice"),
                          ("centre-line F1", "centreline_f1"), ("length % error", "length_percent_error")):
            v = np.array([r.get(f"{p}_{key}", np.nan) for r in rows], float)
            if np.isfinite(v).all():
                ci = bootstrap_ci(lambda a: float(np.mean(a)), v)
                row[name] = f"{v.mean():.3f} [{ci.low:.3f}, {ci.high:.3f}]"
        out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drive", type=Path, default=ROOT.parent / "shared/data/vessels/drive")
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("runs/vessels_drive_benchmark"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--results", type=Path,
                        default=HERE.parents[1] / "results" / "RESULTS-vessels_biosegment.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    load0, t0 = os.getloadavg(), time.time()
    result = VesselsBioSegmentMethod(VesselsConfig()).evaluate(args.drive, args.out, weights=args.weights)
    load1, minutes = os.getloadavg(), (time.time() - t0) / 60
    import csv

    with open(args.out / "per_image_scores.csv", newline="") as fh:
        rows = [{k: (float(v) if v not in ("", None) and k not in ("case", "density_unit") else v)
                 for k, v in r.items()} for r in csv.DictReader(fh)]
    m = result.metrics
    lines = [
        "# vessels_biosegment on DRIVE (15 test images here: 06-20)", "",
        f"- date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; machine: {platform.machine()}, "
        f"{os.cpu_count()} CPUs shared with other jobs, torch threads {args.threads}",
        f"- load average (1, 5, 15 min): at start {tuple(round(x, 1) for x in load0)}, "
        f"at end {tuple(round(x, 1) for x in load1)}; so the seconds per image are under that load",
        f"- command: `{' '.join([Path(sys.executable).name] + sys.argv)}` ({minutes:.1f} min in all)",
        f"- models: {'; '.join(result.metrics.get('models', []) or [])}",
        f"- detector decoding (stored in its model.json, chosen on validation images 38-40): "
        f"{m.get('detector_decoding')}",
        f"- Frangi threshold chosen on the 20 training images: {m.get('baseline_threshold')}",
        "- manual length = skeleton length (skan) of 1st_manual inside the FOV; pixel size unknown, so densities "
        "are in px/px^2 (the percent errors do not depend on the unit)", "",
        "## Both paths and the baseline", "", markdown_table(summary_rows(rows, m)), "",
        "Reference (issue 19, five DRIVE test images not in this copy): MONAI BasicUNet (1.98 M parameters, 4 min "
        "on one H200) AUC 0.978, Dice 0.826, accuracy 0.951; Frangi with a training-tuned threshold AUC 0.861, "
        "Dice 0.602. Numbers on 15 images are close to, but not the same as, the 20-image DRIVE test score.", "",
        "## 95 % intervals (percentile bootstrap over the 15 images, 1000 resamples, seed 0)", "",
        markdown_table(interval_rows(rows)), "",
        "## Tables 1-2 layout (mean per-image % error of length density; one fold: DRIVE's fixed split)", "",
        markdown_table(m.get("table", [])), "",
        "## Per image", "",
        markdown_table([{k: r[k] for k in ("case", "manual_length_density", "seg_length_density", "det_length_density",
                                           "base_length_density", "seg_dice", "seg_auc") if k in r} for r in rows],
                       digits=4), ""]
    args.results.write_text("\n".join(lines))
    logging.info("wrote %s", args.results)


if __name__ == "__main__":
    main()
