"""The evaluation protocol (one function, used by ``evaluate``, the benchmarks and the tests).

Per tile, ground truth and prediction instance maps (ids need not be consecutive):

* ``aji``: Aggregated Jaccard Index (Kumar et al. 2017): each true nucleus paired with the prediction of
  highest IoU; unpaired predictions add their area to the union. Object level. The paper's AJI.
* ``aji_plus``: AJI+ (HoVer-Net), one-to-one pairing.
* ``f1``: object-level detection F1, a prediction matching a true nucleus at IoU > 0.5 (one to one).
* ``dice``: object-level Dice of Sirinukunwattana et al. (GlaS), area weighted, both directions.
* ``hausdorff``: object-level Hausdorff distance (GlaS definition), pixels.
* ``pq``, ``dq``, ``sq``: panoptic quality at IoU > 0.5 (Kirillov; HoVer-Net for nuclei).
* ``pixel_dice``: Dice of the binary foreground masks (pixel level).

The paper reports F1 and Dice "from pixel level" and AJI/H "from object level", but its F1 != Dice, which
cannot both hold on binary masks (spec 3.7); we report object-level F1, object-level Dice *and* pixel
Dice, and say which is which. Means over tiles are unweighted (each tile counts once).
"""
from __future__ import annotations

import csv
import io
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.utils import write_text_atomic
from biomedai.viz import save_png

from .report import contour_overlay, metrics_table_html

METRICS = ("aji", "aji_plus", "f1", "dice", "hausdorff", "pq", "dq", "sq", "pixel_dice")


def score_tile(true: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Every metric of the protocol for one tile."""
    from biomedai.metrics import aji, aji_plus, dice, object_dice, object_f1, object_hausdorff, panoptic_quality

    true = np.asarray(true).astype(np.int64)
    pred = np.asarray(pred).astype(np.int64)
    pq = panoptic_quality(true, pred)
    return {
        "aji": aji(true, pred),
        "aji_plus": aji_plus(true, pred),
        "f1": object_f1(true, pred),
        "dice": object_dice(true, pred),
        "hausdorff": object_hausdorff(true, pred),
        "pq": pq.pq, "dq": pq.dq, "sq": pq.sq,
        "pixel_dice": dice(true > 0, pred > 0),
        "n_true": int(np.unique(true[true > 0]).size),
        "n_pred": int(np.unique(pred[pred > 0]).size),
    }


def mean_scores(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Unweighted mean of each metric over tiles (``hausdorff`` ignores infinite values)."""
    out: dict[str, float] = {}
    for key in METRICS:
        values = np.array([float(r[key]) for r in rows if key in r], dtype=float)
        values = values[np.isfinite(values)]
        out[key] = float(values.mean()) if values.size else float("nan")
    out["n_tiles"] = len(rows)
    return out


def evaluate_tiles(segment: Any, tiles: Sequence[Any], output_dir: Path, title: str,
                   n_overlays: int = 6) -> tuple[dict[str, Any], list[Path]]:
    """Segment each tile, score it (per tile and mean per data set), write CSV, overlays and HTML."""
    output_dir.mkdir(parents=True, exist_ok=True)
    rows, files, figures = [], [], []
    for k, t in enumerate(tiles):
        start = time.perf_counter()
        pred = segment(t.image)
        seconds = time.perf_counter() - start
        row = {"dataset": t.dataset, "tile": t.name, **score_tile(t.labels, pred), "seconds": round(seconds, 3)}
        rows.append(row)
        if k < n_overlays:
            png = save_png(contour_overlay(t.image, pred, truth=t.labels), output_dir / f"{t.dataset}_{t.name}.png")
            files.append(png)
            figures.append((png.name, f"{t.dataset}/{t.name} AJI {row['aji']:.3f}"))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    files.append(write_text_atomic(output_dir / "per_tile.csv", buffer.getvalue()))
    metrics: dict[str, Any] = {}
    summary_rows = []
    for name in sorted({r["dataset"] for r in rows}):
        mean = mean_scores([r for r in rows if r["dataset"] == name])
        metrics[name] = mean
        summary_rows.append({"dataset": name, **{k: round(v, 4) for k, v in mean.items()}})
        for key in ("aji", "f1", "dice", "pq", "hausdorff"):
            metrics[f"{name}_{key}"] = mean[key]
    metrics["metrics"] = list(METRICS)
    files.append(metrics_table_html(summary_rows + [{k: (round(v, 4) if isinstance(v, float) else v)
                                                      for k, v in r.items()} for r in rows],
                                    title, output_dir / "evaluation.html", figures))
    return metrics, files
