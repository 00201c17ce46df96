"""Recipe of the bundled model: the segmentation U-Net trained on DRIVE's 20 training images (17 train + 3
validation: 38, 39, 40), on the CPU (two threads), within the time budget of the config (55 min).

Usage (from the repository root; DRIVE under ../shared/data/vessels/drive):
    nice -n 5 python benchmarks/quality/vessels_biosegment/train_default.py [DRIVE_ROOT] [OUT] [--minutes M]
A budget split over jobs: the same command with --job-minutes J, then again with --resume (the budget and the
cosine count on over the jobs; the engine keeps the time spent in its checkpoint).
Writes OUT/model (a model folder), OUT/metrics.jsonl (the engine's log) and OUT/train_summary.json.
Copy OUT/model into src/biomedai/methods/vessels_biosegment/models/default/ to bundle it.
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
from biomedai.methods.vessels_biosegment.training import (save_trained_model, split_training_validation,
                                                          train_segmentation)

ROOT = Path(__file__).resolve().parents[3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("drive", nargs="?", type=Path, default=ROOT.parent / "shared/data/vessels/drive")
    parser.add_argument("out", nargs="?", type=Path, default=Path("runs/vessels_default"))
    parser.add_argument("--minutes", type=float, default=None, help="time budget (default: the config's)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the recipe: 2; 1 on a shared CPU)")
    parser.add_argument("--features", type=int, nargs=6, default=None, help="BasicUNet widths (default: the config's)")
    parser.add_argument("--steps-per-epoch", type=int, default=None)
    parser.add_argument("--job-minutes", type=float, default=None,
                        help="end this job after the epoch passing M minutes; rerun with --resume to go on")
    parser.add_argument("--resume", action="store_true", help="continue OUT/checkpoints/last.pt (budget counts on)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    cfg = VesselsConfig()
    if args.minutes is not None:
        cfg = cfg.replace(max_minutes=args.minutes)
    if args.epochs is not None:
        cfg = cfg.replace(epochs=args.epochs)
    if args.features is not None:
        cfg = cfg.replace(unet_features=tuple(args.features))
    if args.steps_per_epoch is not None:
        cfg = cfg.replace(steps_per_epoch=args.steps_per_epoch)
    train, val = split_training_validation(find_cases(args.drive / "training"))
    load_start = os.getloadavg()
    t0 = time.time()
    cpu0 = time.process_time()
    trained = train_segmentation(train, val, cfg, args.out, job_minutes=args.job_minutes, resume=args.resume)
    minutes = (time.time() - t0) / 60
    job = {"wall_minutes": minutes, "process_cpu_minutes": (time.process_time() - cpu0) / 60,
           "load_at_start": load_start, "load_at_end": os.getloadavg(), "resumed": args.resume,
           "ended_at_step": trained["result"].global_step}
    summary_path = args.out / "train_summary.json"
    jobs = json.loads(summary_path.read_text()).get("jobs", []) if args.resume and summary_path.is_file() else []
    jobs.append(job)
    minutes = sum(j["wall_minutes"] for j in jobs)
    summary = {"wall_minutes": minutes, "process_cpu_minutes": sum(j["process_cpu_minutes"] for j in jobs),
               "jobs": jobs, "threads": args.threads, "load_at_start": jobs[0]["load_at_start"],
               "load_at_end": job["load_at_end"],
               "threshold": trained["threshold"], "val_dice": trained["val_dice"], "tta": trained["tta"],
               "val_dice_without_tta": trained.get("val_dice_without_tta"),
               "val_dice_with_tta": trained.get("val_dice_with_tta"),
               "best_epoch": trained["result"].best_epoch, "epochs_completed": trained["result"].epochs_completed,
               "steps": trained["result"].global_step, "config": cfg.to_dict()}
    summary_path.write_text(json.dumps(summary, indent=2, default=str))
    save_trained_model(args.out / "model", trained, cfg, "DRIVE training images 21-40 (third-party copy)",
                       cpu_minutes=round(minutes, 1))
    logging.info("done: %s", json.dumps({k: summary[k] for k in ("wall_minutes", "val_dice", "threshold")}))


if __name__ == "__main__":
    main()
