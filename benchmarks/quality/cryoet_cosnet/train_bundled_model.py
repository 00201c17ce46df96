"""Recipe of the bundled COS-Net model (SIMULATED training data): train, score against template matching, save.

Trains DuSE-SCNN with decoder (width 16, input binned 2x inside the network, 256-d embedding) on a
precomputed bank of subtomograms simulated from the 16 training structures at a mix of SNRs
(projection-band definition, realistic boxes: neighbours, membranes, fiducials, dose weighting), with a
cosine learning rate over ``--minutes`` of wall-clock (or ``--cpu-minutes`` of CPU) training on ONE thread; the checkpoint with the
best 8-way accuracy on held-out (validation) subtomograms of the training structures is kept. It is then
scored on the 10 unseen structures at several SNRs on the same episodes as missing-wedge-aware template
matching, and the model folder (weights.pt in float16 + model.json) and metrics.json are written.

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/quality/cryoet_cosnet/train_bundled_model.py \
        --out src/biomedai/methods/cryoet_cosnet/models/default --work runs/cryoet_bundled --minutes 28
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sim_sets import REALISTIC, TRAIN_SEED, VAL_SEED, mixed_snr_set, parse_snrs, test_set  # noqa: E402


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--templates", default=str(ROOT.parent / "shared" / "data" / "cryoet" / "templates_10A"))
    ap.add_argument("--out", default=str(ROOT / "src/biomedai/methods/cryoet_cosnet/models/default"))
    ap.add_argument("--work", default="runs/cryoet_bundled", help="trainer checkpoints and metrics.jsonl")
    ap.add_argument("--minutes", type=float, default=28.0, help="wall-clock training budget")
    ap.add_argument("--cpu-minutes", type=float, default=None,
                    help="CPU-time training budget (whichever budget runs out first ends training)")
    ap.add_argument("--train-snrs", default="inf,0.5,0.1,0.03")
    ap.add_argument("--eval-snrs", default="inf,0.5,0.1,0.01")
    ap.add_argument("--n-per-class", type=int, default=60, help="training subtomograms per class and SNR")
    ap.add_argument("--val-per-class", type=int, default=12, help="validation subtomograms per class and SNR")
    ap.add_argument("--test-per-class", type=int, default=24)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--embedding-dim", type=int, default=256)
    ap.add_argument("--binning", type=int, default=2)
    ap.add_argument("--episodes-per-step", type=int, default=4)
    ap.add_argument("--validate-every", type=int, default=50, help="optimiser steps")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--eval-episodes", type=int, default=500)
    ap.add_argument("--rotations", type=int, default=30, help="template matching rotations")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args()


def ci(summary: dict) -> dict:
    return {"mean": round(summary["mean"], 3), "ci95": [round(summary["ci_low"], 3), round(summary["ci_high"], 3)]}


def main() -> int:
    args = parse_args()
    import numpy as np
    import torch

    from biomedai.data import cryoet_sim as sim
    from biomedai.methods.cryoet_cosnet.config import TEST_CLASSES, TRAIN_CLASSES, CosNetConfig
    from biomedai.methods.cryoet_cosnet.core import (ARCH_KEYS, evaluate_model, plan_episodes, scores_table,
                                                     train_cosnet)
    from biomedai.methods.cryoet_cosnet.matching import constrained_correlation_scores
    from biomedai.train.model_folder import ModelInfo, save_model_folder

    torch.set_num_threads(args.threads)
    t_all, cpu_all, load_start = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    templates = sim.load_structures(sorted(Path(args.templates).glob("*.mrc")))
    settings = sim.SimulationSettings(**REALISTIC)
    train_tpl = {k: templates[k] for k in TRAIN_CLASSES}
    snrs = parse_snrs(args.train_snrs)
    t0 = time.perf_counter()
    train = mixed_snr_set(train_tpl, snrs, args.n_per_class, settings, TRAIN_SEED + args.seed)
    val = mixed_snr_set(train_tpl, snrs, args.val_per_class, settings, VAL_SEED + args.seed)
    print(f"simulated {len(train.labels)} training + {len(val.labels)} validation subtomograms in "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    cfg = CosNetConfig(width=args.width, embedding_dim=args.embedding_dim, input_binning=args.binning,
                       episodes_per_step=args.episodes_per_step, steps=1_000_000, steps_per_epoch=args.validate_every,
                       train_seconds=60 * args.minutes, lr=args.lr, lr_schedule="cosine", augment=True,
                       train_cpu_seconds=60 * args.cpu_minutes if args.cpu_minutes else None, device="cpu", amp=False, seed=args.seed, eval_episodes=args.eval_episodes, eval_ways=(2, 4, 6, 8),
                       dice_targets_per_class=args.test_per_class)
    cpu0 = time.process_time()
    model, info = train_cosnet(cfg, train, Path(args.work), val_data=val)
    train_cpu_s = time.process_time() - cpu0
    print(f"trained {info['steps']} steps in {info['train_seconds'] / 60:.1f} min (CPU {train_cpu_s / 60:.1f} min); "
          f"best val_acc {info['best_metric']:.3f} at epoch {info['best_epoch']}", flush=True)
    model = model.half().float().eval()   # score exactly the weights that ship (stored as float16)
    del train
    metrics: dict = {}
    rows = []
    test_tpl = {k: templates[k] for k in TEST_CLASSES}
    band, tilt = settings.band, (settings.tilt_min, settings.tilt_max)
    for snr_text in parse_snrs(args.eval_snrs):
        test = test_set(test_tpl, snr_text, args.test_per_class, settings)
        plan = plan_episodes(test.labels, cfg.eval_ways, cfg.eval_episodes, cfg.support_pool, args.seed)
        t0 = time.perf_counter()
        ours = evaluate_model(model, test, cfg, plan)
        ours_ms = 1e3 * (time.perf_counter() - t0) / len(test.labels)
        t0 = time.perf_counter()
        tm = scores_table(lambda s, t: constrained_correlation_scores(s, t, args.rotations, tilt, band, args.seed),
                          test, plan, cfg.eval_ways, args.seed)
        tm_ms = 1e3 * (time.perf_counter() - t0) / len(plan.target_idx)
        entry = {"cosnet": {f"{n}way": ci(ours["accuracy"][f"{n}way"]) for n in cfg.eval_ways},
                 "wedge_aware_template_matching": {f"{n}way": ci(tm[f"{n}way"]) for n in cfg.eval_ways},
                 "cosnet_dice_crf": {"mean": round(ours["dice_mean_crf"], 3),
                                     "ci95": [round(v, 3) for v in ours["dice_crf_ci95"]], "targets": ours["dice_targets"]},
                 "cosnet_dice_raw": round(ours["dice_mean_raw"], 3),
                 "cosnet_ms_per_subtomogram_incl_crf": round(ours_ms, 1),
                 "template_matching_ms_per_subtomogram": round(tm_ms, 1),
                 "effective_snr_mean": float(np.mean(test.effective_snr))}
        metrics[f"snr_{snr_text}"] = entry
        rows.append(f"| {snr_text} | " + " | ".join(
            f"{entry['cosnet'][f'{n}way']['mean']:.3f} [{entry['cosnet'][f'{n}way']['ci95'][0]:.2f}, "
            f"{entry['cosnet'][f'{n}way']['ci95'][1]:.2f}] / {entry['wedge_aware_template_matching'][f'{n}way']['mean']:.3f}"
            for n in (2, 8)) + f" | {entry['cosnet_dice_crf']['mean']:.2f} [{entry['cosnet_dice_crf']['ci95'][0]:.2f}, "
            f"{entry['cosnet_dice_crf']['ci95'][1]:.2f}] |")
        print(rows[-1], flush=True)
    arch = {k: getattr(cfg, k) for k in ARCH_KEYS}
    extra = {"train_steps": info["steps"], "train_wall_minutes": round(info["train_seconds"] / 60, 1),
             "train_cpu_minutes": round(train_cpu_s / 60, 1), "best_validation_8way_accuracy": info["best_metric"],
             "best_epoch": info["best_epoch"], "validate_every_steps": args.validate_every,
             "recipe_wall_minutes": round((time.perf_counter() - t_all) / 60, 1),
             "recipe_cpu_minutes": round((time.process_time() - cpu_all) / 60, 1),
             "load_average_at_start": round(load_start, 1), "load_average_at_end": round(os.getloadavg()[0], 1),
             "machine": f"{platform.machine()} CPU, {args.threads} torch thread(s)",
             "recipe": "benchmarks/quality/cryoet_cosnet/train_bundled_model.py", "args": vars(args),
             "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
             "training": {k: getattr(cfg, k) for k in ("train_ways", "episodes_per_step", "lr", "lr_schedule",
                                                        "weight_decay", "augment")}}
    info_json = ModelInfo(
        method="cryoet_cosnet", architecture=arch,
        preprocessing={"box": 32, "voxel_size_a": 10.0, "normalisation": "z-score per subtomogram",
                       "tilt_range_deg": [settings.tilt_min, settings.tilt_max], "tilt_axis": "y"},
        training_data={"name": "subtomograms SIMULATED from 16 PolNet structures (10 A/voxel), biomedai.data.cryoet_sim",
                       "licence": "Apache-2.0 (PolNet density maps)", "non_commercial": False,
                       "split": "16 training structures (validation: other simulated subtomograms of the same 16); "
                                "test: 10 unseen structures (config.TEST_CLASSES)",
                       "classes": list(TRAIN_CLASSES), "snrs": snrs, "snr_definition": settings.snr_definition,
                       "simulator_settings": settings.to_dict(), "n_per_class_per_snr": args.n_per_class},
        metrics=metrics, simulated=True, licence="Apache-2.0",
        metrics_data=(f"SIMULATED test subtomograms of the 10 unseen structures, realistic boxes, {args.test_per_class} per "
                      f"class and SNR (projection_band definition), {args.eval_episodes} episodes per n-way, the same "
                      f"for COS-Net and wedge-aware template matching ({args.rotations} rotations); 95% bootstrap CIs"),
        extra=extra)
    folder = save_model_folder(args.out, model, info_json, half=True)
    report = {"folder": str(folder), **extra, "metrics": metrics,
              "table": ["| SNR | 2-way COS-Net [CI] / matching | 8-way COS-Net [CI] / matching | Dice (CRF) [CI] |",
                        "|---|---|---|---|", *rows]}
    Path(args.work).mkdir(parents=True, exist_ok=True)
    (Path(args.work) / "recipe_result.json").write_text(json.dumps(report, indent=1, default=float))
    print(json.dumps(report, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
