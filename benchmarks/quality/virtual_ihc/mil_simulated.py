"""SIMULATED: the MIL tumour/normal classifier trained through ``biomedai train virtual_ihc --set model=mil``,
scored on held-out simulated bags.

There are no tumour/normal labels in our real sets (nuclei H&E tiles, DeepLIIF Ki-67), so the MIL path is
checked where the answer is known: simulated H&E slides (``simulate.simulate_mil_slide``; 2 x 2 bags of 2 x 2
tiles of 64 px; a tumour bag holds 1-2 tumour tiles, whose nuclei are larger and darker, among normal tiles; a
normal bag none). Per seed: training slides written as ``images/*.png`` + ``labels.csv`` and trained with the
package's ``train`` action (top-1 MIL, CE, Adam, every fifth bag of each class for validation), then on
held-out slides: bag ROC AUC of the max-instance probability (95 % bootstrap interval over bags) and the
instance ROC AUC (tumour vs normal tiles, known here, never used in training).

    python benchmarks/quality/virtual_ihc/mil_simulated.py --seeds 0 1 2
    python benchmarks/quality/virtual_ihc/mil_simulated.py --seeds 0 1 2 --difficulty subtle
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from biomedai.methods.virtual_ihc.config import VirtualIHCConfig
from biomedai.methods.virtual_ihc.mil import bag_probabilities
from biomedai.methods.virtual_ihc.mil_data import labelled_bags
from biomedai.methods.virtual_ihc.mil_model import load_mil_classifier
from biomedai.methods.virtual_ihc.pipeline import VirtualIHCMethod
from biomedai.methods.virtual_ihc.simulate import SimulationSettings, write_simulated_mil_folder
from biomedai.metrics import bootstrap_ci, roc_auc

SETTINGS = {"tile_size": 64, "bag_size": 128, "mil_width": 16, "mil_layers": (1, 1, 1, 1), "mil_input_size": 64,
    "mil_lr": 1e-4, "mil_batch_size": 16, "device": "cpu"}


#: "default": the simulator's tumour nuclei (radius 4.5, H 1.1 vs 3.5, 0.8: easy to see); "subtle": closer to normal
DIFFICULTY = {"default": SimulationSettings(), "subtle": SimulationSettings(tumour_radius=3.9, tumour_hematoxylin=0.9)}


def run_seed(seed: int, n_train: int, n_test: int, epochs: int, minutes: float, work: Path,
             settings: SimulationSettings | None = None) -> dict:
    cfg = VirtualIHCConfig(**SETTINGS, seed=seed, mil_epochs=epochs, mil_train_seconds=minutes * 60, model="mil")
    write_simulated_mil_folder(work / f"train{seed}", n_train, 1000 * seed + 1, settings=settings)
    test_slides = write_simulated_mil_folder(work / f"test{seed}", n_test, 1000 * seed + 2, settings=settings)
    t0 = time.process_time()
    run = VirtualIHCMethod(cfg).train(work / f"train{seed}", work / f"run{seed}")
    cpu = time.process_time() - t0
    classifier, size, _ = load_mil_classifier(work / f"run{seed}" / "model")
    bags = labelled_bags(work / f"test{seed}", cfg)
    inst = bag_probabilities(classifier, [b.instances for b in bags], size)
    y = np.array([b.label for b in bags])
    p = np.array([q.max() for q in inst])
    ci = bootstrap_ci(lambda a, b: float(roc_auc(a, b)), y, p, n_resamples=2000, seed=seed)
    slide_of = {f"s{i:03d}.png": s for i, s in enumerate(test_slides)}
    tile_truth = np.concatenate([[slide_of[b.image].tile_tumour[cy // 64, cx // 64] for cx, cy in b.corners]
                                 for b in bags]).astype(int)
    return {"seed": seed, "train_bags": run.metrics["n_train_bags"], "val_bags": run.metrics["n_val_bags"],
            "test_bags": len(bags), "test_tumour_bags": int(y.sum()), "epochs_run": len(run.metrics["history"]),
            "best_epoch": run.metrics["best_epoch"], "train_cpu_s": round(cpu, 1),
            "validation": run.metrics["validation"],
            "bag_auc": [round(ci.estimate, 4), round(ci.low, 4), round(ci.high, 4)],
            "bag_accuracy": round(float(np.mean((p >= 0.5) == (y == 1))), 4),
            "instance_auc": round(float(roc_auc(tile_truth, np.concatenate(inst))), 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--n-train", type=int, default=24, help="training slides (4 bags each)")
    ap.add_argument("--n-test", type=int, default=15, help="held-out slides (4 bags each)")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--minutes", type=float, default=3.0, help="wall budget per seed")
    ap.add_argument("--difficulty", choices=sorted(DIFFICULTY), default="default")
    ap.add_argument("--out", type=Path, default=None, help="default: results_mil_simulated[_subtle].json")
    args = ap.parse_args()
    suffix = "" if args.difficulty == "default" else f"_{args.difficulty}"
    args.out = args.out or Path(__file__).with_name(f"results_mil_simulated{suffix}.json")
    torch.set_num_threads(1)
    load0, t0 = os.getloadavg(), time.time()
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        for seed in args.seeds:
            runs.append(run_seed(seed, args.n_train, args.n_test, args.epochs, args.minutes, Path(tmp),
                                 DIFFICULTY[args.difficulty]))
            print(json.dumps(runs[-1]), flush=True)
    aucs = [r["bag_auc"][0] for r in runs]
    record = {"data": "SIMULATED H&E slides (biomedai.methods.virtual_ihc.simulate.simulate_mil_slide): 2 x 2 bags of "
                      "2 x 2 tiles of 64 px; tumour bags hold 1-2 tumour tiles", "settings": SETTINGS,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "wall_s": round(time.time() - t0, 1),
              "load_average_at_start": load0, "load_average_at_end": os.getloadavg(), "threads": 1,
              "command": "python " + " ".join(sys.argv),
              "difficulty": args.difficulty, "simulation": str(DIFFICULTY[args.difficulty]),
              "summary": {"bag_auc_mean": round(float(np.mean(aucs)), 4), "bag_auc_per_seed": aucs,
                          "instance_auc_per_seed": [r["instance_auc"] for r in runs]}, "runs": runs}
    args.out.write_text(json.dumps(record, indent=1, default=float))
    print(json.dumps(record["summary"], indent=1))


if __name__ == "__main__":
    main()
