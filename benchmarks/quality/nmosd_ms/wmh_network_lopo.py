"""nmosd_ms quality: the learned 3-D WMH network, leave-one-patient-out on the 3 real MS FLAIRs, beside the
morphology baseline. A SMOKE TEST on 3 patients, not a benchmark.

    PYTHONPATH=src OMP_NUM_THREADS=1 nice -n 5 python benchmarks/quality/nmosd_ms/wmh_network_lopo.py \
        [--cpu-minutes 5.75] [--steps 1400] [--wall-minutes 24] [--out benchmarks/results/nmosd_ms_wmh_lopo] \
        [--final-out src/biomedai/methods/nmosd_ms/models/wmh_default] [--simulated] [--real-fraction 0.35]

``--final-out`` then trains the bundled model with the same recipe on all 3 FLAIRs (fp16 model folder). Each
training gets ``--cpu-minutes`` of CPU time, or its share of what is left of ``--wall-minutes`` when less.

Data: ``../shared/data/ms_lesions`` (Lesjak et al. 2017, CC-BY; MNI space, 1 mm): the 3 patients with a FLAIR.
Per fold the network trains on the 2 other FLAIRs + consensus masks (recipe ``wmh_net.WmhRecipe``: 1.5 mm,
48^3 patches, 70 % centred on a lesion, AdamW 3e-3 with warm-up + cosine, Dice + focal, 1400 steps of 4 patches or
``--cpu-minutes`` of CPU time); the best checkpoint and the probability threshold are picked on fixed patches of
those same 2 training patients (no independent validation patient exists with 2 training subjects; nothing is
tuned on the test patient).

``--simulated``: the 27 consensus masks WITHOUT a FLAIR are pasted into the fold's training FLAIRs
(``wmh_simulate``: contrast from the training patients' lesions, never the test patient's), giving SIMULATED
training subjects with real MS lesion loads; ``--sim-val`` of them (not trained on) join the validation patches
of the real training patients (checkpoint and threshold); ``--real-fraction`` of the training patches come from
the real training patients, the rest from the simulated ones. Writes ``lopo_scores.csv``, ``lopo.json`` (with each fold's learning
curve) and each fold's model folder ``fold_patientNN/model`` (usable as ``segmenter=network --weights``).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from biomedai.methods.nmosd_ms.outputs import case_name
from biomedai.methods.nmosd_ms.volumes import estimate_brain_mask, read_mask, read_volume
from biomedai.methods.nmosd_ms.wmh import lesion_wise_scores, segment_wmh_morphology
from biomedai.methods.nmosd_ms.wmh_net import (DEFAULT_ARCH, WmhRecipe, prepare_subject, segment_wmh_network,
                                               train_wmh_net)
from biomedai.methods.nmosd_ms.wmh_simulate import lesion_contrast, paste_lesions, place_mask
from biomedai.train.model_folder import ModelInfo, save_model_folder
from biomedai.utils import write_csv_atomic, write_json_atomic

DATA = Path(os.environ.get("BIOMEDAI_SHARED_DATA", Path(__file__).resolve().parents[3] / "../shared/data")) / "ms_lesions"


def scores(truth: np.ndarray, pred: np.ndarray, voxel_ml: float) -> dict[str, float]:
    s = lesion_wise_scores(truth, pred)
    s["abs_volume_diff_ml"] = s.pop("abs_volume_diff_voxels") * voxel_ml
    return s


def load_sim_masks(data: Path, like, exclude: list[str]) -> list[tuple[str, np.ndarray]]:
    """The consensus masks of the patients without a FLAIR here (``exclude``: the FLAIR patients' names)."""
    return [(case_name(p), read_mask(p, like, "lesion mask")) for p in sorted((data / "lesion_masks_mni").glob("*.nii*"))
            if case_name(p) not in exclude]


def simulated_subjects(train_cases: list, masks: list, n_val: int, seed: int) -> tuple[list, list, dict]:
    """SIMULATED subjects: every mask pasted into one of ``train_cases``' FLAIRs (``wmh_simulate``); the first
    ``n_val`` (in a seeded order) are kept for validation. Returns (train, val, a record of what was made)."""
    rng = np.random.default_rng(seed)
    bases = [(c[1].array, c[3], c[2]) for c in train_cases]
    contrast = lesion_contrast(bases)
    train, val, made = [], [], []
    for j in rng.permutation(len(masks)):
        name, mask = masks[j]
        b = int(rng.integers(len(bases)))
        flair, label = paste_lesions(*bases[b], place_mask(mask, rng), contrast, rng)
        subject = prepare_subject(flair, bases[b][1], label, float(DEFAULT_ARCH["factor"]))
        (val if len(val) < n_val else train).append(subject)
        made.append({"mask": name, "base": train_cases[b][0], "use": "val" if len(made) < n_val else "train",
                     "label_ml": round(float(label.sum()) * train_cases[b][1].voxel_volume_ml, 2)})
    return train, val, {"contrast_quantiles_10_50_90": [round(float(contrast.quantiles[q]), 3) for q in (10, 50, 90)],
                        "subjects": made}


def training_sets(args: argparse.Namespace, train_cases: list, masks: list) -> tuple[list, list, list | None, dict]:
    """(train, val, subject_weights, record) of one training: the real cases, plus SIMULATED ones with --simulated."""
    real = [c[4] for c in train_cases]
    if not args.simulated:
        return real, real, None, {}
    sim_train, sim_val, record = simulated_subjects(train_cases, masks, args.sim_val, args.seed)
    weights = [args.real_fraction / len(real)] * len(real) + [(1 - args.real_fraction) / len(sim_train)] * len(sim_train)
    return real + sim_train, real + sim_val, weights, record


def sim_description(args: argparse.Namespace, sim: dict) -> str:
    if not sim:
        return ""
    n_train = sum(r["use"] == "train" for r in sim["subjects"])
    return (f"{n_train} training + {args.sim_val} validation FLAIRs simulated by pasting the consensus masks of the "
            "ms_lesions patients without a FLAIR into the training FLAIRs (wmh_simulate; lesion contrast from the "
            f"training patients); {1 - args.real_fraction:.0%} of the training patches come from them")


def model_info(name: str, fit: dict, train_names: list[str], split: str, metrics: dict[str, float],
               metrics_data: str, simulated_part: str = "") -> ModelInfo:
    arch = dict(fit["arch"], threshold=fit["threshold"])
    return ModelInfo(method="nmosd_ms", name=name, architecture={"wmh_net": arch},
                     preprocessing={"orientation": "RAS+", "normalisation": "z-score in the brain mask",
                                    "resolution": f"FLAIR resampled by 1/{arch['factor']} (trilinear)",
                                    "threshold": fit["threshold"], "recipe": fit["recipe"]},
                     class_names=["background", "lesion"],
                     training_data={"name": "ms_lesions (Lesjak et al. 2017, CC-BY 4.0; MNI space, 1 mm)"
                                            + (f" + SIMULATED: {simulated_part}" if simulated_part else ""),
                                    "licence": "CC-BY", "non_commercial": False,
                                    "simulated": "partly" if simulated_part else False,
                                    "split": split,
                                    "subjects": train_names, "train_cpu_s": round(fit["cpu_s"], 1),
                                    "epochs": fit["epochs"], "best_epoch": fit["best_epoch"],
                                    "val_dice_at_threshold": fit["val_dice_at_threshold"]},
                     metrics=metrics, metrics_data=metrics_data, simulated=bool(simulated_part))


def load_cases(data: Path) -> list:
    cases = []
    for path in sorted((data / "flair_mni").glob("*.nii*")):
        vol = read_volume(path)
        truth = read_mask(data / "lesion_masks_mni" / path.name, vol, "lesion mask")
        brain = estimate_brain_mask(vol.array)
        cases.append((case_name(path), vol, truth, brain,
                      prepare_subject(vol.array, brain, truth, float(DEFAULT_ARCH["factor"]))))
    return cases


def train_final(args: argparse.Namespace, recipe: WmhRecipe, cases: list, masks: list, summary: dict,
                wall_left: float | None) -> None:
    """The bundled model: the LOPO recipe on all 3 FLAIRs, saved in fp16. No test patient is left: the metrics
    it records are the LOPO ones of this run."""
    names = [c[0] for c in cases]
    load0 = os.getloadavg()[0]
    train, val, weights, sim = training_sets(args, cases, masks)
    fit = train_wmh_net(train, val, args.out / "final_run", recipe=recipe, max_cpu_minutes=args.cpu_minutes,
                        max_wall_minutes=wall_left, seed=args.seed, subject_weights=weights)
    metrics = {f"lopo_mean_{m}": v for m, v in summary["network"].items()}
    metrics.update({f"morphology_lopo_mean_{m}": v for m, v in summary["morphology"].items()})
    info = model_info("wmh_default", fit, names, "all 3 FLAIRs of ms_lesions (patients 07, 19, 26)"
                      + (f" + {len(train) - len(cases)} SIMULATED (train) / {len(val) - len(cases)} (validation)" if sim else ""),
                      metrics, "leave-one-patient-out over the same 3 patients with the same recipe (benchmarks/results/"
                      f"nmosd_ms_wmh_lopo{'_sim' if sim else ''}/lopo.json): a smoke test on 3 patients, not a benchmark",
                      sim_description(args, sim))
    save_model_folder(args.out / "final_fp32", fit["model"], info)  # to check that fp16 changes no mask
    save_model_folder(args.final_out, fit["model"], info, half=True)
    record = {k: fit[k] for k in ("epochs", "best_epoch", "threshold", "budget", "val_dice_at_threshold")}
    record.update(simulated=sim, cpu_s=round(fit["cpu_s"], 1), load_average_start_end=[round(load0, 2), round(os.getloadavg()[0], 2)],
                  history=[{h: r.get(h) for h in ("epoch", "train_loss", "val_loss")} for r in fit["history"]
                           if r.get("kind", "epoch") == "epoch"])
    write_json_atomic(args.out / "final_model.json", record)
    print("final model:", args.final_out, {k: record[k] for k in ("epochs", "best_epoch", "cpu_s", "threshold")},
          "load", record["load_average_start_end"], flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--cpu-minutes", type=float, default=5.75, help="CPU-time budget of each training")
    ap.add_argument("--wall-minutes", type=float, default=None, help="wall budget of the whole run (shared machine)")
    ap.add_argument("--steps", type=int, default=WmhRecipe().steps, help="optimiser steps of 4 patches")
    ap.add_argument("--final-out", type=Path, default=None,
                    help="then train on all 3 FLAIRs with the same recipe and save the model folder here")
    ap.add_argument("--final-only", action="store_true",
                    help="skip the LOPO folds: train only the --final-out model (the LOPO means from --out/lopo.json)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--simulated", action="store_true",
                    help="add SIMULATED training FLAIRs: the masks without FLAIR pasted into the training FLAIRs")
    ap.add_argument("--real-fraction", type=float, default=0.35, help="share of training patches from real FLAIRs")
    ap.add_argument("--sim-val", type=int, default=4, help="simulated subjects kept for validation")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/nmosd_ms_wmh_lopo"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    recipe = WmhRecipe(steps=args.steps)
    t0 = time.time()
    cases = load_cases(args.data)
    masks = load_sim_masks(args.data, cases[0][1], [c[0] for c in cases]) if args.simulated else []
    trainings = len(cases) + (args.final_out is not None)
    if args.final_only:
        if args.final_out is None:
            ap.error("--final-only needs --final-out")
        lopo = json.loads((args.out / "lopo.json").read_text())
        train_final(args, recipe, cases, masks, lopo["mean"], args.wall_minutes)
        return 0

    def wall_share(done: int) -> float | None:  # minutes of the wall budget left per remaining training
        if args.wall_minutes is None:
            return None
        return (args.wall_minutes - (time.time() - t0) / 60 - 0.5 * (trainings - done)) / (trainings - done)
    rows, folds = [], []
    load0 = os.getloadavg()[0]
    for k, (name, vol, truth, brain, _) in enumerate(cases):
        train, val, weights, sim = training_sets(args, [c for j, c in enumerate(cases) if j != k], masks)
        fold_dir = args.out / f"fold_{name}"
        fit = train_wmh_net(train, val, fold_dir / "run", recipe=recipe, max_cpu_minutes=args.cpu_minutes,
                            max_wall_minutes=wall_share(k), seed=args.seed, subject_weights=weights)
        del train, val
        start = time.process_time()
        pred_net = segment_wmh_network(fit["model"], vol.array, brain, factor=float(fit["arch"]["factor"]),
                                       patch=int(fit["arch"]["patch"]), threshold=fit["threshold"])
        infer_cpu_s = time.process_time() - start
        pred_morph = segment_wmh_morphology(vol.array, brain)
        train_names = [c[0] for j, c in enumerate(cases) if j != k]
        net_scores = scores(truth, pred_net, vol.voxel_volume_ml)
        info = model_info(f"wmh_lopo_{name}", fit, train_names, f"trained on {','.join(train_names)}; tested on {name}",
                          {f"test_{m}": v for m, v in net_scores.items()}, f"{name} of ms_lesions (1 patient, held out)",
                          sim_description(args, sim))
        save_model_folder(fold_dir / "model", fit["model"], info)
        for seg, pred in (("network", pred_net), ("morphology", pred_morph)):
            rows.append({"case": name, "segmenter": seg,
                         **{m: round(v, 4) for m, v in scores(truth, pred, vol.voxel_volume_ml).items()}})
            print(rows[-1], flush=True)
        folds.append({"test": name, "train": train_names, "simulated": sim, "epochs": fit["epochs"], "best_epoch": fit["best_epoch"],
                      "budget": fit["budget"],
                      "threshold": fit["threshold"], "val_dice_at_threshold": fit["val_dice_at_threshold"],
                      "train_cpu_s": round(fit["cpu_s"], 1), "inference_cpu_s": round(infer_cpu_s, 1),
                      "history": [{h: r.get(h) for h in ("epoch", "train_loss", "val_loss")} for r in fit["history"]
                                  if r.get("kind", "epoch") == "epoch"]})
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(args.out / "lopo_scores.csv", rows)
    summary = {seg: {m: float(np.mean([r[m] for r in rows if r["segmenter"] == seg]))
                     for m in ("dice", "lesion_f1", "abs_volume_diff_ml")} for seg in ("network", "morphology")}
    write_json_atomic(args.out / "lopo.json", {
        "data": str(args.data), "note": "smoke test on 3 real patients, not a benchmark", "mean": summary,
        "folds": folds, "rows": rows, "arch": DEFAULT_ARCH, "recipe": recipe._asdict(),
        "simulated_training": {"on": args.simulated, "real_fraction": args.real_fraction, "sim_val": args.sim_val,
                               "masks": [m[0] for m in masks]},
        "cpu_minutes_budget": args.cpu_minutes,
        "load_average_start_end": [round(load0, 2), round(os.getloadavg()[0], 2)],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "threads": 1})
    print("mean over 3 patients (smoke test):", json.dumps(summary), "load", load0, os.getloadavg()[0], flush=True)
    if args.final_out is not None:
        train_final(args, recipe, cases, masks, summary, wall_share(len(cases)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
