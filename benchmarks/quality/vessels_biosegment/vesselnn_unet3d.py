"""vesselNN (7 two-photon stacks): a small 3-D U-Net, leave-one-stack-out, length density by stack in mm/mm^3
(3-D skeleton) and mm/mm^2 (projection) with Dice and clDice, beside the classical baselines of
RESULTS-vessels_biosegment-vesselnn.md.

Each fold trains on six stacks (the last quarter of their columns validates: best epoch, threshold, spur
length) for ``--minutes-per-fold`` on one CPU thread and scores the left-out stack. Folds can be split over
several runs (``--folds``); each writes ``OUT/fold_<stack>.json``; ``--report`` merges them into the results file.

Usage (repository root):
    python benchmarks/quality/vessels_biosegment/vesselnn_unet3d.py --folds 0 1 2 3 --minutes-per-fold 4.5
    python benchmarks/quality/vessels_biosegment/vesselnn_unet3d.py --folds 4 5 6 --minutes-per-fold 4.5
    python benchmarks/quality/vessels_biosegment/vesselnn_unet3d.py --report
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from biomedai.methods.vessels_biosegment.compare import markdown_table
from biomedai.methods.vessels_biosegment.datasets import find_vesselnn_stacks
from biomedai.methods.vessels_biosegment.volume import (VolumeRecipe, architecture_of_3d, evaluate_stack,
                                                        leave_one_out_folds, train_volume_segmentation)
from biomedai.utils import write_json_atomic

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
BASELINE_RESULTS = HERE.parents[1] / "results" / "RESULTS-vessels_biosegment-vesselnn.md"


def run_folds(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    stacks = find_vesselnn_stacks(args.data)
    recipe = VolumeRecipe(max_minutes=args.minutes_per_fold, seed=args.seed)
    folds = leave_one_out_folds(len(stacks))
    job_start, longest = time.time(), args.minutes_per_fold + 2.0
    for k in args.folds:
        elapsed = (time.time() - job_start) / 60
        if elapsed + longest > args.job_minutes:
            logging.warning("stopping before fold %d: %.1f min used, a fold takes up to %.1f, job budget %.1f",
                            k, elapsed, longest, args.job_minutes)
            break
        train_idx, test_idx = folds[k]
        test = stacks[test_idx]
        load0, t0, cpu0 = os.getloadavg(), time.time(), time.process_time()
        trained = train_volume_segmentation([stacks[j] for j in train_idx], recipe, args.out / f"run_{test.name}")
        train_minutes = (time.time() - t0) / 60
        row = evaluate_stack(trained["model"], test, threshold=trained["threshold"], spur_3d=trained["spur_3d"],
                             spur_mip=trained["spur_mip"], recipe=recipe)
        record = {"fold": k, **row, "val_dice": trained["val_dice"], "train_stacks": trained["train_stacks"],
                  "validation": trained["validation"], "spur_validation_errors": trained["validation_errors"],
                  "best_epoch": trained["result"].best_epoch, "epochs": trained["result"].epochs_completed,
                  "steps": trained["result"].global_step, "train_minutes": train_minutes,
                  "fold_minutes": (time.time() - t0) / 60, "process_cpu_minutes": (time.process_time() - cpu0) / 60,
                  "load_start": load0, "load_end": os.getloadavg(), "threads": args.threads,
                  "recipe": dataclasses.asdict(recipe), "architecture": architecture_of_3d(recipe),
                  "date": f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
                  "command": " ".join([Path(sys.executable).name] + sys.argv)}
        write_json_atomic(args.out / f"fold_{test.name}.json", record)
        longest = max(longest, record["fold_minutes"])
        logging.info("fold %d (%s): %s", k, test.name, {key: record[key] for key in
                                                          ("dice_3d", "cldice_3d", "pct_error_3d", "pct_error_mip",
                                                           "pruned_pct_error_3d", "pruned_pct_error_mip")})


def baseline_means() -> list[str]:
    """The 'Mean over the 7 stacks' table of the classical baselines' results file, verbatim."""
    if not BASELINE_RESULTS.is_file():
        return ["(baseline results file absent)"]
    lines = BASELINE_RESULTS.read_text().splitlines()
    start = lines.index("## Mean over the 7 stacks") + 2
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    return lines[start:end]


