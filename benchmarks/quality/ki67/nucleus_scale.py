"""The Ki-67 quantifier's nucleus scale measured per image (granulometry) against the fixed 20 px it replaces.

On the DeepLIIF sample tiles (../shared/data/ki67/deepliif_sample, non-commercial): the measured diameter next
to the median equivalent diameter of the annotated nuclei, and the quantifier's cell F1 / labelling-index error
with the fixed and the measured scale. On scikit-image's ihc.png (bundled sample): the labelling index of the
same image resized x0.5, x1, x2 with the measured scale and with a fixed one.

    python benchmarks/quality/ki67/nucleus_scale.py [DEEPLIIF_ROOT]
Writes benchmarks/quality/ki67/nucleus_scale_results.json (date, load, command).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from biomedai.data.samples import sample_path
from biomedai.io import read_image
from biomedai.methods.ki67.config import Ki67Config
from biomedai.methods.ki67.deepliif import load_deepliif, seg_to_instances
from biomedai.methods.ki67.evaluation import evaluate_ihc_quantifier
from biomedai.methods.ki67.ihc import as_rgb, measure_nucleus_diameter, quantify_ihc

ROOT = Path(__file__).resolve().parents[3]
OUT = Path(__file__).with_name("nucleus_scale_results.json")


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared/data/ki67/deepliif_sample"
    t0, load0 = time.time(), os.getloadavg()
    tiles = []
    for tile in load_deepliif(root):
        labels, _ = seg_to_instances(tile.seg)
        areas = np.bincount(labels.ravel())[1:]
        areas = areas[areas >= 10]
        tiles.append({"tile": tile.name, "split": tile.split,
                      "measured_diameter_px": measure_nucleus_diameter(tile.ihc, Ki67Config()),
                      "annotated_median_diameter_px": float(np.median(2 * np.sqrt(areas / np.pi)))})
    quantifier = {name: evaluate_ihc_quantifier(root, Ki67Config(nucleus_diameter_px=d))["summary"]
                  for name, d in (("fixed_20px", 20.0), ("measured", None))}
    from skimage.transform import rescale

    rgb = as_rgb(read_image(sample_path("ihc")).array)
    resize = []
    for factor in (0.5, 1.0, 2.0):
        x = rgb if factor == 1.0 else (rescale(rgb, factor, channel_axis=-1, anti_aliasing=factor < 1) * 255
                                       ).round().astype(np.uint8)
        for name, d in (("measured", None), ("fixed_14px", 14.0)):
            r = quantify_ihc(x, Ki67Config(nucleus_diameter_px=d))
            resize.append({"factor": factor, "scale": name, "diameter_px": round(r.scale.diameter_px, 1),
                           "n_cells": r.n_cells, "labelling_index_pct": round(r.labelling_index, 2)})
    out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "command": " ".join(sys.argv),
           "load_start": load0, "load_end": os.getloadavg(), "wall_s": round(time.time() - t0, 1),
           "data": f"{root} (DeepLIIF sample, non-commercial) and scikit-image ihc.png",
           "deepliif_tiles": tiles, "deepliif_quantifier": quantifier, "ihc_png_resized": resize}
    OUT.write_text(json.dumps(out, indent=2, default=float))
    print(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
