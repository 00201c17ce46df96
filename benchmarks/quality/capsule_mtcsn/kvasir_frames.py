"""The bundled (SIMULATED-trained) model on the 5 real Kvasir-SEG colonoscopy frames: an IO and metric check,
NOT a benchmark (5 frames; colonoscopy, not capsule; polyps, not the CECD lesion classes; non-commercial data).

Writes ``kvasir_frames.md`` next to this script: per frame the CD class, %lesion and the IoU of the predicted
lesion class with the polyp mask (resized to the model's input). Run:
``PYTHONPATH=src python benchmarks/quality/capsule_mtcsn/kvasir_frames.py [KVASIR_FOLDER [MODEL_FOLDER]]``
(the model defaults to the bundled one; none ships yet, so pass one trained with ``biomedai train``)
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from biomedai.io import read_image
from biomedai.methods.capsule_mtcsn import MtcsnMethod
from biomedai.methods.capsule_mtcsn.frames import to_rgb_uint8
from biomedai.methods.capsule_mtcsn.inference import load_mtcsn, predict_batch
from biomedai.methods.capsule_mtcsn.palette import CD_CLASSES, class_fractions
from biomedai.metrics.segmentation import iou

HERE = Path(__file__).resolve().parent


def main(folder: str = str(Path(__file__).resolve().parents[4] / "shared" / "data" / "kvasir_seg_sample"),
         weights: str | None = None) -> int:
    method = MtcsnMethod()
    resolved = method.resolve_weights(Path(weights) if weights else None)
    if resolved is None:
        print("no bundled model: pass a model folder trained on simulated frames as the second argument")
        return 2
    model, cfg, info = load_mtcsn(resolved, method.config)
    lines = ["# Bundled capsule_mtcsn model on 5 real Kvasir-SEG frames — IO/metric check, NOT a benchmark", "",
             f"Model: {info.usage_note()}. Data: Kvasir-SEG sample (Jha et al. 2020; research and education only, "
             "non-commercial), colonoscopy frames with polyp masks. The model never saw real or colonoscopy data, "
             "so these numbers say nothing about its quality.", "",
             "| frame | size | CD class | p_clear | %lesion | polyp % | IoU(lesion, polyp) |", "|---|---|---|---|---|---|---|"]
    for path in sorted((Path(folder) / "images").glob("*.jpg")):
        frame = to_rgb_uint8(read_image(path).array, path)
        polyp = np.asarray(read_image(Path(folder) / "masks" / path.name).array)[..., 0] > 127
        probs, masks = predict_batch(model, frame[None], cfg.input_size)
        rows = (np.arange(cfg.input_size) * polyp.shape[0] / cfg.input_size).astype(int)
        cols = (np.arange(cfg.input_size) * polyp.shape[1] / cfg.input_size).astype(int)
        small = polyp[rows][:, cols]
        lines.append(f"| {path.stem} | {frame.shape[1]} x {frame.shape[0]} | {CD_CLASSES[int(probs[0].argmax())]} | "
                     f"{probs[0][0]:.2f} | {100 * class_fractions(masks[0])['lesion']:.1f} | {100 * small.mean():.1f} | "
                     f"{iou(small, masks[0] == 3):.3f} |")
    lines += ["", f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {os.getloadavg()[0]:.1f}; "
              "command: `PYTHONPATH=src python benchmarks/quality/capsule_mtcsn/kvasir_frames.py`"]
    (HERE / "kvasir_frames.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
