"""SIMULATED: does the MIL condition bring the synthetic Ki-67 positive ratio closer to the real one?

The paper's claim (Xu et al. 2.7, eval ratios real 0.3046 vs synthetic 0.2771; Fig. 11 ablation, visual only)
tested where the answer is known: paired H&E / IHC tiles simulated from one nucleus layout
(``biomedai.methods.virtual_ihc.simulate``), tumour tiles with 60 % Ki-67-positive nuclei, normal tiles 10 %,
positivity invisible on H&E. Per seed: a conditional CycleGAN (label plane; condition = the tile's region
label, i.e. what a perfect MIL classifier gives) and the plain CycleGAN are trained on UNPAIRED tiles (H&E
and IHC from different layouts) with the same steps; then the held-out H&E tiles are translated and the
positive ratio of the synthetic IHC is counted with the Ki-67 method's quantifier and compared with the
known ratio of the paired real (simulated) IHC.

Run (about 3-4 min per model on one thread):
    python benchmarks/quality/virtual_ihc/simulated_condition.py --seeds 0 1 2 --steps 300
    python benchmarks/quality/virtual_ihc/simulated_condition.py --merge A.json B.json   # pool seeds run apart
    python benchmarks/quality/virtual_ihc/simulated_condition.py --labels mil   # condition from trained MIL classifiers

``--labels mil`` runs the paper's pipeline instead of the oracle: per seed, two top-1 MIL classifiers are trained
with the package's ``model=mil`` train action on SIMULATED slides (one on H&E bags, one on IHC bags, bag labels
only), and every tile's condition is its domain classifier's hard label (P(tumour) >= 0.5); the test tiles get
the H&E classifier's label, as at ``predict``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from biomedai.methods.virtual_ihc.config import VirtualIHCConfig
from biomedai.methods.virtual_ihc.cyclegan import CycleGAN, to_tensor, to_uint8
from biomedai.methods.virtual_ihc.mil import tumour_probability
from biomedai.methods.virtual_ihc.mil_model import load_mil_classifier
from biomedai.methods.virtual_ihc.quantify import pooled_ratio, positive_ratio
from biomedai.methods.virtual_ihc.recipes import train_mil_folder
from biomedai.methods.virtual_ihc.simulate import simulate_set, write_simulated_mil_folder
from biomedai.methods.virtual_ihc.training import train_cyclegan

NUCLEUS_PX = 8.0
#: the MIL classifiers of ``--labels mil`` (as in mil_simulated.py; 20 epochs)
MIL_SETTINGS = {"tile_size": 64, "bag_size": 128, "mil_width": 16, "mil_layers": (1, 1, 1, 1), "mil_input_size": 64,
                "mil_lr": 1e-4, "mil_batch_size": 16, "mil_epochs": 20, "device": "cpu"}


def tiles(pairs: list, kind: str) -> np.ndarray:
    return np.stack([getattr(p, kind) for p in pairs])


def oracle_labels(pairs: list, kind: str) -> np.ndarray:
    return np.array([float(p.tumour) for p in pairs], np.float32)


def mil_labeller(seed: int, work: Path) -> tuple[Callable[[list, str], np.ndarray], dict]:
    """Hard labels from two MIL classifiers trained (``recipes.train_mil_folder``) on SIMULATED H&E / IHC slides."""
    classifiers, info = {}, {}
    for stain, offset in (("he", 11), ("ihc", 12)):
        cfg = VirtualIHCConfig(**MIL_SETTINGS, seed=seed, model="mil",
                               **({"bag_min_tissue": 0.0, "instance_min_tissue": 0.0} if stain == "ihc" else {}))
        write_simulated_mil_folder(work / f"{stain}{seed}", 24, 1000 * seed + offset, stain)
        t0 = time.process_time()
        folder, metrics = train_mil_folder(work / f"{stain}{seed}", cfg, work / f"run_{stain}{seed}", progress=False)
        classifiers[stain] = load_mil_classifier(folder)[:2]
        info[stain] = {"train_cpu_s": round(time.process_time() - t0, 1), "validation": metrics["validation"]}

    def label(pairs: list, kind: str) -> np.ndarray:
        net, size = classifiers[kind]
        return (tumour_probability(net, tiles(pairs, kind), size) >= 0.5).astype(np.float32)

    return label, info


def run_seed(seed: int, steps: int, n_train: int, n_test: int, condition: str,
             labeller: Callable[[list, str], np.ndarray] = oracle_labels) -> dict:
    he_set = simulate_set(n_train, 1000 * seed + 1)
    ihc_set = simulate_set(n_train, 1000 * seed + 2)
    val = simulate_set(16, 1000 * seed + 3)
    test = simulate_set(n_test, 1000 * seed + 4)
    c_he, c_ihc = labeller(he_set, "he"), labeller(ihc_set, "ihc")
    c_val_he, c_val_ihc, c_test = labeller(val, "he"), labeller(val, "ihc"), labeller(test, "he")
    epochs = 10
    cfg = VirtualIHCConfig(seed=seed, tile_size=64, gen_width=16, gen_res_blocks=2, disc_width=16,
                           condition=condition, gan_loss="lsgan", lr=2e-4, epochs=epochs, decay_epochs=epochs // 2,
                           batch_size=4, steps_per_epoch=max(steps // epochs, 1), pool_size=50)
    torch.manual_seed(seed)
    model = CycleGAN(cfg)
    t0 = time.process_time()
    result = train_cyclegan(model, tiles(he_set, "he"), tiles(ihc_set, "ihc"), c_he, c_ihc,
                            tiles(val, "he"), tiles(val, "ihc"), c_val_he, c_val_ihc)
    cpu_s = time.process_time() - t0
    model.eval()
    with torch.no_grad():
        fake = np.concatenate([to_uint8(model.translate(to_tensor(tiles(test[i:i + 16], "he")),
                                                        torch.as_tensor(c_test[i:i + 16])))
                               for i in range(0, len(test), 16)])
    rows = []
    for pair, synth in zip(test, fake):
        real_q, synth_q = positive_ratio(pair.ihc, NUCLEUS_PX), positive_ratio(synth, NUCLEUS_PX)
        rows.append({"tumour": pair.tumour, "true_cells": pair.n_cells, "true_positive": pair.n_positive,
                     "real_n_cells": real_q["n_cells"], "real_n_positive": real_q["n_positive"],
                     "n_cells": synth_q["n_cells"], "n_positive": synth_q["n_positive"]})
    truth = oracle_labels(test, "he")
    out = {"seed": seed, "condition": condition, "steps": result.steps, "best_epoch": result.best_epoch,
           "train_cpu_s": round(cpu_s, 1), "test_condition_accuracy": round(float(np.mean(c_test == truth)), 4),
           "train_condition_accuracy": {"he": round(float(np.mean(c_he == oracle_labels(he_set, "he"))), 4),
                                        "ihc": round(float(np.mean(c_ihc == oracle_labels(ihc_set, "ihc"))), 4)}}
    for region, keep in (("all", lambda r: True), ("tumour", lambda r: r["tumour"]),
                         ("normal", lambda r: not r["tumour"])):
        sel = [r for r in rows if keep(r)]
        true = sum(r["true_positive"] for r in sel) / sum(r["true_cells"] for r in sel)
        real_q = pooled_ratio([{"n_cells": r["real_n_cells"], "n_positive": r["real_n_positive"]} for r in sel])
        synth = pooled_ratio(sel)
        out[region] = {"true_ratio": round(true, 4), "real_ihc_quantified": round(real_q or 0, 4),
                       "synthetic": None if synth is None else round(synth, 4),
                       "abs_error": None if synth is None else round(abs(synth - true), 4),
                       "synthetic_cells": sum(r["n_cells"] for r in sel), "true_cells": sum(r["true_cells"] for r in sel)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--n-train", type=int, default=240)
    ap.add_argument("--n-test", type=int, default=100)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("results_simulated_condition.json"))
    ap.add_argument("--merge", type=Path, nargs="+", default=None, help="pool the runs of these result files")
    ap.add_argument("--labels", choices=("oracle", "mil"), default="oracle",
                    help="condition: the true region (oracle) or trained MIL classifiers' hard labels (mil)")
    args = ap.parse_args()
    if args.merge:
        records = [json.loads(p.read_text()) for p in args.merge]
        merged = {"data": records[0]["data"],
                  "merged_from": [{"file": p.name, "command": r["command"], "date": r["date"],
                                   "machine": r.get("machine"), "load_average_at_end": r.get("load_average_at_end")}
                                  for p, r in zip(args.merge, records)],
                  "summary": summarise([run for r in records for run in r["runs"]]),
                  "runs": [run for r in records for run in r["runs"]]}
        for key in ("condition", "models", "counting"):
            if key in records[0]:
                merged[key] = records[0][key]
        args.out.write_text(json.dumps(merged, indent=1))
        print(json.dumps(merged["summary"], indent=1))
        return
    torch.set_num_threads(1)
    runs, mil_info = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            labeller = oracle_labels
            if args.labels == "mil":
                labeller, mil_info[seed] = mil_labeller(seed, Path(tmp))
                print(json.dumps({"seed": seed, "mil": mil_info[seed]}), flush=True)
            for condition in ("plane", "none"):
                runs.append(run_seed(seed, args.steps, args.n_train, args.n_test, condition, labeller))
                print(json.dumps(runs[-1]), flush=True)
    record = {"data": "SIMULATED paired H&E/IHC tiles (biomedai.methods.virtual_ihc.simulate; tumour 60 % / normal "
                      "10 % positive); training unpaired", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": platform.machine() + " " + platform.processor(), "threads": 1,
              "load_average_at_end": os.getloadavg(), "command": "python " + " ".join(os.sys.argv),
              "labels": args.labels if args.labels == "mil" else "oracle (the tile's true region)",
              "mil_classifiers": mil_info, "summary": summarise(runs), "runs": runs}
    args.out.write_text(json.dumps(record, indent=1))
    print(json.dumps(record["summary"], indent=1))


def summarise(runs: list[dict]) -> dict:
    """Absolute ratio error per condition and region over seeds (mean, sd, per seed) and the paired
    per-seed difference conditional - plain (negative: the condition helps)."""
    summary: dict[str, dict] = {}
    for condition in ("plane", "none"):
        for region in ("all", "tumour", "normal"):
            sel = sorted((r for r in runs if r["condition"] == condition and r[region]["abs_error"] is not None),
                         key=lambda r: r["seed"])
            errs = [r[region]["abs_error"] for r in sel]
            summary[f"{condition}/{region}"] = {
                "mean_abs_error": round(float(np.mean(errs)), 4) if errs else None,
                "sd": round(float(np.std(errs, ddof=1)), 4) if len(errs) > 1 else None,
                "per_seed": errs, "synthetic_ratio_per_seed": [r[region]["synthetic"] for r in sel],
                "true_ratio_per_seed": [r[region]["true_ratio"] for r in sel], "seeds": [r["seed"] for r in sel],
                "n_seeds": len(errs)}
    by_seed = {(r["seed"], r["condition"]): r for r in runs}
    seeds = sorted({s for s, c in by_seed if (s, "plane") in by_seed and (s, "none") in by_seed})
    for region in ("all", "tumour", "normal"):
        diff = [by_seed[(s, "plane")][region]["abs_error"] - by_seed[(s, "none")][region]["abs_error"] for s in seeds]
        summary[f"paired_difference(conditional - plain)/{region}"] = {
            "per_seed": [round(d, 4) for d in diff], "mean": round(float(np.mean(diff)), 4) if diff else None,
            "conditional_better_in": f"{sum(d < 0 for d in diff)} of {len(diff)} seeds"}
    return summary


if __name__ == "__main__":
    main()
