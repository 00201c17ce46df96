"""nmosd_ms quality: the learned 3-D WMH network, leave-one-patient-out on the 3 real MS FLAIRs, beside the
morphology baseline. A SMOKE TEST on 3 patients, not a benchmark.

    PYTHONPATH=src /work/wt/cpuslot python benchmarks/quality/nmosd_ms/wmh_network_lopo.py \
        [--max-minutes 4] [--epochs 60] [--out benchmarks/results/nmosd_ms_wmh_lopo]

Data: ``../shared/data/ms_lesions`` (Lesjak et al. 2017, CC-BY; MNI space, 1 mm): the 3 patients with a FLAIR.
Per fold the network trains on the 2 other FLAIRs + consensus masks; the best checkpoint is picked on fixed
patches of those same 2 training patients (no independent validation patient exists with 2 training subjects;
no hyper-parameter was tuned on the test patient). The 27 masks without FLAIR are NOT used: the cohort simulator's
FLAIR contrast (tissue priors, lesion 1.8 x WM) is not the real scanner's, and 2 real subjects vs 27 synthetic
ones would train mostly on the simulator. Writes ``lopo_scores.csv``, ``lopo.json`` (with each fold's learning
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
from biomedai.methods.nmosd_ms.wmh_net import prepare_subject, segment_wmh_network, train_wmh_net, DEFAULT_ARCH
from biomedai.train.model_folder import ModelInfo, save_model_folder
from biomedai.utils import write_csv_atomic, write_json_atomic

DATA = Path(os.environ.get("BIOMEDAI_SHARED_DATA", Path(__file__).resolve().parents[3] / "../shared/data")) / "ms_lesions"


def scores(truth: np.ndarray, pred: np.ndarray, voxel_ml: float) -> dict[str, float]:
    s = lesion_wise_scores(truth, pred)
    s["abs_volume_diff_ml"] = s.pop("abs_volume_diff_voxels") * voxel_ml
    return s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--max-minutes", type=float, default=4.0, help="wall-time budget of each fold's training")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--patches", type=int, default=16, help="random 64^3 patches per epoch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/nmosd_ms_wmh_lopo"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    flairs = sorted((args.data / "flair_mni").glob("*.nii*"))
    cases = []
    for path in flairs:
        vol = read_volume(path)
        truth = read_mask(args.data / "lesion_masks_mni" / path.name, vol, "lesion mask")
        brain = estimate_brain_mask(vol.array)
        cases.append((case_name(path), vol, truth, brain, prepare_subject(vol.array, brain, truth, 2)))
    rows, folds = [], []
    load0 = os.getloadavg()[0]
    for k, (name, vol, truth, brain, _) in enumerate(cases):
        train = [c[4] for j, c in enumerate(cases) if j != k]
        fold_dir = args.out / f"fold_{name}"
        fit = train_wmh_net(train, train, fold_dir / "run", epochs=args.epochs, patches_per_epoch=args.patches,
                            max_minutes=args.max_minutes, seed=args.seed)
        start = time.process_time()
        pred_net = segment_wmh_network(fit["model"], vol.array, brain)
        infer_cpu_s = time.process_time() - start
        pred_morph = segment_wmh_morphology(vol.array, brain)
        train_names = [c[0] for j, c in enumerate(cases) if j != k]
        net_scores = scores(truth, pred_net, vol.voxel_volume_ml)
        info = ModelInfo(method="nmosd_ms", name=f"wmh_lopo_{name}", architecture={"wmh_net": fit["arch"]},
                         preprocessing={"orientation": "RAS+", "normalisation": "z-score in the brain mask",
                                        "resolution": "FLAIR downsampled x2 (trilinear)", "threshold": 0.5},
                         class_names=["background", "lesion"],
                         training_data={"name": "ms_lesions (Lesjak et al. 2017, CC-BY)", "simulated": False,
                                        "split": f"trained on {','.join(train_names)}; tested on {name}"},
                         metrics={f"test_{m}": v for m, v in net_scores.items()},
                         metrics_data=f"{name} of ms_lesions (1 patient, held out)", simulated=False)
        save_model_folder(fold_dir / "model", fit["model"], info)
        for seg, pred in (("network", pred_net), ("morphology", pred_morph)):
            rows.append({"case": name, "segmenter": seg,
                         **{m: round(v, 4) for m, v in scores(truth, pred, vol.voxel_volume_ml).items()}})
            print(rows[-1], flush=True)
        folds.append({"test": name, "train": train_names, "epochs": fit["epochs"], "best_epoch": fit["best_epoch"],
                      "train_cpu_s": round(fit["cpu_s"], 1), "inference_cpu_s": round(infer_cpu_s, 1),
                      "history": [{h: r.get(h) for h in ("epoch", "train_loss", "val_loss")} for r in fit["history"]
                                  if r.get("kind", "epoch") == "epoch"]})
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(args.out / "lopo_scores.csv", rows)
    summary = {seg: {m: float(np.mean([r[m] for r in rows if r["segmenter"] == seg]))
                     for m in ("dice", "lesion_f1", "abs_volume_diff_ml")} for seg in ("network", "morphology")}
    write_json_atomic(args.out / "lopo.json", {
        "data": str(args.data), "note": "smoke test on 3 real patients, not a benchmark", "mean": summary,
        "folds": folds, "rows": rows, "arch": DEFAULT_ARCH, "max_minutes": args.max_minutes,
        "load_average_start_end": [round(load0, 2), round(os.getloadavg()[0], 2)],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "threads": 1})
    print("mean over 3 patients (smoke test):", json.dumps(summary), "load", load0, os.getloadavg()[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
