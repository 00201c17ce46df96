"""Why the 3-D skeleton of a U-Net mask measured 7-10x the manual vessel length on vesselNN: counts the enclosed
cavities of the held-out stack's mask and the junction voxels of its skeleton, and the length density of the mask
as it is, with its cavities filled, and with the probability smoothed first (``volume.measurement_mask``).

Usage (repository root; FOLDS = an output folder of vesselnn_unet3d.py holding run_<stack>/weights.pt):
    python benchmarks/quality/vessels_biosegment/vesselnn_skeleton_diagnosis.py FOLDS [--stack NAME]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage as ndi

from biomedai.methods.vessels_biosegment.datasets import find_vesselnn_stacks
from biomedai.methods.vessels_biosegment.measures import clean_mask, skeleton_of
from biomedai.methods.vessels_biosegment.volume import (VolumeRecipe, build_unet3d, length_densities,
                                                        measurement_mask, normalise_stack, volume_probability)
from biomedai.train import load_weights

ROOT = Path(__file__).resolve().parents[3]


def describe(mask: np.ndarray, spacing: tuple[float, float, float]) -> dict[str, float]:
    skel = skeleton_of(mask)
    neighbours = ndi.convolve(skel.astype(np.int32), np.ones((3, 3, 3), np.int32), mode="constant") - 1
    filled = ndi.binary_fill_holes(mask)
    return {"cavities": int(ndi.label(filled & ~mask)[1]), "skeleton_voxels": int(skel.sum()),
            "junction_voxels": int(((neighbours >= 3) & skel).sum()),
            "mm_per_mm3": round(length_densities(mask, spacing)[0], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folds", type=Path)
    parser.add_argument("--stack", default="burgess2014_noisySparseVessels")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/vessels/vesselnn")
    args = parser.parse_args()
    torch.set_num_threads(1)
    stack = {s.name: s for s in find_vesselnn_stacks(args.data)}[args.stack]
    record = json.loads((args.folds / f"fold_{stack.name}.json").read_text())
    recipe = VolumeRecipe()
    net = build_unet3d(recipe.channels, recipe.strides)
    load_weights(net, args.folds / f"run_{stack.name}" / "weights.pt")
    with torch.no_grad():
        prob = volume_probability(net, normalise_stack(stack.image), tile=recipe.tile)
    t = record["threshold"]
    rows = {"manual label": describe(stack.label.astype(bool), stack.spacing),
            "U-Net mask": describe(clean_mask(prob >= t, recipe.min_object_voxels), stack.spacing),
            "cavities filled": describe(measurement_mask(prob, t, stack.spacing), stack.spacing)}
    for s in (1.0, 2.0):
        rows[f"smoothed {s:g} um + filled"] = describe(measurement_mask(prob, t, stack.spacing, smooth_um=s),
                                                       stack.spacing)
    print(f"{stack.name} (held out; threshold {t} chosen on validation)")
    for name, row in rows.items():
        print(f"  {name:26s} {row}")


if __name__ == "__main__":
    main()
