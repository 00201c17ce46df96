"""Deetal-Perio Table 1 on the UFBA test split: the 32-class Mask R-CNN alone vs binary Mask R-CNN + calibration.

Trains both models with ``biomedai train dental_perio`` settings (the fixed split's 290 training images), runs
them once on the 75 test images keeping every detection above 0.05, and scores both pipelines at the paper's
0.7 confidence cut (and lower cuts, for a briefly trained model) with mAP@0.5 over the FDI classes, Dice(all)
and Dice(single) (spec 4.6), next to the paper's Table 1 (Suzhou / Zhongshan, in-house sets).

    .venv/bin/python benchmarks/quality/dental_perio/numbering.py --steps 400 --image-size 256 --backbone resnet18

Without a GPU this is a REDUCED run (light backbone, downscaled images, a few hundred steps, 1 CPU thread):
its numbers are far below the paper's and say only that the pipeline works end to end on real films.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import re
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT.parent / "shared" / "data" / "teeth" / "ufba_subset"
RESULTS = Path(__file__).resolve().parents[2] / "results" / "RESULTS-dental_perio.md"
START, END = "<!-- dental_numbering:start -->", "<!-- dental_numbering:end -->"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--output", type=Path, default=Path("/tmp/dental_numbering"))
    ap.add_argument("--steps", type=int, default=400, help="optimiser steps per model (0: the paper's 30 epochs)")
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--backbone", default="resnet18", choices=["resnet18", "resnet50"])
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--optimizer", default="adamw", choices=["adamw", "sgd"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    ap.add_argument("--reuse", action="store_true", help="reuse models already trained in --output")
    ap.add_argument("--limit-test", type=int, default=0, help="score only the first N test images (smoke runs)")
    ap.add_argument("--no-write", action="store_true", help="do not update benchmarks/results/RESULTS-dental_perio.md")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from biomedai.methods.dental_perio.config import DentalPerioConfig
    from biomedai.methods.dental_perio.data import UFBADataset, split_ids
    from biomedai.methods.dental_perio import DentalPerio
    from biomedai.methods.dental_perio.inference import load_models

    cfg = DentalPerioConfig(backbone=args.backbone, image_size=args.image_size, max_steps=args.steps,
                            optimizer=args.optimizer, lr=args.lr, warmup_steps=min(50, max(args.steps // 10, 1)),
                            weight_decay=1e-4, device=args.device)
    train_dir = args.output / "train"
    t0 = time.perf_counter()
    if not (args.reuse and (train_dir / "model.json").is_file()):
        DentalPerio(cfg).train(args.data, train_dir)
    train_s = time.perf_counter() - t0
    binary_model, multi_model, _ = load_models(train_dir, cfg.replace(min_confidence=0.05))
    dataset = UFBADataset(args.data)
    ids = split_ids(dataset, "test")[: args.limit_test or None]
    raw, truths = [], []
    t1 = time.perf_counter()
    from biomedai.methods.dental_perio.model import detect_teeth

    for name in ids:
        image, truth = dataset.load(name)
        truths.append(truth)
        raw.append((detect_teeth(binary_model, image, "binary"), detect_teeth(multi_model, image, "multiclass")))
    infer_s = (time.perf_counter() - t1) / len(ids)
    rows = score(raw, truths, cfg)
    from biomedai.train.model_folder import read_model_info

    info = read_model_info(train_dir)
    gpu = torch.cuda.get_device_name(0) if args.device != "cpu" and torch.cuda.is_available() else None
    machine = (f"{gpu}, torch {torch.__version__}" if gpu else
               f"{platform.machine()} CPU, {args.threads} torch thread{'s' if args.threads > 1 else ''} "
               f"(shared 2-core host), torch {torch.__version__}")
    meta = {"date": dt.date.today().isoformat(), "machine": machine,
            "train_s": train_s, "infer_s_per_image_both_models": infer_s, "steps": args.steps,
            "backbone": args.backbone, "image_size": args.image_size, "optimizer": args.optimizer, "lr": args.lr,
            "n_train": info.training_data["n_images"], "n_test": len(ids),
            "final_loss": {t: info.metrics[f"{t}_final_train_loss"] for t in ("binary", "multiclass")}}
    report = markdown(rows, meta)
    print(report)
    (args.output / "dental_numbering.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    if not args.no_write:
        write_section(report)


def score(raw: list, truths: list, cfg: object) -> list[dict]:
    """Both pipelines at several confidence cuts (0.7 is the paper's)."""
    from biomedai.methods.dental_perio.data import ToothInstances
    from biomedai.methods.dental_perio.numbering import number_binary_detections, numbering_accuracy, table1_metrics

    def cut(t: ToothInstances, thr: float) -> ToothInstances:
        keep = t.scores >= thr
        return ToothInstances(t.fdi[keep], t.masks[keep], t.boxes[keep], t.scores[keep])

    rows = []
    for thr in (0.7, 0.5, 0.3):
        c = cfg.replace(min_confidence=thr, transfer_min_confidence=thr)
        multis, numbered, matched, correct, unresolved = [], [], 0, 0, 0
        for (b, m), truth in zip(raw, truths):
            b, m = cut(b, thr), cut(m, thr)
            n, cal = number_binary_detections(b, m, c)
            multis.append(m)
            numbered.append(n)
            ok, mt = numbering_accuracy(truth, n)
            correct, matched, unresolved = correct + ok, matched + mt, unresolved + len(cal.unresolved)
        for name, preds in (("multi-class Mask R-CNN", multis), ("binary + calibration", numbered)):
            rows.append({"method": name, "confidence": thr, **table1_metrics(truths, preds)})
        rows[-1].update({"numbering_accuracy": correct / matched if matched else float("nan"),
                         "matched_teeth": matched, "unresolved": unresolved})
    return rows


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [START, "## Teeth numbering and segmentation (Table 1) — `benchmarks/quality/dental_perio/numbering.py`", "",
             f"**{'REDUCED CPU run' if ' CPU' in meta['machine'] else 'GPU run'}, not the paper's setting:** {meta['backbone']} GroupNorm FPN Mask R-CNN from "
             f"scratch (no COCO weights), images resized to {meta['image_size']} px (paper: ResNet-101 from COCO, "
             f"1,024 px, 30 epochs on 2 GPUs), {meta['steps']} optimiser steps of batch 1 per model "
             f"({meta['optimizer']}, lr {meta['lr']}). Data: UFBA-425 subset, fixed split "
             f"(`splits/ufba_split.json`): {meta['n_train']} train / {meta['n_test']} test images, 512x512. "
             f"Date {meta['date']}; machine: {meta['machine']}; training {meta['train_s'] / 60:.1f} min for both "
             f"models; inference {meta['infer_s_per_image_both_models']:.2f} s per image (both models). "
             f"Final training loss: binary {meta['final_loss']['binary']:.3f}, 32-class "
             f"{meta['final_loss']['multiclass']:.3f}.", "",
             "| Method | conf. cut | mAP@0.5 | Dice (all) | Dice (single) | numbered / true teeth | numbering acc. |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        acc = f"{r['numbering_accuracy']:.3f} of {r['matched_teeth']}" if "numbering_accuracy" in r else "–"
        lines.append(f"| ours: {r['method']} | {r['confidence']} | {r['mAP50']:.3f} | {r['dice_all']:.3f} | "
                     f"{r['dice_single']:.3f} | {r['n_predicted_numbered']} / {r['n_teeth']} | {acc} |")
    lines += ["| paper: Deetal-Perio (Suzhou / Zhongshan) | 0.7 | 0.863 / 0.927 | 0.892 / 0.903 | 0.809 / 0.819 | | |",
              "| paper: multi-class Mask R-CNN (Suzhou / Zhongshan) | 0.7 | 0.834 / 0.881 | 0.830 / 0.869 | "
              "0.781 / 0.801 | | |", "",
              "mAP@0.5: mask AP at IoU 0.5 per FDI class present in the test set, COCO 101-point interpolation "
              "(the paper: matterport's all-point VOC AP). Dice(all): per image, union of predicted vs union of "
              "true tooth masks, averaged. Dice(single): per true tooth, the predicted mask with its FDI number "
              "(0 if none), averaged over all test teeth. Numbering accuracy: share of binary detections matched "
              "to a true tooth (IoU >= 0.5) that carry its number. The paper's sets are in-house (not UFBA); "
              "do not compare the numbers directly.", END]
    return "\n".join(lines)


def write_section(section: str) -> None:
    """Replace our section of benchmarks/results/RESULTS-dental_perio.md, keeping everything else (e.g. the ABL section)."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.is_file() else "# Deetal-Perio results\n\n"
    if START in text and END in text:
        text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: section, text, flags=re.S)
    else:
        head, sep, rest = text.partition("\n## ")
        text = head.rstrip() + "\n\n" + section + "\n" + (("\n## " + rest) if sep else "")
    RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
