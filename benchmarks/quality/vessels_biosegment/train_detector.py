"""Recipe of the bundled detector (the paper's path): boxes along polylines traced from DRIVE's manual
segmentations of the training images (17 train + 3 validation: 38, 39, 40), CPU, time-bounded.

Usage (from the repository root):
    nice -n 5 python benchmarks/quality/vessels_biosegment/train_detector.py [DRIVE_ROOT] [OUT] [--minutes M]
Writes OUT/model (a model folder) and OUT/train_summary.json; copy OUT/model to
src/biomedai/methods/vessels_biosegment/models/detector/ to bundle it.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import torch

from biomedai.methods.vessels_biosegment.config import VesselsConfig
from biomedai.methods.vessels_biosegment.datasets import find_cases
from biomedai.methods.vessels_biosegment.detector_training import detector_case, save_detector_model, train_detector
from biomedai.methods.vessels_biosegment.training import prepare_case, split_training_validation

ROOT = Path(__file__).resolve().parents[3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("drive", nargs="?", type=Path, default=ROOT.parent / "shared/data/vessels/drive")
    parser.add_argument("out", nargs="?", type=Path, default=Path("runs/vessels_detector"))
    defaults = VesselsConfig()
    parser.add_argument("--minutes", type=float, default=defaults.detector_minutes)
    parser.add_argument("--epochs", type=int, default=defaults.detector_epochs)
    parser.add_argument("--steps", type=int, default=defaults.detector_steps_per_epoch)
    parser.add_argument("--width", type=int, default=defaults.detector_width)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    cfg = VesselsConfig()
    train, val = split_training_validation(find_cases(args.drive / "training"))
    load_start, t0, cpu0 = os.getloadavg(), time.time(), time.process_time()
    train_dc = [detector_case(prepare_case(c, cfg), cfg) for c in train]
    val_dc = [detector_case(prepare_case(c, cfg), cfg) for c in val]
    trained = train_detector(train_dc, val_dc, cfg, args.out, minutes=args.minutes, epochs=args.epochs,
                             steps_per_epoch=args.steps, width=args.width)
    minutes = (time.time() - t0) / 60
    save_detector_model(args.out / "model", trained, cfg, [c.case_id for c in train], [c.case_id for c in val],
                        "DRIVE training images 21-40 (third-party copy), polylines traced from 1st_manual",
                        extra={"recipe": vars(args) | {"drive": str(args.drive), "out": str(args.out)},
                               "train_minutes": round(minutes, 1)})
    res = trained["result"]
    summary = {"wall_minutes": minutes, "process_cpu_minutes": (time.process_time() - cpu0) / 60,
               "threads": args.threads, "load_at_start": load_start, "load_at_end": os.getloadavg(),
               "best_val_line_f1": res.best_metric, "best_epoch": res.best_epoch,
               "epochs_completed": res.epochs_completed, "steps": res.global_step,
               "decoding": trained["decoding"].to_preprocessing(), "val_length_percent_error": trained["val_error"],
               "val_line_f1": trained["val_line_f1"]}
    (args.out / "train_summary.json").write_text(json.dumps(summary, indent=2, default=str))
    logging.info("done: %s", summary)


if __name__ == "__main__":
    main()
