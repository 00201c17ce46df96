"""nmosd_ms quality: WMH segmentation on the 3 real MS FLAIRs (smoke test) and Tables 2-3 on a SIMULATED cohort.

    PYTHONPATH=src python benchmarks/quality/nmosd_ms/tables.py [--n 88] [--repeats 1] [--epochs 10]
        [--archs twoview-r18,3d-r18] [--max-minutes 50] [--out FOLDER]

Part 1 (real data, ../shared/data/ms_lesions, CC-BY): the morphology WMH baseline per patient (Dice, lesion-wise
F1, absolute volume difference). Part 2 (SIMULATED, see methods/nmosd_ms/cohort.py for the assumptions): the
5-fold CV repeated ``--repeats`` times (the paper: 15; fewer on CPU, said in the output), accuracy / sensitivity /
specificity mean +/- SD over repeats (Table 2), parameters and CPU s/epoch (Table 3). Load average is printed.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from biomedai.methods.nmosd_ms.classify import train_and_predict
from biomedai.methods.nmosd_ms.cohort import load_template, simulate_cohort
from biomedai.methods.nmosd_ms.config import NmosdMsConfig
from biomedai.methods.nmosd_ms.networks import build_classifier, count_parameters
from biomedai.methods.nmosd_ms.preprocess import classifier_input, normalise_flair
from biomedai.methods.nmosd_ms.protocol import binary_scores, repeated_folds, summarise
from biomedai.methods.nmosd_ms.report import plot_learning_curves, plot_roc

DATA = Path(os.environ.get("BIOMEDAI_SHARED_DATA", Path(__file__).resolve().parents[3] / "../shared/data")) / "ms_lesions"


def segmentation_table(out: Path) -> None:
    from biomedai.methods.nmosd_ms import NmosdMsMethod

    res = NmosdMsMethod().evaluate(DATA, out / "segmentation")
    print("WMH segmentation, 3 real MS FLAIRs (smoke test, not a benchmark): morphology baseline")
    print((out / "segmentation" / "segmentation_scores.csv").read_text())
    print({k: round(v, 3) if isinstance(v, float) else v for k, v in res.metrics.items()})


def simulated_tables(args: argparse.Namespace, out: Path) -> dict:
    template = load_template(DATA / "lesion_masks_mni")
    n_nmosd = round(args.n * 41 / 88)
    ids, labels, vols = [], [], []
    for sid, label, flair, lesion in simulate_cohort(template, args.n - n_nmosd, n_nmosd, seed=args.seed):
        ids.append(sid); labels.append(label)
        vols.append(classifier_input(normalise_flair(flair, template.brain), lesion, "flair_masked_by_wmh"))
    volumes, labels_arr = np.stack(vols), np.asarray(labels)
    results = {}
    budget = args.max_minutes / (len(args.archs) * args.repeats * 5)
    for arch in args.archs:
        cfg = NmosdMsConfig(arch=arch, epochs=args.epochs, seed=args.seed)
        per_repeat, epoch_s, histories = [], [], []
        for repeat in range(args.repeats):
            true, pred, prob = [], [], []
            for split in repeated_folds(ids, labels, folds=5, repeats=1, seed=args.seed + repeat):
                r = train_and_predict(volumes, labels_arr, split.train, split.val, cfg,
                                      out / arch / f"r{repeat}f{split.fold}", max_minutes=budget)
                true += labels_arr[split.val].tolist(); pred += r["pred"].tolist(); epoch_s.append(r["cpu_s_per_epoch"])
                prob += [float(p) for p in r["prob"]]
                histories.append([{k: h.get(k) for k in ("epoch", "train_loss", "val_loss")} for h in r["history"]
                                  if h.get("kind", "epoch") == "epoch"])
            per_repeat.append(binary_scores(true, pred))
            if repeat == 0:  # the ROC pools the first repeat's out-of-fold probabilities (each subject once)
                oof = {"true": true, "prob": prob}
        results[arch] = {"table2": summarise(per_repeat), "parameters": count_parameters(build_classifier(arch)),
                         "cpu_s_per_epoch": float(np.mean(epoch_s)), "repeats": args.repeats,
                         "out_of_fold_repeat0": oof, "histories": histories}
        print(arch, json.dumps(results[arch]), flush=True)
    return results


def write_figures(results: dict, out: Path) -> list[Path]:
    """ROC (pooled out-of-fold P(NMOSD) of repeat 0) and learning curves (every fold) from the recorded results;
    also ``--figures-only`` from a saved ``tables_simulated.json``."""
    label = "SIMULATED cohort"
    oof = {a: r["out_of_fold_repeat0"] for a, r in results.items() if "out_of_fold_repeat0" in r}
    hist = {a: r["histories"] for a, r in results.items() if "histories" in r}
    paths = []
    if oof:
        paths.append(plot_roc(oof, out / "roc_simulated.png", label))
    if hist:
        paths.append(plot_learning_curves(hist, out / "learning_curves_simulated.png", label))
    for p in paths:
        print("figure:", p)
    return paths


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=88)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--archs", default="twoview-r18,3d-r18")
    p.add_argument("--max-minutes", type=float, default=50.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-segmentation", action="store_true")
    p.add_argument("--figures-only", action="store_true", help="redraw the PNGs from OUT/tables_simulated.json")
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "results" / "nmosd_ms_run"),
                   help="output folder (default: the results folder beside quality/)")
    args = p.parse_args()
    args.archs = args.archs.split(",")
    torch.set_num_threads(2)
    out = Path(args.out)
    if args.figures_only:
        write_figures(json.loads((out / "tables_simulated.json").read_text()), out)
        return
    t0 = time.time()
    print(f"load average at start: {os.getloadavg()}")
    if not args.skip_segmentation:
        segmentation_table(out)
    print(f"SIMULATED cohort n={args.n}, 5-fold CV x {args.repeats} repeat(s) (paper: 15), epochs {args.epochs}")
    res = simulated_tables(args, out)
    (out / "tables_simulated.json").write_text(json.dumps(res, indent=1))
    write_figures(res, out)
    print(f"wall {time.time() - t0:.0f} s; load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
