"""Do the inclusion estimators trained on the fast (Boussinesq) model hold on finite-element presses?
SIMULATED data only: FE presses (scikit-fem, 2 elements per taxel) of random inclusions from the training
ranges, with the same sensor noise, fed to the bundled image CNN (and to the TSIS-feature MLP of a
quality.py run when its model folder is there), as they are and after swapping the FE nodule-free press for
the fast model's (a baseline correction from one nodule-free press of the system). Writes fe_transfer.json next to this script's results/.

    PYTHONPATH=src python benchmarks/quality/tactile_mis/fe_transfer.py [n_cases]     # default 12, ~5 CPU-min
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np

from biomedai.methods.tactile_mis.config import TactileConfig
from biomedai.methods.tactile_mis.mechanics import HalfSpaceModel, fe_indentation
from biomedai.methods.tactile_mis.model import build_model
from biomedai.methods.tactile_mis.simulate import probe_from_config, tissue_from_config
from biomedai.methods.tactile_mis.training import REGRESSION_TARGETS, TRAIN_RANGES, model_inputs, predict_outputs
from biomedai.train import load_model_folder, read_model_info
from biomedai.train.model_folder import default_model_folder
from biomedai.utils import write_json_atomic

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_cases", nargs="?", type=int, default=12)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    cfg = TactileConfig()
    probe = probe_from_config(cfg)
    rng = np.random.default_rng(args.seed)
    truth, fe_maps, fast_maps = [], [], []
    start, load = time.process_time(), os.getloadavg()[0]
    for _ in range(args.n_cases):
        d = rng.uniform(*TRAIN_RANGES.diameter)
        h = max(rng.uniform(*TRAIN_RANGES.depth), d / 2 + 0.5)
        e = rng.uniform(*TRAIN_RANGES.modulus_kpa)
        tissue = dataclasses.replace(tissue_from_config(cfg), inclusion_diameter=d, inclusion_depth=h,
                                     inclusion_modulus_kpa=e)
        fe, _ = fe_indentation(tissue, probe, cfg.indentation_mm, 2)
        fast = HalfSpaceModel(tissue, probe, cfg.influence_radius_mm).press((0.0, 0.0), cfg.indentation_mm)
        noise = rng.normal(0, cfg.noise_n, fe.shape)
        fe_maps.append(np.clip(fe + noise, 0, None))
        fast_maps.append(np.clip(fast + noise, 0, None))
        truth.append((d, h, e))
        print(f"d {d:5.2f} mm  h {h:5.2f} mm  E {e:5.0f} kPa  FE total {fe.sum():.3f} N  fast {fast.sum():.3f} N",
              flush=True)
    truth = np.array(truth)
    # the nodule-free press of each model: subtracting the system's own baseline and adding the fast model's
    # is what a user does with a nodule-free test of their own probe (Xie's subtraction protocol)
    fe_free, _ = fe_indentation(tissue_from_config(cfg, with_inclusion=False), probe, cfg.indentation_mm, 2)
    fast_free = HalfSpaceModel(tissue_from_config(cfg, with_inclusion=False), probe,
                               cfg.influence_radius_mm).press((0.0, 0.0), cfg.indentation_mm)
    corrected = [np.clip(m - fe_free + fast_free, 0, None) for m in fe_maps]
    result = {"simulated": True, "n_cases": args.n_cases, "seed": args.seed, "load_average_start": load,
              "fe_cpu_seconds": time.process_time() - start, "models": {}}
    folders = {"inverse_image (bundled)": default_model_folder("tactile_mis"),
               "inverse_features (quality.py run)": HERE / "results" / "models" / "inverse_features"}
    for name, folder in folders.items():
        if folder is None or not (Path(folder) / "model.json").is_file():
            continue
        info = read_model_info(folder)
        task = info.architecture["task"]
        model = build_model(task, info.architecture)
        load_model_folder(folder, model)
        model.eval()
        row = {}
        for source, maps in (("fe", fe_maps), ("fe_minus_its_nodule_free_press", corrected), ("fast", fast_maps)):
            pred = predict_outputs(task, model, model_inputs(task, np.stack(maps).astype(np.float32), cfg),
                                   info.preprocessing)
            row[source] = {target: float(np.mean(np.abs(pred[:, k] - truth[:, k])))
                           for k, target in enumerate(REGRESSION_TARGETS[task])}
        row["constant_guess"] = {target: float(np.mean(np.abs(truth[:, k] - truth[:, k].mean())))
                                 for k, target in enumerate(REGRESSION_TARGETS[task])}
        result["models"][name] = row
    write_json_atomic(HERE / "results" / "fe_transfer.json", result)
    print(json.dumps(result["models"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
