"""Why a trained nuclei network fails on an unseen stain source: the same weights scored three ways.

1. as trained (normalisation layers with their stored running statistics);
2. with every test tile Reinhard-normalised to the training tiles' mean L*a*b* statistics;
3. with batch-norm layers using each test batch's own statistics (test-time adaptation; no effect on
   instance-norm networks, which always do this).

It also prints the training tiles' mean RGB and, for the worst test tile, its mean RGB and the fraction
of its pixels the network calls "inside". Weights come from ``biomedai train nuclei_hannet`` or
``benchmarks/quality/nuclei_hannet/quality.py`` (``hannet_model.json`` beside them gives the architecture).

    python benchmarks/quality/nuclei_hannet/stain_shift.py --weights run/hannet/weights.pt --data ../shared/data/nuclei
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from biomedai.data.stain import ReinhardStats, fit_reinhard, reinhard_normalize
from biomedai.methods.nuclei_hannet.data import load_split_file, load_tiles
from biomedai.methods.nuclei_hannet.evaluation import score_tile
from biomedai.methods.nuclei_hannet import HanNetMethod
from biomedai.methods.nuclei_hannet.segmenter import NucleiSegmenter

DEFAULT_DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "nuclei"


def _batch_statistics(model: torch.nn.Module) -> None:
    """Make every batch-norm layer normalise by the statistics of the batch it sees."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.track_running_stats = False
            m.running_mean = None
            m.running_var = None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", type=Path, required=True)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--split", default="default")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not args.weights.is_file():
        print(f"{args.weights}: weights file not found", file=sys.stderr)
        return 2
    split = load_split_file(args.split)
    train, test = load_tiles(args.data, "train", split), load_tiles(args.data, "test", split)
    stats = [fit_reinhard(t.image) for t in train]
    target = ReinhardStats(tuple(np.mean([s.mean for s in stats], 0)), tuple(np.mean([s.std for s in stats], 0)))
    cfg = HanNetMethod({"device": "cpu"}).config
    seg = NucleiSegmenter.from_weights(args.weights, cfg)
    seg.model.eval()
    print(f"weights {args.weights} (norm: {seg.arch.get('norm', 'batch')}); training tiles' mean RGB "
          f"{np.round(np.mean([t.image.reshape(-1, 3).mean(0) for t in train], 0), 1).tolist()}")
    results: dict[str, dict[str, float]] = {}
    worst: tuple[float, str, np.ndarray] | None = None
    for variant in ("as trained", "Reinhard-normalised test tiles", "batch statistics at test time"):
        if variant == "batch statistics at test time":
            _batch_statistics(seg.model)
        per_set: dict[str, list[float]] = {}
        for t in test:
            image = reinhard_normalize(t.image, target) if variant.startswith("Reinhard") else t.image
            aji = score_tile(t.labels, seg.segment(image))["aji"]
            per_set.setdefault(t.dataset, []).append(aji)
            if variant == "as trained" and (worst is None or aji < worst[0]):
                worst = (aji, f"{t.dataset}/{t.name}", t.image)
        results[variant] = {name: round(float(np.mean(v)), 4) for name, v in per_set.items()}
        print(f"{variant}: mean AJI " + ", ".join(f"{k} {v}" for k, v in results[variant].items()), flush=True)
        if variant == "as trained" and worst is not None:
            seg_as_trained = NucleiSegmenter.from_weights(args.weights, cfg)
            seg_as_trained.model.eval()
            inside = float((seg_as_trained.probabilities(worst[2]).argmax(0) == 1).mean())
            print(f"worst tile {worst[1]}: AJI {worst[0]:.4f}, mean RGB "
                  f"{np.round(worst[2].reshape(-1, 3).mean(0), 1).tolist()}, {inside:.0%} of pixels called inside")
            results["worst tile"] = {"tile": worst[1], "aji": round(worst[0], 4), "inside_fraction": round(inside, 4)}
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
