"""Recipe of the bundled teeth model (``dental_perio/models/default``): the FDI U-Net trained on the UFBA
training part of the fixed split (290 films: 260 train + 30 validation, seeded), one CPU thread, a budget of
``--minutes`` of this process's CPU time (the engine's, stopping at the step that spends it); the checkpoint
with the best validation numbering mAP@0.5 is kept, then the post-processing (``min_pixels``) is chosen on the
same validation films. The 75 test films are not touched.

Usage (from the repository root):
    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/quality/dental_perio/train_default.py \
        [--data ../shared/data/teeth/ufba_subset] [--out runs/teeth_default] [--minutes 30]
Writes OUT/model (a model folder: weights.pt in fp16 + model.json), OUT/metrics.jsonl (the engine's log, one
line per epoch with val_map50 and wall_minutes) and OUT/train_summary.json. Then
``python benchmarks/quality/dental_perio/test_default.py OUT/model`` scores it once on the test films.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import torch

from biomedai.methods.dental_perio.data import UFBADataset, split_ids
from biomedai.methods.dental_perio.fdi_unet_training import numbering_scores, train_fdi_unet, validation_split
from biomedai.train.model_folder import ModelInfo, save_model_folder

ROOT = Path(__file__).resolve().parents[3]
LICENCE = ("UFBA-425 (Budagam et al. 2025, from UFBA-UESC, Silva et al. 2018): images distributed by their authors "
           "for research; redistribution unclear; research use only, non-commercial")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/teeth/ufba_subset")
    parser.add_argument("--out", type=Path, default=Path("runs/teeth_default"))
    parser.add_argument("--minutes", type=float, default=30.0,
                        help="budget of the training loop in CPU minutes of this process (one thread)")
    parser.add_argument("--max-wall-minutes", type=float, default=80.0,
                        help="also stop after the epoch that passes this wall time (a loaded machine; the engine's "
                             "job_minutes: BIOMEDAI_RESUME=1 with the same --out continues the run)")
    parser.add_argument("--input-size", type=int, default=256)
    parser.add_argument("--channels", default="16,32,64,128,256")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--finish-from", type=Path, default=None,
                        help="skip training: take the network of this checkpoint of an earlier run of this recipe "
                             "(OUT/checkpoints/best.pt, a file you wrote) and its OUT/metrics.jsonl, then choose "
                             "the post-processing and save the model folder")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    channels = [int(c) for c in args.channels.split(",")]
    train_ids, val_ids = validation_split(split_ids(UFBADataset(args.data), "train"), seed=args.seed)
    load_start, t0, cpu0 = os.getloadavg(), time.time(), time.process_time()
    if args.finish_from is None:
        trained = train_fdi_unet(args.data, train_ids, val_ids, args.out, channels=channels,
                                 input_size=args.input_size, minutes=args.minutes, seed=args.seed, clock="cpu",
                                 max_wall_minutes=args.max_wall_minutes)
        result = trained["result"]
        facts = {"best_epoch": result.best_epoch, "epochs_completed": result.epochs_completed,
                 "steps": result.global_step, "time_budget_spent": result.time_budget_spent,
                 "wall_guard_ended_job": result.job_time_spent, "history": result.history}
    else:
        trained, facts = finished_run(args.finish_from, args.out / "metrics.jsonl", args.data, train_ids, val_ids,
                                      channels)
    train_minutes = (time.time() - t0) / 60
    # post-processing chosen on the validation films only
    choices = {}
    for min_pixels in (10, 30, 60, 120):
        choices[min_pixels] = numbering_scores(trained["model"], trained["val_films"], args.input_size, min_pixels)
        logging.info("validation min_pixels=%d: %s", min_pixels, choices[min_pixels])
    best = max(choices, key=lambda k: choices[k]["mAP50"])
    info = ModelInfo(
        method="dental_perio", name="default",
        architecture={"kind": "fdi_unet", "channels": channels, "input_size": args.input_size},
        preprocessing={"grey": "RGB with grey content averaged; 16-bit windowed to 8 bits",
                       "resize": f"{args.input_size} x {args.input_size}, aspect ratio not kept, anti-aliased",
                       "normalise": "per film zero mean, unit variance",
                       "min_pixels": best, "secondary_weight": 0.5,
                       "postprocessing_chosen_on": f"{len(val_ids)} validation films"},
        class_names=["background"] + [str(f) for f in range(11, 49) if f % 10 in range(1, 9)],
        training_data={"name": "UFBA-425 subset (../shared/data/teeth/ufba_subset), fixed split "
                               "src/biomedai/methods/dental_perio/splits/ufba_split.json",
                       "split": {"train": train_ids, "validation": val_ids, "test": "75 films of the fixed split"},
                       "licence": LICENCE, "non_commercial": True},
        metrics={"val_map50": choices[best]["mAP50"], "val_dice_all": choices[best]["dice_all"],
                 "val_dice_single": choices[best]["dice_single"],
                 **{k: facts[k] for k in ("best_epoch", "epochs_completed", "steps")}},
        metrics_data=f"{len(val_ids)} validation films (from the training part; test metrics: MODEL.md)",
        licence="research use only, non-commercial (follows the UFBA terms)",
        extra={"recipe": {"command": "python benchmarks/quality/dental_perio/train_default.py "
                                     f"--minutes {args.minutes:g}", "cpu_minutes_budget": args.minutes, "batch_size": 4,
                          "lr": 2e-3, "weight_decay": 1e-4, "loss": "DiceCE", "seed": args.seed,
                          "threads": args.threads},
               "train_wall_minutes": round(train_minutes, 1),
               "train_process_cpu_minutes": round((time.process_time() - cpu0) / 60, 1)})
    folder = save_model_folder(args.out / "model", trained["model"], info, half=True)
    summary = {"wall_minutes": train_minutes, "process_cpu_minutes": (time.process_time() - cpu0) / 60,
               "threads": args.threads, "load_at_start": load_start, "load_at_end": os.getloadavg(),
               "min_pixels_choices": {str(k): v for k, v in choices.items()}, "min_pixels": best,
               **facts, "finished_from": str(args.finish_from) if args.finish_from else None, "model": str(folder)}
    (args.out / "train_summary.json").write_text(json.dumps(summary, indent=2, default=str))
    logging.info("done: %.1f min, best epoch %s, val mAP50 %.3f", train_minutes, facts["best_epoch"],
                 choices[best]["mAP50"])


def finished_run(checkpoint: Path, metrics_log: Path, data: Path, train_ids: list[str], val_ids: list[str],
                 channels: list[int]) -> tuple[dict, dict]:
    """The network of a checkpoint this recipe wrote (trusted: loaded with pickle) and the run's facts."""
    from biomedai.methods.dental_perio.fdi_unet import FDIUNet

    net = FDIUNet(channels)
    net.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=False)["model"])
    history = [json.loads(line) for line in metrics_log.read_text().splitlines() if line.strip()]
    epochs = [h for h in history if h.get("kind") == "epoch"]
    best = max(epochs, key=lambda h: h["val_map50"])
    dataset = UFBADataset(data)
    return ({"model": net.eval(), "train_ids": train_ids, "val_ids": val_ids,
             "val_films": [dataset.load(n) for n in val_ids]},
            {"best_epoch": best["epoch"], "epochs_completed": epochs[-1]["epoch"], "steps": epochs[-1]["step"],
             "history": epochs})


if __name__ == "__main__":
    main()
