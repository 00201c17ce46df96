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

from collections.abc import Sequence
from typing import Any

import numpy as np

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
