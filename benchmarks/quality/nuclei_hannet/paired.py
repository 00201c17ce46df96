"""Is a gap between two networks real? Paired per-tile comparison over the ``quality.json`` of several runs.

Each ``quality.json`` is one run of ``benchmarks/quality/nuclei_hannet/quality.py`` (one seed, or several with ``--seeds``;
a model is paired with the other on the same seed; the classical baseline has no seed and pairs with every
one). A model's score on a tile is its mean over the seeds, so the tile is the unit: seeds of one tile are
not independent samples. The two models' scores on a tile form a pair. Prints, per test set and over all tiles: the mean of each model,
the mean paired difference with its bootstrap 95 % interval (over tiles), the tiles won, and the two-sided
Wilcoxon signed-rank p-value. A gap whose interval spans 0 is a tie on this data.

Example::

    python benchmarks/quality/nuclei_hannet/paired.py runs/s0/quality.json runs/s1/quality.json --a hannet --b peer
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
from scipy.stats import wilcoxon

from biomedai.metrics.bootstrap import bootstrap_ci

log = logging.getLogger("nuclei_paired")


def paired_scores(files: list[Path], a: str, b: str, metric: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{test set: (scores of a, scores of b)}``, one entry per tile (mean over the runs), in the same order."""
    per_tile: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    for path in files:
        try:
            rows = json.loads(path.read_text())["results"]
            runs = {(r["name"].rsplit(" [seed", 1)[0], r.get("seed")): r for r in rows}  # --seeds names "x [seed 1]"
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SystemExit(f"{path}: not a benchmarks/quality/nuclei_hannet/quality.py quality.json ({exc})") from exc
        def partner(seed: object) -> dict | None:
            return runs.get((b, seed)) or runs.get((b, None))

        seeds = sorted({seed for name, seed in runs if name == a and partner(seed) is not None}, key=str)
        if not seeds:
            raise SystemExit(f"{path}: no run with both {a!r} and {b!r} (same seed); it has "
                             f"{sorted({name for name, _ in runs})}")
        for seed in seeds:
            ra, rb = runs[(a, seed)], partner(seed)
            for dataset, block in ra["scores"].items():
                other = {t["tile"]: t[metric] for t in rb["scores"].get(dataset, {}).get("tiles", [])}
                for tile in block["tiles"]:
                    if tile["tile"] not in other:
                        raise SystemExit(f"{path}: tile {dataset}/{tile['tile']} scored for {a!r} but not {b!r}")
                    xs, ys = per_tile.setdefault((dataset, tile["tile"]), ([], []))
                    xs.append(float(tile[metric]))
                    ys.append(float(other[tile["tile"]]))
    pairs: dict[str, tuple[list[float], list[float]]] = {}
    for (dataset, _), (xs, ys) in sorted(per_tile.items()):
        pairs.setdefault(dataset, ([], []))[0].append(float(np.mean(xs)))
        pairs[dataset][1].append(float(np.mean(ys)))
    return {k: (np.asarray(x), np.asarray(y)) for k, (x, y) in pairs.items()}


def summary_row(label: str, x: np.ndarray, y: np.ndarray) -> str:
    diff = x - y
    ci = bootstrap_ci(lambda d: float(np.mean(d)), diff, n_resamples=10000)  # over tiles
    p = wilcoxon(x, y).pvalue if np.any(diff != 0) else 1.0
    return (f"| {label} | {len(x)} | {x.mean():.4f} | {y.mean():.4f} | {ci.estimate:+.4f} [{ci.low:+.4f}, {ci.high:+.4f}] | "
            f"{int((diff > 0).sum())} / {len(x)} | {p:.3f} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("quality", nargs="+", type=Path, help="quality.json files, one per run (seed)")
    p.add_argument("--a", default="hannet", help="first model (its name in quality.json)")
    p.add_argument("--b", default="peer", help="second model")
    p.add_argument("--metric", default="aji")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    pairs = paired_scores(args.quality, args.a, args.b, args.metric)
    log.info("%s: %s vs %s over %d run(s)", args.metric, args.a, args.b, len(args.quality))
    log.info("| test set | tiles | %s | %s | mean difference [95 %% bootstrap] | %s wins | Wilcoxon p |",
             args.a, args.b, args.a)
    log.info("|---|---|---|---|---|---|---|")
    for dataset, (x, y) in sorted(pairs.items()):
        log.info(summary_row(dataset, x, y))
    x = np.concatenate([v[0] for v in pairs.values()])
    y = np.concatenate([v[1] for v in pairs.values()])
    log.info(summary_row("all", x, y))
    return 0


if __name__ == "__main__":
    sys.exit(main())
