"""The ceiling of the nuclei post-processing: perfect 3-class maps (made from the ground truth) through
``instances_from_probabilities``, scored against that ground truth. A perfect network can score no higher.

    python benchmarks/quality/nuclei_hannet/postprocess_oracle.py --data ../shared/data/nuclei

Rows: target erosion radius, seed growth (pixels) and post-processing; columns: mean AJI per data set
over every tile (no split: no network is trained here).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from biomedai.methods.nuclei_hannet.data import load_tiles
from biomedai.methods.nuclei_hannet.evaluation import score_tile
from biomedai.methods.nuclei_hannet.postprocess import instances_from_probabilities, three_class_targets

DEFAULT_DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "nuclei"
#: (target radius, growth, post-processing): the old default (grow 2 after a 1 px erosion), the current
#: default growth (= the erosion) with both post-processings, and radius-2 targets
CASES = [(1, 2, "morphological"), (1, 1, "morphological"), (1, 1, "distance"), (2, 2, "morphological"),
         (2, 3, "morphological")]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = p.parse_args(argv)
    if not args.data.is_dir():
        print(f"data folder {args.data} not found; pass --data", file=sys.stderr)
        return 2
    tiles = load_tiles(args.data)  # every labelled tile
    sets = sorted({t.dataset for t in tiles})
    counts = {s: sum(t.dataset == s for t in tiles) for s in sets}
    print("| targets radius | seeds grown by | post-processing | "
          + " | ".join(f"{s} AJI ({counts[s]} tiles)" for s in sets) + " |")
    print("|---|---|---|" + "---|" * len(sets))
    for radius, grow, method in CASES:
        scores: dict[str, list[float]] = {s: [] for s in sets}
        for t in tiles:
            probs = np.eye(3, dtype=np.float32)[three_class_targets(t.labels, radius)].transpose(2, 0, 1)
            pred = instances_from_probabilities(probs, method, dilation_radius=grow)
            scores[t.dataset].append(score_tile(t.labels, pred)["aji"])
        print(f"| {radius} | {grow} px | {method} | " + " | ".join(f"{np.mean(scores[s]):.4f}" for s in sets) + " |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
