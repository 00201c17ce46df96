"""vesselNN (7 two-photon stacks): a small 3-D U-Net, leave-one-stack-out, length density by stack in mm/mm^3
(3-D skeleton) and mm/mm^2 (projection) with Dice and clDice, beside the classical baselines of
RESULTS-vessels_biosegment-vesselnn.md.

Each fold trains on six stacks (the last quarter of their columns validates: best epoch, threshold, smoothing and spur
length) for ``--minutes-per-fold`` on one CPU thread and scores the left-out stack. Folds can be split over
several runs (``--folds``); each writes ``OUT/fold_<stack>.json``; ``--report`` merges them into the results file.

Usage (repository root):
    python benchmarks/quality/vessels_biosegment/vesselnn_unet3d.py --folds 0 1 2 3 --minutes-per-fold 4.5
    python benchmarks/quality/vessels_biosegment/vesselnn_unet3d.py --folds 4 5 6 --minutes-per-fold 4.5
    python benchmarks/quality/vessels_biosegment/vesselnn_unet3d.py --report
    python benchmarks/quality/vessels_biosegment/vesselnn_unet3d.py --trained OLD_OUT --out NEW_OUT   (measure again)
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
from biomedai.methods.vessels_biosegment.volume import (VolumeRecipe, architecture_of_3d, build_unet3d,
                                                        choose_length_settings, evaluate_stack, leave_one_out_folds,
                                                        normalise_stack, split_columns, train_volume_segmentation,
                                                        volume_probability)
from biomedai.train import load_weights
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
        row = evaluate_stack(trained["model"], test, threshold=trained["threshold"], settings=trained, recipe=recipe)
        record = {"fold": k, **row, "val_dice": trained["val_dice"], "train_stacks": trained["train_stacks"],
                  "validation": trained["validation"], "length_validation_errors": trained["validation_errors"],
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
                                                           "raw_pct_error_3d", "raw_pct_error_mip")})


def reevaluate_folds(args: argparse.Namespace) -> None:
    """Measure again with the trained fold models of ``--trained`` (their weights and validation threshold):
    the length settings are chosen anew on each fold's validation columns, the held-out stack is scored."""
    torch.set_num_threads(args.threads)
    stacks = find_vesselnn_stacks(args.data)
    folds = leave_one_out_folds(len(stacks))
    for k in args.folds:
        train_idx, test_idx = folds[k]
        test = stacks[test_idx]
        old = json.loads((args.trained / f"fold_{test.name}.json").read_text())
        recipe = VolumeRecipe(**{key: tuple(map(tuple, v)) if key == "strides" else tuple(v) if isinstance(v, list)
                                 else v for key, v in old["recipe"].items()})
        net = build_unet3d(recipe.channels, recipe.strides)
        load_weights(net, args.trained / f"run_{test.name}" / "weights.pt")
        load0, t0, cpu0 = os.getloadavg(), time.time(), time.process_time()
        train = [stacks[j] for j in train_idx]
        cuts = [split_columns(s.image.shape[2], recipe.validation_fraction) for s in train]
        with torch.no_grad():
            probs = [volume_probability(net, normalise_stack(s.image)[:, :, c:], tile=recipe.tile)
                     for s, c in zip(train, cuts)]
        settings = choose_length_settings(probs, old["threshold"], [s.label[:, :, c:] for s, c in zip(train, cuts)],
                                          [s.spacing for s in train], min_object_voxels=recipe.min_object_voxels)
        row = evaluate_stack(net, test, threshold=old["threshold"], settings=settings, recipe=recipe)
        keep = ("val_dice", "train_stacks", "validation", "best_epoch", "epochs", "steps", "train_minutes",
                "fold_minutes", "process_cpu_minutes", "load_start", "load_end", "threads", "recipe", "architecture",
                "date", "command")
        record = {"fold": k, **row, **{key: old[key] for key in keep},
                  "length_validation_errors": settings["validation_errors"],
                  "remeasured": {"date": f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
                                 "command": " ".join([Path(sys.executable).name] + sys.argv),
                                 "wall_minutes": (time.time() - t0) / 60,
                                 "process_cpu_minutes": (time.process_time() - cpu0) / 60,
                                 "load_start": load0, "load_end": os.getloadavg(),
                                 "weights": str(args.trained / f"run_{test.name}" / "weights.pt")}}
        write_json_atomic(args.out / f"fold_{test.name}.json", record)
        logging.info("fold %d (%s): %s", k, test.name, {key: record[key] for key in
                                                          ("dice_3d", "pct_error_3d", "pct_error_mip",
                                                           "raw_pct_error_3d", "raw_pct_error_mip", "smooth_3d_um",
                                                           "spur_3d_um", "smooth_mip_um", "spur_mip_um")})


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
             "raw mm/mm^3": r["raw_mm_per_mm3"], "raw % error 3-D": r["raw_pct_error_3d"],
             "smooth um (val)": r["smooth_3d_um"], "spur um (val)": r["spur_3d_um"],
             "U-Net mm/mm^3": r["measured_mm_per_mm3"], "% error 3-D": r["pct_error_3d"],
             "manual MIP mm/mm^2": r["manual_mip_mm_per_mm2"], "raw MIP mm/mm^2": r["raw_mip_mm_per_mm2"],
             "raw % error MIP": r["raw_pct_error_mip"], "smooth um MIP (val)": r["smooth_mip_um"],
             "spur um MIP (val)": r["spur_mip_um"], "U-Net MIP mm/mm^2": r["measured_mip_mm_per_mm2"],
             "% error MIP": r["pct_error_mip"]} for r in records]
    keys = ("Dice 3-D", "clDice 3-D", "raw % error 3-D", "% error 3-D", "raw % error MIP", "% error MIP")
    mean = {"method": f"3-D U-Net ({len(rows)} folds)", **{k: float(np.mean([r[k] for r in rows])) for k in keys},
            **{f"median {k}": float(np.median([r[k] for r in rows])) for k in keys[2:]},
            "stacks within 25 % (3-D)": f"{sum(r['% error 3-D'] <= 25 for r in rows)}/{len(rows)}",
            "stacks within 25 % (MIP)": f"{sum(r['% error MIP'] <= 25 for r in rows)}/{len(rows)}"}
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
        *([f"- lengths measured again {records[0]['remeasured']['date']} with the folds' saved weights and "
           f"thresholds (no retraining) by `{records[0]['remeasured']['command']}`: "
           f"{sum(r['remeasured']['wall_minutes'] for r in records):.1f} min wall, "
           f"{sum(r['remeasured']['process_cpu_minutes'] for r in records):.1f} process CPU min, one thread, load "
           f"average {records[0]['remeasured']['load_start'][0]:.1f} at start, "
           f"{records[-1]['remeasured']['load_end'][0]:.1f} at end"] if all("remeasured" in r for r in records) else []),
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
        "and the length settings below",
        "- length: skan skeleton of the 3-D mask with the anisotropic voxel size (mm/mm^3) and of the mask's "
        "maximum projection (mm/mm^2); manual labels through the same code, never altered. 'raw': the thresholded "
        "mask as it is (its cavities become closed skeleton surfaces); '% error': the measurement mask "
        "(`volume.measurement_mask`: probability smoothed by a Gaussian of s um, thresholded, objects < "
        f"{recipe['min_object_voxels']} voxels removed, enclosed cavities filled) with terminal branches shorter "
        "than the spur length (um) pruned; s from 0, 0.5, 1, 2 um and the spur from 0, 5, 10, 20 um chosen per "
        "fold on its validation columns (lowest mean % error), separately for 3-D and the projection",
        "- reduced against the issue: one seed, a few minutes of one-thread training per fold (see the run "
        "table: steps), no hyper-parameter search; the santos2015 stacks' pixel size is assumed (0.621 um)", "",
        "## Mean over the folds, beside the classical baselines", "",
        markdown_table([mean], digits=3), "",
        "Classical baselines (same leave-one-stack-out folds, from `RESULTS-vessels_biosegment-vesselnn.md`, "
        "unpruned; 'filled': cavities filled, no smoothing):", "", *baseline_means(), "",
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
    parser.add_argument("--trained", type=Path, default=None,
                        help="measure again with the fold models of this earlier OUT (no training)")
    parser.add_argument("--results", type=Path,
                        default=HERE.parents[1] / "results" / "RESULTS-vessels_biosegment-vesselnn-unet3d.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.report:
        report(args)
        return
    if args.folds is None:
        args.folds = list(range(7))
    if args.trained is not None:
        reevaluate_folds(args)
        return
    run_folds(args)


if __name__ == "__main__":
    main()