def report(args: argparse.Namespace) -> None:
    records = sorted((json.loads(p.read_text()) for p in args.out.glob("fold_*.json")), key=lambda r: r["fold"])
    if not records:
        raise SystemExit(f"no fold_*.json in {args.out}")
    rows = [{"stack": r["stack"], "Dice 3-D": r["dice_3d"], "clDice 3-D": r["cldice_3d"],
             "threshold (val)": r["threshold"], "manual mm/mm^3": r["manual_mm_per_mm3"],
             "U-Net mm/mm^3": r["measured_mm_per_mm3"], "% error 3-D": r["pct_error_3d"],
             "spur px (val)": r["spur_3d"], "pruned mm/mm^3": r["pruned_mm_per_mm3"],
             "pruned % error 3-D": r["pruned_pct_error_3d"], "manual MIP mm/mm^2": r["manual_mip_mm_per_mm2"],
             "U-Net MIP mm/mm^2": r["measured_mip_mm_per_mm2"], "% error MIP": r["pct_error_mip"],
             "spur px MIP (val)": r["spur_mip"], "pruned % error MIP": r["pruned_pct_error_mip"]} for r in records]
    keys = ("Dice 3-D", "clDice 3-D", "% error 3-D", "pruned % error 3-D", "% error MIP", "pruned % error MIP")
    mean = {"method": f"3-D U-Net ({len(rows)} folds)", **{k: float(np.mean([r[k] for r in rows])) for k in keys},
            "median % error 3-D": float(np.median([r["% error 3-D"] for r in rows])),
            "median pruned % error 3-D": float(np.median([r["pruned % error 3-D"] for r in rows])),
            "median % error MIP": float(np.median([r["% error MIP"] for r in rows])),
            "median pruned % error MIP": float(np.median([r["pruned % error MIP"] for r in rows]))}
    runs = [{"stack": r["stack"], "date": r["date"], "train min (wall)": r["train_minutes"],
             "fold min (wall)": r["fold_minutes"], "process CPU min": r["process_cpu_minutes"],
             "steps": r["steps"], "epochs": r["epochs"], "best epoch": r["best_epoch"], "val Dice": r["val_dice"],
             "load at start": ", ".join(f"{x:.1f}" for x in r["load_start"]),
             "load at end": ", ".join(f"{x:.1f}" for x in r["load_end"])} for r in records]
    recipe, arch = records[0]["recipe"], records[0]["architecture"]
    commands = sorted({r["command"] for r in records})
    text = [
        f"# vessels_biosegment on vesselNN: 3-D U-Net, leave-one-stack-out ({len(rows)} of 7 folds)", "",
        f"- written {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC from `{args.out}`; folds run by: "
        + "; ".join(f"`{c}`" for c in commands) + " (each in the team's one-thread CPU queue, `cpuslot`)",
        f"- network: MONAI UNet 3-D, channels {arch['channels']}, strides {arch['strides']} (z pooled once: "
        f"z step 5 um vs 0.6-2.5 um pixels), one residual unit per level, instance norm, {arch['parameters']:,} "
        "parameters; DiceCE loss, AdamW lr {lr}, weight decay {wd}, batch {bs} patches of {patch} voxels (z, y, x), "
        "{spe} steps per epoch, cosine over a time budget of {mins} min per fold on one CPU thread; flips, 90-degree "
        "in-plane rotations, gamma/contrast jitter; seed {seed}".format(
            lr=recipe["lr"], wd=recipe["weight_decay"], bs=recipe["batch_size"], patch=tuple(recipe["patch"]),
            spe=recipe["steps_per_epoch"], mins=recipe["max_minutes"], seed=recipe["seed"]),
        f"- input: each stack's 0.5-99.5 percentile stretch, native voxel size; inference: "
        f"`biomedai.data.tiling.predict_tiled`, Gaussian-blended tiles {tuple(recipe['tile'])}, 25 % overlap, reflect "
        f"padding; objects < {recipe['min_object_voxels']} voxels removed",
        "- validation (never the test stack): the last 25 % of the columns of each of the six training stacks is "
        "kept out of the patches; it picks the best epoch (pooled Dice), the probability threshold (grid 0.20-0.80) "
        "and the spur lengths (grid 0, 8, 16, 32 px, lowest mean length-density % error of the validation regions, "
        "separately for the 3-D skeleton and the projection)",
        "- length: skan skeleton of the 3-D mask with the anisotropic voxel size (mm/mm^3) and of the mask's "
        "maximum projection (mm/mm^2); manual labels through the same code, never pruned; '% error' is unpruned, "
        "'pruned' uses the validation-chosen spur lengths",
        "- reduced against the issue: one seed, a few minutes of one-thread training per fold (see the run "
        "table: steps), no hyper-parameter search; the santos2015 stacks' pixel size is assumed (0.621 um)", "",
        "## Mean over the folds, beside the classical baselines", "",
        markdown_table([mean], digits=3), "",
        "Classical baselines (same leave-one-stack-out folds, from `RESULTS-vessels_biosegment-vesselnn.md`, "
        "unpruned):", "", *baseline_means(), "",
        "## Per stack (the left-out stack of each fold)", "", markdown_table(rows, digits=3), "",
        "## Runs (wall and CPU time per fold, load average of the 2-core machine)", "",
        markdown_table(runs, digits=2), ""]
    args.results.write_text("\n".join(text))
    logging.info("wrote %s", args.results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/vessels/vesselnn")
    parser.add_argument("--out", type=Path, default=Path("runs/vesselnn_unet3d"))
    parser.add_argument("--folds", type=int, nargs="*", default=None, help="fold indices (default: all 7)")
    parser.add_argument("--minutes-per-fold", type=float, default=4.5, help="training time budget per fold")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--job-minutes", type=float, default=24.0,
                        help="start no fold that could end after this many minutes of the run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report", action="store_true", help="merge OUT/fold_*.json into the results file")
    parser.add_argument("--results", type=Path,
                        default=HERE.parents[1] / "results" / "RESULTS-vessels_biosegment-vesselnn-unet3d.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.report:
        report(args)
        return
    if args.folds is None:
        args.folds = list(range(7))
    run_folds(args)


if __name__ == "__main__":
    main()
