"""vesselNN two-photon stacks (7 here): length density in mm/mm^3 (3-D skeleton) and mm/mm^2 (on the maximum
projection), for the manual labels and for a classical slice-wise Frangi segmentation whose threshold is chosen
leave-one-stack-out (on the other six stacks only), with Dice and clDice in 3-D.

This is the reduced vesselNN part of issue 19: no network is trained in 3-D here (two shared CPU cores); the
numbers are the baseline's and the manual labels' own, cross-validated by stack.

Usage (repository root): python benchmarks/quality/vessels_biosegment/vesselnn_benchmark.py
Writes benchmarks/results/RESULTS-vessels_biosegment-vesselnn.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

from biomedai.methods.vessels_biosegment.baseline import vesselness
from biomedai.methods.vessels_biosegment.compare import markdown_table, percent_error
from biomedai.methods.vessels_biosegment.datasets import find_vesselnn_stacks
from biomedai.methods.vessels_biosegment.imaging import max_projection
from biomedai.methods.vessels_biosegment.measures import clean_mask, skeleton_measures
from biomedai.methods.vessels_biosegment.volume import length_densities, measurement_mask
from biomedai.metrics.segmentation import cldice, dice

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
GRID = np.round(np.geomspace(0.005, 0.8, 36), 4)
SIGMAS = (2.0, 4.0, 6.0)  # vessel radii of 2-6 pixels (5-20 um vessels at 0.6-2.5 um pixels)


def load_stacks(data: Path) -> list[dict]:
    """The vesselNN stacks as dicts (name, image, label, spacing, spacing_source)."""
    return [dict(vars(s)) for s in find_vesselnn_stacks(data)]


def slice_vesselness(vol: np.ndarray) -> np.ndarray:
    """2-D Frangi per slice (z step 5 um against 0.6-2.5 um pixels: the slices are far apart)."""
    return np.stack([vesselness(s, kind="frangi", sigmas=SIGMAS) for s in vol])


def enhanced_intensity(vol: np.ndarray) -> np.ndarray:
    """The paper's pixel-based comparator's first step: contrast enhancement (CLAHE per slice), in [0, 1]."""
    from skimage.exposure import equalize_adapthist

    return np.stack([equalize_adapthist(s, clip_limit=0.01) for s in vol]).astype(np.float32)


def pooled_best_threshold(stacks: list[dict], key: str) -> float:
    best, best_d = GRID[0], -1.0
    for th in GRID:
        inter = sum(float((s[key] >= th)[s["label"]].sum()) for s in stacks)
        total = sum(float((s[key] >= th).sum() + s["label"].sum()) for s in stacks)
        d = 2 * inter / max(total, 1.0)
        if d > best_d:
            best, best_d = float(th), d
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/vessels/vesselnn")
    parser.add_argument("--results", type=Path,
                        default=HERE.parents[1] / "results" / "RESULTS-vessels_biosegment-vesselnn.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    load0, t0 = os.getloadavg(), time.time()
    stacks = load_stacks(args.data)
    for s in stacks:
        s["frangi"] = slice_vesselness(s["image"])
        s["pixel"] = enhanced_intensity(s["image"])
        logging.info("vesselness of %s done", s["name"])
    rows = []
    for i, s in enumerate(stacks):
        others = [o for j, o in enumerate(stacks) if j != i]
        man3 = skeleton_measures(s["label"], spacing=s["spacing"])
        man2 = skeleton_measures(max_projection(s["label"]), spacing=s["spacing"][1])
        for label, key in (("Frangi (slice-wise)", "frangi"), ("pixel-based (CLAHE + threshold)", "pixel")):
            th = pooled_best_threshold(others, key)
            pred = clean_mask(s[key] >= th, 200)
            pred3 = skeleton_measures(pred, spacing=s["spacing"])
            pred2 = skeleton_measures(max_projection(pred), spacing=s["spacing"][1])
            filled3, filled2 = length_densities(measurement_mask(s[key], th, s["spacing"]), s["spacing"])
            rows.append({"stack": s["name"], "method": label, "threshold (LOSO)": th,
                         "Dice 3-D": dice(s["label"], pred), "clDice 3-D": cldice(s["label"], pred),
                         "manual mm/mm^3": man3["length_density"], "measured mm/mm^3": pred3["length_density"],
                         "% error 3-D": percent_error(man3["length_density"], pred3["length_density"]),
                         "manual MIP mm/mm^2": man2["length_density"], "measured MIP mm/mm^2": pred2["length_density"],
                         "% error MIP": percent_error(man2["length_density"], pred2["length_density"]),
                         "filled mm/mm^3": filled3,
                         "% error 3-D filled": percent_error(man3["length_density"], filled3),
                         "% error MIP filled": percent_error(man2["length_density"], filled2)})
            logging.info("%s: %s", s["name"], rows[-1])
    stack_rows = [{"stack": s["name"], "shape (z,y,x)": "x".join(map(str, s["label"].shape)),
                   "voxel um (z,y,x)": ", ".join(f"{v:g}" for v in s["spacing"]), "pixel size from": s["spacing_source"]}
                  for s in stacks]
    load1, minutes = os.getloadavg(), (time.time() - t0) / 60
    means = []
    for label in ("Frangi (slice-wise)", "pixel-based (CLAHE + threshold)"):
        mine = [r for r in rows if r["method"] == label]
        means.append({"method": label, **{key: float(np.mean([r[key] for r in mine]))
                                          for key in ("Dice 3-D", "clDice 3-D", "% error 3-D", "% error MIP",
                                                      "% error 3-D filled", "% error MIP filled")},
                      **{f"median {key}": float(np.median([r[key] for r in mine]))
                         for key in ("% error 3-D", "% error MIP", "% error 3-D filled", "% error MIP filled")}})
    text = [
        "# vessels_biosegment on vesselNN (7 two-photon stacks here): classical baselines", "",
        f"- date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; 2 CPU cores shared with other jobs; "
        f"load average at start {tuple(round(x, 1) for x in load0)}, at end {tuple(round(x, 1) for x in load1)}",
        f"- command: `{' '.join([Path(sys.executable).name] + sys.argv)}` ({minutes:.1f} min)",
        "- segmentations: (a) 2-D Frangi per slice (sigmas 2, 4, 6 px), response / its 99.5th percentile; (b) the "
        "paper's pixel-based comparator: CLAHE per slice, then a global threshold. Each threshold maximises the "
        "pooled Dice of the other six stacks (leave-one-stack-out, 36 log-spaced values); objects < 200 voxels "
        "removed",
        "- length: skan skeleton of the 3-D mask with the anisotropic voxel size (mm/mm^3), and of the maximum "
        "projection of the mask (mm/mm^2); the manual labels go through the same code; 'filled': the same mask "
        "with its enclosed cavities filled (`volume.measurement_mask` without smoothing; README decision 12b). "
        "'% error MIP filled' always equals '% error MIP': a cavity enclosed in 3-D lies under its own shell in the "
        "projection, so filling it changes no projected pixel (kept as a check of that)",
        "- poon2015_plaqueVessels' label is an under-segmentation by its name; the santos2015 stacks have no "
        "recorded pixel size (0.621 um assumed, upstream's 'similar to santos2015_tumor')", "",
        "## Mean over the 7 stacks", "", markdown_table(means, digits=3), "",
        "## Per stack", "", markdown_table(rows, digits=3), "", "## Stacks", "", markdown_table(stack_rows), ""]
    args.results.write_text("\n".join(text))
    logging.info("wrote %s", args.results)


if __name__ == "__main__":
    main()
