"""tactile_mis quality and latency benchmark on SIMULATED data (every number here is simulated).

For each estimator task: simulate train/val/test/unseen parts (seeded), train with the shared engine
under a wall-clock budget, score the held-out test part and the unseen part, time the network per
image on the CPU; plus the nodule-flag rule (threshold chosen on validation cases, and the review's
0.8 N), and the finite-element vs fast-model check. Writes results.json, tables, scatter plots and
RESULTS.md into --out (default: this folder's results/).

    python benchmarks/quality/tactile_mis/quality.py                       # everything, ~30 CPU-min
    python benchmarks/quality/tactile_mis/quality.py --tasks inverse_features --bundle inverse_features
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from biomedai.methods.tactile_mis.config import TactileConfig
from biomedai.methods.tactile_mis.maps import subtraction_stiffness_map
from biomedai.methods.tactile_mis.mechanics import HalfSpaceModel
from biomedai.methods.tactile_mis.report import truth_vs_estimate_png
from biomedai.methods.tactile_mis.simulate import (SIMULATOR_VERSION, homogeneous_map, probe_from_config,
                                                   tissue_from_config)
from biomedai.methods.tactile_mis.tools import fe_versus_fast
from biomedai.methods.tactile_mis.training import (CLASS_NAMES, PARTS, REGRESSION_TARGETS, TRAIN_RANGES, UNSEEN,
                                                   UNSEEN_RANGES,
                                                   latency_ms, model_inputs, predict_outputs, score, simulate_part,
                                                   train_task)
from biomedai.train import ModelInfo, save_model_folder
from biomedai.utils import write_json_atomic, write_text_atomic

TASKS = ("inverse_features", "inverse_image", "shape", "slip", "hardness")
#: review-cited figures (other groups' systems, spec 3.3), printed beside ours
PAPER = {"shape": "Liu 2012: 4 shapes, 91.07% average accuracy",
         "slip": "Zapata-Impata 2019: 99% seen objects; 82.56/73.54/70.94% new object sets",
         "hardness": "Yuan 2017: range 8-87 Shore 00 (no error figure in the review)",
         "inverse_features": "Lee & Won 2013: ANN from 3 TSIS features (no error figure in the review)",
         "inverse_image": "(no cited system uses the full image)"}


def task_config(task: str, args: argparse.Namespace) -> TactileConfig:
    cfg = TactileConfig(seed=args.seed, task=task, n_train=args.n_train, n_val=args.n_val, n_test=args.n_test,
                        epochs=args.epochs, train_seconds=args.train_seconds, threads=args.threads)
    if task == "slip":   # the paper's 5 x 32 ConvLSTM is too slow for the shared 2-core CPU budget
        cfg = cfg.replace(convlstm_layers=args.slip_layers, convlstm_filters=args.slip_filters)
    if task in ("shape", "inverse_features"):
        cfg = cfg.replace(lr=1e-2)
    return cfg


def run_task(task: str, args: argparse.Namespace, out: Path) -> dict:
    cfg = task_config(task, args)
    start = time.process_time()
    wall = time.perf_counter()
    parts = {part: simulate_part(task, part, cfg) for part in PARTS}
    sim_cpu = time.process_time() - start
    model, arch, pre = train_task(task, parts["train"], parts["val"], cfg, out / "runs" / task)
    train_cpu = time.process_time() - start - sim_cpu
    result: dict = {"task": task, "architecture": arch, "training": pre["training"], "paper": PAPER[task],
                    "simulator": SIMULATOR_VERSION, "seed": cfg.seed, "config": {
                        k: getattr(cfg, k) for k in ("n_train", "n_val", "n_test", "epochs", "train_seconds", "lr",
                                                     "convlstm_layers", "convlstm_filters", "slip_frames")},
                    "cpu_seconds": {"simulate": sim_cpu, "train": train_cpu}}
    for part in ("test", "unseen"):
        inputs = model_inputs(task, parts[part].raw, cfg)
        pred = predict_outputs(task, model, inputs, pre)
        result[part] = score(task, parts[part].target, pred, seed=cfg.seed)
        result[part]["n"] = int(len(pred))
        if part == "unseen":
            result[part]["what"] = UNSEEN[task]
        if task in REGRESSION_TARGETS:
            truth = np.asarray(parts[part].target, float).reshape(len(pred), -1)
            truth_vs_estimate_png(truth, pred, REGRESSION_TARGETS[task], out / f"{task}_{part}_scatter.png",
                                  f"{task}, {part} part (SIMULATED, n={len(pred)})")
            rows = ["case," + ",".join(f"true_{n},est_{n}" for n in REGRESSION_TARGETS[task])]
            rows += [f"{i}," + ",".join(f"{t:.4g},{e:.4g}" for t, e in zip(truth[i], pred[i])) for i in range(len(pred))]
            write_text_atomic(out / f"{task}_{part}_truth_vs_estimate.csv", "\n".join(rows) + "\n")
    result["latency_per_image_cpu"] = latency_ms(task, model, model_inputs(task, parts["test"].raw, cfg))
    result["wall_seconds"] = time.perf_counter() - wall
    save_model(out / "models" / task, task, model, arch, pre, cfg, result, parts)
    if args.bundle == task:
        save_model(PACKAGE_MODEL, task, model, arch, pre, cfg, result, parts)
    return result


PACKAGE_MODEL = Path(__file__).resolve().parents[3] / "src/biomedai/methods/tactile_mis/models/default"


def save_model(folder: Path, task: str, model, arch: dict, pre: dict, cfg: TactileConfig, result: dict,
               parts: dict) -> None:
    """A biomedai model folder (weights.pt + model.json, simulated=True) with the held-out metrics."""
    metrics = {part: result[part] for part in ("test", "unseen")}
    metrics["latency_per_image_cpu"] = result["latency_per_image_cpu"]
    info = ModelInfo("tactile_mis", arch, name="default", preprocessing=pre, class_names=list(CLASS_NAMES.get(task, ())),
                     training_data={"name": f"simulated {task} cases ({SIMULATOR_VERSION})",
                                    "split": {p: int(len(d.target)) for p, d in parts.items()}, "seed": cfg.seed,
                                    "licence": "generated by biomedai (Apache-2.0)", "non_commercial": False},
                     metrics=metrics, metrics_data="simulated held-out test and unseen parts (see MODEL.md)",
                     licence="Apache-2.0", simulated=True,
                     extra={"sensor_shape": list(parts["train"].raw.shape[-2:]),
                            "recipe": f"python benchmarks/quality/tactile_mis/quality.py --tasks {task} --bundle {task}",
                            "dataset": parts["train"].meta()})
    save_model_folder(folder, model, info)


def nodule_flags(args: argparse.Namespace) -> dict:
    """Threshold rule (Xie 2013) on simulated presses with and without an inclusion; threshold chosen on val."""
    cfg = TactileConfig(seed=args.seed)
    probe = probe_from_config(cfg)
    free = homogeneous_map(cfg)

    def cases(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        peaks, labels = [], []
        for k in range(n):
            has = k % 2 == 0
            d = rng.uniform(*TRAIN_RANGES.diameter)
            tissue = dataclasses.replace(tissue_from_config(cfg, has), inclusion_diameter=d if has else 0.0,
                                         inclusion_depth=max(rng.uniform(*TRAIN_RANGES.depth), d / 2 + 0.5),
                                         inclusion_modulus_kpa=rng.uniform(*TRAIN_RANGES.modulus_kpa),
                                         inclusion_xy=tuple(rng.uniform(-6, 6, 2)))
            m = HalfSpaceModel(tissue, probe, cfg.influence_radius_mm).press((0.0, 0.0), cfg.indentation_mm)
            m = np.clip(m + rng.normal(0, cfg.noise_n, m.shape), 0, None)
            peaks.append((m.max(), subtraction_stiffness_map(m, free).max()))
            labels.append(has)
        return np.array(peaks), np.array(labels)

    val, val_y = cases(200, args.seed * 1000 + 1)
    test, test_y = cases(400, args.seed * 1000 + 2)
    out = {"data": "SIMULATED presses: half over an inclusion (d 4-14 mm, h 4-12 mm, E 120-600 kPa, within 6 mm of "
                   "the probe centre), half nodule-free", "n_val": 200, "n_test": 400}

    def rates(values: np.ndarray, labels: np.ndarray, threshold: float) -> dict:
        flagged = values > threshold
        return {"threshold_n": float(threshold), "accuracy": float((flagged == labels).mean()),
                "false_positive_rate": float(flagged[~labels].mean()), "false_negative_rate": float((~flagged[labels]).mean())}

    for k, name in enumerate(("raw force map (max element)", "excess over nodule-free map (max element)")):
        grid = np.unique(val[:, k])
        best = max(grid, key=lambda t: ((val[:, k] > t) == val_y).mean())
        out[name] = {"chosen_on_val": rates(test[:, k], test_y, best)}
        if k == 0:
            out[name]["review_0.8N"] = rates(test[:, k], test_y, cfg.nodule_threshold_n)
            out[name]["review_0.4N"] = rates(test[:, k], test_y, cfg.nodule_free_max_n)
    out["force_range_n"] = {"nodule_free_max_elements": [float(test[~test_y, 0].min()), float(test[~test_y, 0].max())],
                            "with_inclusion_max_elements": [float(test[test_y, 0].min()), float(test[test_y, 0].max())]}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-train", type=int, default=1200)
    parser.add_argument("--n-val", type=int, default=300)
    parser.add_argument("--n-test", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--train-seconds", type=float, default=180.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--slip-layers", type=int, default=2)
    parser.add_argument("--slip-filters", type=int, default=16)
    parser.add_argument("--bundle", choices=TASKS, default=None, help="save this task's model as the bundled default")
    parser.add_argument("--skip-fe", action="store_true")
    parser.add_argument("--skip-nodules", action="store_true")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {"simulated": True, "simulator": SIMULATOR_VERSION, "seed": args.seed,
                     "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "machine": f"{platform.node()} {platform.processor() or platform.machine()}, "
                                f"{os.cpu_count()} CPUs", "load_average_start": os.getloadavg(),
                     "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
                     "inclusion_ranges": {"train": dataclasses.asdict(TRAIN_RANGES),
                                                          "unseen": dataclasses.asdict(UNSEEN_RANGES)}, "tasks": {}}
    for task in args.tasks:
        print(f"== {task}", flush=True)
        results["tasks"][task] = run_task(task, args, out)
        write_json_atomic(out / "results.json", results)
    if not args.skip_nodules:
        print("== nodule flags", flush=True)
        results["nodule_flags"] = nodule_flags(args)
    if not args.skip_fe:
        print("== FE vs fast model", flush=True)
        start = time.process_time()
        results["fe_vs_fast"] = {"rows": fe_versus_fast(TactileConfig(seed=args.seed), 2),
                                 "cpu_seconds": time.process_time() - start}
    results["load_average_end"] = os.getloadavg()
    results["cpu_seconds_total"] = time.process_time()
    write_json_atomic(out / "results.json", results)
    print(json.dumps({t: {p: r[p] for p in ("test", "unseen")} for t, r in results["tasks"].items()}, indent=1,
                     default=str)[:4000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
