"""nmosd_ms quality: WMH segmentation on the 3 real MS FLAIRs (smoke test) and Tables 2-3 on a SIMULATED cohort.

    PYTHONPATH=src python benchmarks/quality/nmosd_ms/tables.py [--n 88] [--repeats 15] [--epochs 12]
        [--archs twoview-r18,3d-r18 | all] [--size 100] [--device auto|cpu|cuda] [--max-minutes 50] [--out FOLDER]

The default run (no arguments) fits 60 min on a 2-core CPU: the segmentation table, then as many repeats of the
reduced protocol (ResNet-18 arms, 12 epochs, volumes at 34^3 on a CPU) as fit the 50-min budget. The paper's full
protocol on a GPU (15 repeats, 100^3, ResNet-18 and -34, both arms; 30 epochs, the config's default):
    PYTHONPATH=src python benchmarks/quality/nmosd_ms/tables.py --device cuda --repeats 15 --size 100 --archs all \
        --epochs 30 --max-minutes 0
(``--max-minutes 0``: no budget, every repeat runs).

The CPU runs of the results file (one thread each, through the team queue, reduced protocol):
    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/quality/nmosd_ms/tables.py --skip-segmentation --n 88 --side 34 \
        --epochs 12 --repeats 15 --max-minutes 21 --out benchmarks/results/nmosd_ms_tables_n88
    (the same with --n 264 --out benchmarks/results/nmosd_ms_tables_n264, and with --archs twoview-r34,3d-r34
    --out benchmarks/results/nmosd_ms_tables_r34_n88 for the ResNet-34 arms)

Part 1 (real data, ../shared/data/ms_lesions, CC-BY): the morphology WMH baseline per patient (Dice, lesion-wise
F1, absolute volume difference). Part 2 (SIMULATED, see methods/nmosd_ms/cohort.py for the assumptions): the
5-fold CV repeated up to ``--repeats`` times (the paper: 15): a repeat (every architecture on the same 5 splits) is
started only while the time used plus the last repeat's time fits ``--max-minutes``; the number run is recorded.
Accuracy / sensitivity / specificity mean +/- SD over repeats (Table 2), the paired per-repeat accuracy difference,
parameters and CPU s/epoch (Table 3). ``--side S`` resizes the crop-kernel box to S^3 (crop S-2) instead of the
paper's 100^3 (98) to fit a CPU; the two-view block then has S-2 input channels (parameters change, recorded).
Each fold is scored with its last epoch's weights (nothing is chosen on the held-out fold). Load average printed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from biomedai.methods.nmosd_ms.classify import train_and_predict
from biomedai.methods.nmosd_ms.cohort import load_template, simulate_cohort
from biomedai.methods.nmosd_ms.config import ARCHITECTURES, NmosdMsConfig
from biomedai.methods.nmosd_ms.networks import build_classifier, count_parameters
from biomedai.methods.nmosd_ms.preprocess import classifier_input, normalise_flair
from biomedai.methods.nmosd_ms.protocol import binary_scores, repeated_folds, summarise
from biomedai.methods.nmosd_ms.report import plot_learning_curves, plot_roc

RESULTS = Path(__file__).resolve().parents[2] / "results"
DATA = Path(os.environ.get("BIOMEDAI_SHARED_DATA", Path(__file__).resolve().parents[3] / "../shared/data")) / "ms_lesions"


def segmentation_table(out: Path) -> None:
    from biomedai.methods.nmosd_ms import NmosdMsMethod

    res = NmosdMsMethod().evaluate(DATA, out / "segmentation")
    print("WMH segmentation, 3 real MS FLAIRs (smoke test, not a benchmark): morphology baseline")
    print((out / "segmentation" / "segmentation_scores.csv").read_text())
    print({k: round(v, 3) if isinstance(v, float) else v for k, v in res.metrics.items()})
    for name in ("nmosd_ms_wmh_lopo_sim", "nmosd_ms_wmh_lopo"):  # the learned network: its recorded LOPO run
        recorded = RESULTS / name / "lopo_scores.csv"
        if recorded.is_file():
            print(f"WMH network beside the morphology, leave-one-patient-out, RECORDED run (not rerun here: "
                  f"wmh_network_lopo.py, one 25-min queue job): {recorded}")
            print(recorded.read_text())
            break


def simulated_tables(args: argparse.Namespace, out: Path) -> dict:
    t0 = time.time()
    template = load_template(DATA / "lesion_masks_mni")
    n_nmosd = round(args.n * 41 / 88)
    ids, labels, vols = [], [], []
    for sid, label, flair, lesion in simulate_cohort(template, args.n - n_nmosd, n_nmosd, seed=args.seed):
        ids.append(sid); labels.append(label)
        vols.append(classifier_input(normalise_flair(flair, template.brain), lesion, "flair_masked_by_wmh", args.side))
    volumes, labels_arr = np.stack(vols), np.asarray(labels)
    print(f"simulated {args.n} subjects ({n_nmosd} NMOSD) in {time.time() - t0:.0f} s", flush=True)
    crop = args.side - 2
    runs = {a: {"per_repeat": [], "epoch_s": [], "histories": [], "epochs": []} for a in args.archs}
    budget_s, repeat_s = args.max_minutes * 60, 0.0
    for repeat in range(args.repeats):
        elapsed = time.time() - t0
        if repeat and budget_s > 0 and elapsed + repeat_s > budget_s:
            print(f"stopping after {repeat} repeat(s): {elapsed:.0f} s used, a repeat takes ~{repeat_s:.0f} s",
                  flush=True)
            break
        r0 = time.time()
        splits = list(repeated_folds(ids, labels, folds=5, repeats=1, seed=args.seed + repeat))
        for arch in args.archs:
            cfg = NmosdMsConfig(arch=arch, epochs=args.epochs, seed=args.seed + repeat, resize_side=args.side,
                                crop_side=crop)
            true, pred, prob = [], [], []
            for split in splits:
                r = train_and_predict(volumes, labels_arr, split.train, split.val, cfg, None,
                                      max_minutes=args.fold_max_minutes, device=args.device)
                true += labels_arr[split.val].tolist(); pred += r["pred"].tolist(); prob += [float(p) for p in r["prob"]]
                runs[arch]["epoch_s"].append(r["cpu_s_per_epoch"]); runs[arch]["epochs"].append(r["epochs"])
                runs[arch]["histories"].append([{k: h.get(k) for k in ("epoch", "train_loss", "val_loss")}
                                                for h in r["history"] if h.get("kind", "epoch") == "epoch"])
            runs[arch]["per_repeat"].append(binary_scores(true, pred))
            if repeat == 0:  # the ROC pools the first repeat's out-of-fold probabilities (each subject once)
                runs[arch]["out_of_fold_repeat0"] = {"true": true, "prob": prob}
            print(f"repeat {repeat} {arch}: {runs[arch]['per_repeat'][-1]} (load {os.getloadavg()[0]:.1f})",
                  flush=True)
        repeat_s = time.time() - r0
    results = {}
    for arch, run in runs.items():
        results[arch] = {"table2": summarise(run["per_repeat"]), "per_repeat": run["per_repeat"],
                         "parameters": count_parameters(build_classifier(arch, input_side=crop)),
                         "parameters_at_paper_size": count_parameters(build_classifier(arch)),
                         "cpu_s_per_epoch": float(np.mean(run["epoch_s"])), "epochs_per_fold": run["epochs"],
                         "repeats": len(run["per_repeat"]), "out_of_fold_repeat0": run.get("out_of_fold_repeat0"),
                         "histories": run["histories"]}
        print(arch, json.dumps({k: v for k, v in results[arch].items()
                                if k not in ("histories", "out_of_fold_repeat0")}), flush=True)
    pairs = paired_accuracy_differences(runs, args.archs)
    if pairs:
        results["paired_accuracy_difference"] = pairs[0]  # the first pair (ResNet-18 when run), as before
        results["paired_accuracy_differences"] = pairs
    for pair in pairs:
        print("paired accuracy difference", json.dumps(pair), flush=True)
    results["protocol"] = {"n": args.n, "n_nmosd": n_nmosd, "folds": 5, "repeats": len(runs[args.archs[0]]["per_repeat"]),
                           "epochs": args.epochs, "side": args.side, "crop": crop, "simulated": True,
                           "seed": args.seed, "threads": torch.get_num_threads(), "device": args.device}
    return results


def paired_accuracy_differences(runs: dict, archs: list[str]) -> list[dict]:
    """Per-repeat accuracy of the two-view arm minus the 3-D arm of the same depth (same splits), per depth run;
    with exactly two other architectures, the first minus the second."""
    pairs = [(a, "3d-" + a.split("-", 1)[1]) for a in archs if a.startswith("twoview-") and "3d-" + a.split("-", 1)[1] in archs]
    if not pairs and len(archs) == 2:
        pairs = [(archs[0], archs[1])]
    out = []
    for a, b in pairs:
        diff = [x["accuracy"] - y["accuracy"] for x, y in zip(runs[a]["per_repeat"], runs[b]["per_repeat"])]
        out.append({"pair": f"{a} - {b}", "per_repeat": diff, "mean": float(np.mean(diff)),
                    "sd": float(np.std(diff, ddof=1)) if len(diff) > 1 else 0.0})
    return out


def print_tables(results: dict) -> None:
    """Tables 2 and 3 as text (mean +/- SD over repeats; SIMULATED data)."""
    proto = results["protocol"]
    print(f"\nTable 2 (SIMULATED cohort, n = {proto['n']}, {proto['repeats']} repeat(s) of 5-fold CV, "
          f"{proto['epochs']} epochs, {proto['side']}^3):")
    print(f"{'model':<14} {'accuracy':>15} {'sensitivity':>15} {'specificity':>15}")
    for arch, r in results.items():
        if isinstance(r, dict) and "table2" in r:
            t = r["table2"]
            cells = [f"{t[m][0]:.3f} +/- {t[m][1]:.3f}" if proto["repeats"] > 1 else f"{t[m][0]:.3f} (SD n/a)"
                     for m in ("accuracy", "sensitivity", "specificity")]
            print(f"{arch:<14} {cells[0]:>15} {cells[1]:>15} {cells[2]:>15}")
    print(f"\nTable 3: {'model':<14} {'parameters (here)':>18} {'parameters (paper size)':>24} {'s/epoch':>8}")
    for arch, r in results.items():
        if isinstance(r, dict) and "table2" in r:
            print(f"         {arch:<14} {r['parameters']:>18,} {r['parameters_at_paper_size']:>24,} "
                  f"{r['cpu_s_per_epoch']:>8.1f}")


def write_figures(results: dict, out: Path) -> list[Path]:
    """ROC (pooled out-of-fold P(NMOSD) of repeat 0) and learning curves (every fold) from the recorded results;
    also ``--figures-only`` from a saved ``tables_simulated.json``."""
    label = "SIMULATED cohort"
    oof = {a: r["out_of_fold_repeat0"] for a, r in results.items() if isinstance(r, dict) and r.get("out_of_fold_repeat0")}
    hist = {a: r["histories"] for a, r in results.items() if isinstance(r, dict) and r.get("histories")}
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
    p.add_argument("--repeats", type=int, default=15, help="at most this many repeats (as many as fit the budget)")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--size", "--side", dest="side", type=int, default=None,
                   help="resize side (paper 100; the network sees side-2); default 100 on a GPU, 34 on a CPU")
    p.add_argument("--device", default="auto", help="auto (cuda when available), cpu or cuda")
    p.add_argument("--fold-max-minutes", type=float, default=None, help="wall cap of one fold's training")
    p.add_argument("--threads", type=int, default=int(os.environ.get("TORCH_NUM_THREADS", "2")))
    p.add_argument("--archs", default="twoview-r18,3d-r18", help=f"comma-separated, or 'all' ({','.join(ARCHITECTURES)})")
    p.add_argument("--max-minutes", type=float, default=50.0, help="wall budget of the whole run; 0: none")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-segmentation", action="store_true")
    p.add_argument("--figures-only", action="store_true", help="redraw the PNGs from OUT/tables_simulated.json")
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "results" / "nmosd_ms_run"),
                   help="output folder (default: the results folder beside quality/)")
    args = p.parse_args()
    args.archs = list(ARCHITECTURES) if args.archs == "all" else args.archs.split(",")
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.side is None:
        args.side = 100 if args.device == "cuda" else 34
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    if args.figures_only:
        write_figures(json.loads((out / "tables_simulated.json").read_text()), out)
        return
    t0 = time.time()
    load0 = os.getloadavg()
    print(f"load average at start: {load0}")
    if not args.skip_segmentation:
        segmentation_table(out)
    print(f"SIMULATED cohort n={args.n}, 5-fold CV x up to {args.repeats} repeat(s) (paper: 15), epochs {args.epochs}, "
          f"side {args.side}, {args.device}, {args.threads} thread(s), budget {args.max_minutes} min, "
          f"architectures {args.archs}")
    res = simulated_tables(args, out)
    out.mkdir(parents=True, exist_ok=True)
    res["protocol"].update(wall_s=round(time.time() - t0), load_average_start=load0, load_average_end=os.getloadavg(),
                           date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), command=" ".join(sys.argv))
    (out / "tables_simulated.json").write_text(json.dumps(res, indent=1))
    print_tables(res)
    write_figures(res, out)
    print(f"wall {time.time() - t0:.0f} s; load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
