"""Deetal-Perio inference on a full-size 1,480 x 2,776 panoramic radiograph on CPU: time and peak memory.

A real UFBA test film (512 x 512) is resized up to the Suzhou size 1,480 x 2,776 (spec 4.1). Both Mask R-CNNs
run on it (each resizes it to its ``image_size`` internally and pastes masks back at full size), then the
calibration numbers the teeth. Each configuration runs in a fresh process so that its peak resident memory
(``ru_maxrss``) is its own:

* ``paper``: maskrcnn_resnet50_fpn at 1,024 px (the paper's input size). No trained weights of it exist here,
  so it runs with random weights at a 0.05 confidence cut to get a realistic number of detections to paste;
  this measures cost only, never accuracy;
* ``light``: the trained light models of ``benchmarks/quality/dental_perio/numbering.py`` (``--weights``), when present,
  at the 0.3 confidence cut (the briefly trained models find almost nothing at the paper's 0.7).

    .venv/bin/python benchmarks/speed/dental_maskrcnn.py --weights /tmp/dental_numbering/train
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "teeth" / "ufba_subset"
RESULTS = Path(__file__).resolve().parents[1] / "results" / "RESULTS-dental_perio.md"
START, END = "<!-- dental_speed:start -->", "<!-- dental_speed:end -->"
SIZE = (1480, 2776)


def film() -> "object":
    import numpy as np
    from PIL import Image as PILImage

    from biomedai.methods.dental_perio.data import UFBADataset, split_ids, read_panoramic

    ds = UFBADataset(DATA)
    image, _ = read_panoramic(ds.image_path(split_ids(ds, "test")[0]))
    big = PILImage.fromarray(image).resize((SIZE[1], SIZE[0]), PILImage.BICUBIC)
    return np.asarray(big)


def one(kind: str, weights: str | None, threads: int, repeats: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    from biomedai.methods.dental_perio.config import DentalPerioConfig
    from biomedai.methods.dental_perio.model import build_from_config
    from biomedai.methods.dental_perio.inference import infer_radiograph, load_models

    image = film()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if kind == "paper":
        cfg = DentalPerioConfig(backbone="resnet50", image_size=1024, min_confidence=0.05,
                                transfer_min_confidence=0.05)
        torch.manual_seed(0)
        binary, multi = build_from_config(cfg, "binary").eval(), build_from_config(cfg, "multiclass").eval()
    else:
        binary, multi, cfg = load_models(weights, DentalPerioConfig(min_confidence=0.3, transfer_min_confidence=0.3))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = infer_radiograph(binary, multi, image, cfg)
        times.append(time.perf_counter() - t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"kind": kind, "backbone": cfg.backbone, "image_size": cfg.image_size, "seconds": min(times),
            "seconds_all": times, "peak_rss_mib": peak / 1024, "rss_before_models_mib": base / 1024,
            "n_binary": len(out["binary"]), "n_multi": len(out["multi"]), "threads": threads,
            "input": f"{image.shape[0]} x {image.shape[1]}"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="/tmp/dental_numbering/train")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.weights, args.threads, args.repeats)))
        return
    rows = []
    kinds = ["paper"] + (["light"] if (Path(args.weights) / "models.json").is_file() else [])
    for kind in kinds:
        cmd = [sys.executable, __file__, "--one", kind, "--weights", args.weights, "--threads", str(args.threads),
               "--repeats", str(args.repeats)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(rows[-1])
    load = os.getloadavg()[0]
    import datetime as dt

    import torch

    lines = [START, "## Inference on a 1,480 x 2,776 radiograph (CPU) — `benchmarks/speed/dental_maskrcnn.py`", "",
             f"Date {dt.date.today().isoformat()}; {platform.machine()} CPU, {args.threads} torch thread(s), "
             f"torch {torch.__version__}; shared 2-core host, load average {load:.1f} during the run (other "
             f"jobs running: times are upper bounds). Input: a UFBA test film resized up to 1,480 x 2,776. "
             f"Time: both Mask R-CNNs + calibration, best of {args.repeats}; memory: peak resident set of a "
             "fresh process (models, image, masks pasted at full size).", "",
             "| configuration | input size seen by the network | detections (binary / 32-class) | time (s) | "
             "peak memory (MiB) |", "|---|---|---|---|---|"]
    for r in rows:
        name = ("paper: ResNet-50 FPN Mask R-CNN x2, RANDOM weights at a 0.05 cut (cost only)" if r["kind"] == "paper"
                else "light: trained ResNet-18 GroupNorm FPN x2 (from benchmarks/quality/dental_perio/numbering.py), 0.3 cut")
        lines.append(f"| {name} | longer side {r['image_size']} px | {r['n_binary']} / {r['n_multi']} | "
                     f"{r['seconds']:.1f} | {r['peak_rss_mib']:.0f} |")
    lines.append(END)
    section = "\n".join(lines)
    print(section)
    if not args.no_write:
        text = RESULTS.read_text(encoding="utf-8") if RESULTS.is_file() else "# Deetal-Perio results\n\n"
        if START in text and END in text:
            text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: section, text, flags=re.S)
        else:
            marker = "<!-- dental_numbering:end -->"
            text = text.replace(marker, marker + "\n\n" + section) if marker in text else text + "\n" + section + "\n"
        RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
