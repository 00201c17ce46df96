"""Per lung, lobe and HU bin: region volume, lesion volume (cm³) and lesion percentage.

Volumes are voxel counts times the voxel volume (anisotropic spacing, mm³ / 1000 = cm³);
percentage = lesion volume in the region / region volume x 100 (spec 3.6 modules 5-7).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .config import CovidCTConfig
from .lesions import hu_bin_index
from .lobes import LOBE_NAMES
from .lungs import LUNG_NAMES

COLUMNS = ["region", "kind", "region_ml", "lesion_ml", "lesion_pct", "hu_bin", "bin_lesion_ml", "bin_lesion_pct",
           "bin_region_ml"]


def region_masks(lung_labels: np.ndarray, lobe_labels: np.ndarray | None) -> list[tuple[str, str, np.ndarray]]:
    """``(name, kind, mask)`` for the whole lung, each lung and each lobe present."""
    regions = [("whole lung", "lung", lung_labels > 0)]
    regions += [(name, "lung", lung_labels == value) for value, name in LUNG_NAMES.items()]
    if lobe_labels is not None:
        regions += [(name, "lobe", lobe_labels == value) for value, name in LOBE_NAMES.items()
                    if np.any(lobe_labels == value)]
    return regions


def quantify(hu: np.ndarray, spacing: tuple[float, ...], lung_labels: np.ndarray, lobe_labels: np.ndarray | None,
             lesion: np.ndarray, config: CovidCTConfig | None = None) -> list[dict[str, Any]]:
    """One row per region and HU bin (see :data:`COLUMNS`); the ``hu_bin == "all"`` row holds the totals."""
    config = config or CovidCTConfig()
    voxel_ml = float(np.prod(spacing)) / 1000.0
    bins = hu_bin_index(hu, config.hu_edges)
    rows: list[dict[str, Any]] = []
    n_bins = len(config.hu_edges) + 1
    for name, kind, mask in region_masks(lung_labels, lobe_labels):
        region_ml = float(mask.sum()) * voxel_ml
        in_lesion = mask & lesion
        lesion_ml = float(in_lesion.sum()) * voxel_ml
        pct = 100.0 * lesion_ml / region_ml if region_ml > 0 else float("nan")
        lesion_counts = np.bincount(bins[in_lesion], minlength=n_bins)
        region_counts = np.bincount(bins[mask], minlength=n_bins)
        base = {"region": name, "kind": kind, "region_ml": round(region_ml, 4), "lesion_ml": round(lesion_ml, 4),
                "lesion_pct": round(pct, 4)}
        rows.append({**base, "hu_bin": "all", "bin_lesion_ml": round(lesion_ml, 4), "bin_lesion_pct": round(pct, 4),
                     "bin_region_ml": round(region_ml, 4)})
        for b in range(n_bins):
            b_ml = float(lesion_counts[b]) * voxel_ml
            rows.append({**base, "hu_bin": config.hu_bin_names[b], "bin_lesion_ml": round(b_ml, 4),
                         "bin_lesion_pct": round(100.0 * b_ml / region_ml, 4) if region_ml > 0 else float("nan"),
                         "bin_region_ml": round(float(region_counts[b]) * voxel_ml, 4)})
    return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Headline numbers: per region (all bins) volume, lesion volume and percentage; per bin for the whole lung."""
    out: dict[str, Any] = {"regions": {}, "whole_lung_bins": {}}
    for row in rows:
        if row["hu_bin"] == "all":
            out["regions"][row["region"]] = {"region_ml": row["region_ml"], "lesion_ml": row["lesion_ml"],
                                             "lesion_pct": row["lesion_pct"]}
        elif row["region"] == "whole lung":
            out["whole_lung_bins"][row["hu_bin"]] = {"lesion_ml": row["bin_lesion_ml"],
                                                     "lesion_pct": row["bin_lesion_pct"],
                                                     "lung_ml_in_bin": row["bin_region_ml"]}
    return out
