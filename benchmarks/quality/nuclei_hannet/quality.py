"""Table 1 of Han-Net on our split: UNet, NUNet(+A, +dense top), Han-Net, MONAI BasicUNetPlusPlus and the
classical baseline, all trained on the same tiles for the same time and scored by the same code.

Test 1 = miccai2015 test tiles of the fixed split (same source as training); Test 2 = all gbm40 tiles
(unseen source). Each network is trained for ``--minutes`` (wall clock, best checkpoint by validation AJI)
or loaded from ``--checkpoints DIR/<name>/weights.pt`` when that file exists.

    python benchmarks/quality/nuclei_hannet/quality.py --device cuda --base-channels 64 --minutes 1.2 \\
        --models hannet peer classical --out out/quality

Reduced width on CPU at matched parameter count (Han-Net base 8 / growth 4: 0.42 M; the peer with
``--peer-features 13 13 26 52 104 13``: 0.40 M)::

    python benchmarks/quality/nuclei_hannet/quality.py --models hannet --minutes 15 --loss ce_dice --lr-schedule onecycle
    python benchmarks/quality/nuclei_hannet/quality.py --models peer classical --peer-features 13 13 26 52 104 13 --minutes 15 ...

Prints a Markdown table and writes ``quality.json`` with every per-tile score.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from biomedai.methods.nuclei_hannet.classical import classical_nuclei
from biomedai.methods.nuclei_hannet.data import load_split_file, load_tiles
from biomedai.methods.nuclei_hannet.evaluation import mean_scores, score_tile
from biomedai.methods.nuclei_hannet.model import VARIANTS, count_parameters
from biomedai.methods.nuclei_hannet import HanNetMethod
from biomedai.methods.nuclei_hannet.segmenter import NucleiSegmenter
from biomedai.methods.nuclei_hannet.postprocess import instances_from_probabilities
from biomedai.methods.nuclei_hannet.training import train_network

DEFAULT_DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "nuclei"


PEER_FEATURES = (32, 32, 64, 128, 256, 32)


class PeerUNetPlusPlus(torch.nn.Module):
    """MONAI BasicUNetPlusPlus (2.4 M parameters at these features), 3 classes, first output only."""

    def __init__(self, features=PEER_FEATURES) -> None:
        super().__init__()
        from monai.networks.nets import BasicUNetPlusPlus

        self.net = BasicUNetPlusPlus(spatial_dims=2, in_channels=3, out_channels=3, features=features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[0]


_POOL = None  # a fork pool made before CUDA starts, for the CPU-bound scoring


def _score_pair(pair):
    return score_tile(*pair)


def _classical_pair(image):
    return classical_nuclei(image)


def _score(segment, tiles) -> dict:
    preds, seconds = [], []
    if segment is classical_nuclei and _POOL is not None:
        start = time.perf_counter()
        preds = _POOL.map(_classical_pair, [t.image for t in tiles])
        seconds = [(time.perf_counter() - start) / len(tiles)] * len(tiles)
    else:
        for t in tiles:
            start = time.perf_counter()
            preds.append(segment(t.image))
            seconds.append(time.perf_counter() - start)
    pairs = [(t.labels, pred) for t, pred in zip(tiles, preds)]
    scores = _POOL.map(_score_pair, pairs) if _POOL is not None else [score_tile(*pair) for pair in pairs]
    rows = [{"dataset": t.dataset, "tile": t.name, **sc, "seconds": sec} for t, sc, sec in zip(tiles, scores, seconds)]
    return {name: {"mean": mean_scores([r for r in rows if r["dataset"] == name]),
                   "tiles": [r for r in rows if r["dataset"] == name]} for name in sorted({r["dataset"] for r in rows})}


def run_network(name: str, args, train, val, test) -> dict:
    overrides = {"base_channels": args.base_channels, "growth_rate": args.growth_rate, "crop_size": args.crop_size,
                 "batch_size": args.batch_size, "crops_per_tile": args.crops_per_tile, "max_minutes": args.minutes,
                 "epochs": args.epochs, "device": args.device, "num_workers": args.workers, "val_every": args.val_every,
                 "seed": args.seed, "tta": args.tta, "lr": args.lr, "lr_schedule": args.lr_schedule,
                 "loss": args.loss, "class_weights": tuple(args.class_weights), "val_from": args.val_from,
                 "postprocess": args.postprocess[0], "split_h": args.split_h, "time_budget_clock": args.budget_clock}
    if args.norm:
        overrides["norm"] = args.norm
    variant = "hannet" if name == "peer" else name
    method = HanNetMethod(dict(overrides, variant=variant))
    cfg = method.config
    run_name = f"{name}_seed{args.seed}" if args.seeds else name  # one run folder per seed
    out = Path(args.runs_dir or args.out) / run_name
    ckpt = Path(args.checkpoints) / run_name / "weights.pt" if args.checkpoints else None
    start, cpu_start = time.perf_counter(), time.process_time()
    if name == "peer":
        from biomedai.train import load_weights

        torch.manual_seed(cfg.seed)
        model = PeerUNetPlusPlus(tuple(args.peer_features))
        if ckpt is not None and ckpt.is_file():
            load_weights(model, ckpt)
            history = "loaded"
        else:
            seg = NucleiSegmenter(model, cfg, {"stain_normalization": "none"})

            def val_score(net):
                seg.model = net
                return {"aji": float(np.mean([score_tile(t.labels, seg.segment_small(t.image))["aji"] for t in val]))}

            result = train_network(model, [(t.image, t.labels) for t in train], val_score, out, cfg)
            load_weights(model, result.weights)
            history = f"{result.epochs_completed} ep / {result.global_step} steps, best ep {result.best_epoch}"
        seg = NucleiSegmenter(model.to(next(model.parameters()).device), cfg, {"stain_normalization": "none"})
    else:
        if ckpt is not None and ckpt.is_file():
            seg = NucleiSegmenter.from_weights(ckpt, cfg)
            history = "loaded"
        else:
            result, _ = method.fit(train, val, out)
            seg = NucleiSegmenter.from_weights(result.weights, cfg)
            history = f"{result.epochs_completed} ep / {result.global_step} steps, best ep {result.best_epoch}"
    train_s = time.perf_counter() - start
    cpu_s = time.process_time() - cpu_start
    seg.model.eval()
    probs: dict[int, np.ndarray] = {}  # one forward pass per tile, scored with every post-processing

    def segment_with(method: str):
        def segment(image: np.ndarray) -> np.ndarray:
            if id(image) not in probs:
                probs[id(image)] = seg.probabilities(image)
            return instances_from_probabilities(probs[id(image)], method, cfg.min_object_size, cfg.grow_radius,
                                                split_h=cfg.split_h, split_sigma=cfg.split_sigma)
        return segment

    out = []
    for k, method in enumerate(args.postprocess):
        out.append({"name": name if k == 0 else f"{name} ({method})", "postprocess": method,
                    "parameters": count_parameters(seg.model), "train_seconds": round(train_s, 1),
                    "train_cpu_seconds": round(cpu_s, 1), "epochs": history,
                    "scores": _score(segment_with(method), test)})
    return out


def _write_json(args, machine: str, results: list) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quality.json").write_text(json.dumps({"machine": machine, "args": {k: str(v) for k, v in
                                                                                    vars(args).items()},
                                                       "results": results}, indent=1, default=float))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--out", type=Path, default=Path("benchmark-output/nuclei_quality"))
    p.add_argument("--models", nargs="+", default=[*VARIANTS, "peer", "classical"])
    p.add_argument("--minutes", type=float, default=3.0, help="training time per network")
    p.add_argument("--epochs", type=int, default=100000,
                   help="at most this many epochs (equal-steps comparisons: a large --minutes and a fixed --epochs)")
    p.add_argument("--base-channels", type=int, default=8)
    p.add_argument("--growth-rate", type=int, default=4)
    p.add_argument("--norm", default=None, choices=["batch", "instance"],
                   help="Han-Net family normalisation (default: the method's default)")
    p.add_argument("--crop-size", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--crops-per-tile", type=int, default=8)
    p.add_argument("--val-every", type=int, default=2)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="train every network once per seed; adds mean and SD over seeds per model")
    p.add_argument("--tta", action="store_true")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-schedule", default="onecycle", choices=["constant", "cosine", "onecycle"])
    p.add_argument("--loss", default="ce_dice", choices=["ce", "ce_dice"])
    p.add_argument("--class-weights", type=float, nargs=3, default=[1.0, 1.0, 2.0])
    p.add_argument("--postprocess", nargs="+", default=["distance", "morphological"],
                   choices=["morphological", "watershed", "distance"],
                   help="post-processing(s) to score; the first one also selects the best checkpoint")
    p.add_argument("--split-h", type=float, default=1.0, help="h of the 'distance' post-processing")
    p.add_argument("--budget-clock", default="wall", choices=["wall", "cpu"],
                   help="--minutes of wall-clock or of this process's CPU time (fairer on a shared machine)")
    p.add_argument("--val-from", type=float, default=0.5, help="validate only after this fraction of training")
    p.add_argument("--peer-features", type=int, nargs=6, default=list(PEER_FEATURES),
                   help="BasicUNetPlusPlus features (13 13 26 52 104 13 matches Han-Net base 8 / growth 4)")
    p.add_argument("--checkpoints", type=Path, default=None)
    p.add_argument("--runs-dir", type=Path, default=None, help="where training runs go (default: --out)")
    p.add_argument("--split", default="default",
                   help="'default' (gbm40 = unseen-source test set), 'all_sources' (both sources in training, "
                        "held-out tiles of each to test on) or a split JSON file")
    p.add_argument("--test-sets", nargs="+", default=None, help="only these test sets (default: all)")
    p.add_argument("--jobs", type=int, default=1, help="processes for scoring and the classical baseline")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True  # fixed-size training crops: let cuDNN pick its fastest kernels
    global _POOL
    if args.jobs > 1:
        import multiprocessing

        _POOL = multiprocessing.get_context("fork").Pool(args.jobs)  # before CUDA is initialised
    if not args.data.is_dir():
        print(f"data folder {args.data} not found; pass --data", file=sys.stderr)
        return 2
    split = load_split_file(args.split)
    train, val = load_tiles(args.data, "train", split), load_tiles(args.data, "val", split)
    test = load_tiles(args.data, "test", split, datasets=args.test_sets)
    machine = (torch.cuda.get_device_name(0) if args.device.startswith("cuda") and torch.cuda.is_available()
               else f"CPU ({platform.processor() or platform.machine()}, {args.threads} thread(s))")
    print(f"split {args.split}: train {len(train)} tiles, val {len(val)}, test {len(test)}; machine: {machine}")
    results = []
    for name in args.models:
        if name == "classical":
            start = time.perf_counter()
            results.append({"name": "classical", "parameters": 0, "train_seconds": 0.0, "epochs": "-",
                            "scores": _score(classical_nuclei, test), "seconds": time.perf_counter() - start})
        else:
            for seed in args.seeds or [args.seed]:
                rows = run_network(name, argparse.Namespace(**{**vars(args), "seed": seed}), train, val, test)
                for r in rows:
                    r["seed"] = seed
                    if args.seeds:
                        r["name"] += f" [seed {seed}]"
                results += rows
        n_new = 1 if name == "classical" else len(args.postprocess) * len(args.seeds or [args.seed])
        for r in results[-n_new:]:
            print(f"{r['name']}: " + ", ".join(f"{d} AJI {v['mean']['aji']:.4f}" for d, v in r["scores"].items()),
                  flush=True)
        _write_json(args, machine, results)  # after every model, so a run cut short keeps what finished
    sets = sorted({d for r in results for d in r["scores"]})
    cols = ["f1", "dice", "aji", "hausdorff", "pq"]
    header = ("| model | params | train s (CPU s) | training | " + " | ".join(f"{d} {c}" for d in sets for c in cols)
              + " |")
    print()
    import os

    load = " ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(f"machine: {machine}; width {args.base_channels}, growth {args.growth_rate}, {args.minutes} min per network; "
          f"recipe: lr {args.lr} {args.lr_schedule}, loss {args.loss}; load average at the end {load}")
    print(header)
    print("|" + "---|" * (4 + len(sets) * len(cols)))
    for r in results:
        cells = [f"{r['scores'][d]['mean'][c]:.4f}" if d in r["scores"] else "-" for d in sets for c in cols]
        print(f"| {r['name']} | {r['parameters'] / 1e6:.2f} M | {r['train_seconds']} ({r.get('train_cpu_seconds', 0)}) "
              f"| {r['epochs']} | "
              + " | ".join(cells) + " |")
    if args.seeds and len(args.seeds) > 1:
        print()
        print(_seed_summary(results, sets))
    return 0


def _seed_summary(results: list, sets: list) -> str:
    """Mean +- SD of AJI over seeds, per model and post-processing (networks trained once per seed)."""
    groups: dict[str, list] = {}
    for r in results:
        if "seed" in r:
            groups.setdefault(r["name"].rsplit(" [seed", 1)[0], []).append(r)
    lines = ["| model (AJI over seeds) | seeds | " + " | ".join(sets) + " |", "|---|---|" + "---|" * len(sets)]
    for name, rows in groups.items():
        cells = []
        for d in sets:
            values = np.array([r["scores"][d]["mean"]["aji"] for r in rows if d in r["scores"]])
            cells.append(f"{values.mean():.4f} +- {values.std(ddof=1) if values.size > 1 else 0.0:.4f}")
        lines.append(f"| {name} | {len(rows)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
