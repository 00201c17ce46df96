"""Run the lesion phantom end to end on one CT: baseline analysis, insertion, analysis, recovery table."""
from __future__ import annotations

from typing import Any

import numpy as np

from .case import CaseResult, analyse_hu
from .config import CovidCTConfig
from .ct_input import ChestCT
from .phantom import insert_lesions, plan_lesions, recovery_table


def run_phantom(ct: ChestCT, config: CovidCTConfig, n_lesions: int = 8, lower_lobe_predominant: bool = True,
                peripheral_fraction: float = 0.75, seed: int = 0) -> tuple[list[dict[str, Any]], CaseResult]:
    """``(per-lesion recovery rows, analysis of the phantom CT)``; rows say SIMULATED."""
    baseline = analyse_hu(ct, config)
    if baseline.lobes is None:
        raise ValueError("the phantom needs a 3-D CT (lobes)")
    lesions = plan_lesions(baseline.lobes, baseline.lungs.lung, baseline.lesion, ct.spacing, n_lesions,
                           lower_lobe_predominant, peripheral_fraction, seed)
    hu, truth = insert_lesions(ct.hu, ct.spacing, lesions, seed)
    phantom_ct = ChestCT(hu, ct.spacing, ct.image.with_array(hu), ct.source, [])
    result = analyse_hu(phantom_ct, config)
    rows = recovery_table(lesions, truth, result.lesion, hu, ct.spacing, config.hu_edges, config.hu_bin_names)
    return rows, result


def recovery_by(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """True and recovered volume summed by ``key`` (e.g. ``lobe``, ``kind``, ``placement``)."""
    out: dict[str, dict[str, float]] = {}
    for row in rows:
        group = out.setdefault(str(row[key]), {"true_ml": 0.0, "recovered_ml": 0.0, "n": 0})
        group["true_ml"] += row["volume_ml"]
        group["recovered_ml"] += row["recovered_ml"]
        group["n"] += 1
    return [{key: name, "n": int(v["n"]), "true_ml": round(v["true_ml"], 3), "recovered_ml": round(v["recovered_ml"], 3),
             "error_pct": round(100.0 * (v["recovered_ml"] - v["true_ml"]) / v["true_ml"], 2)}
            for name, v in sorted(out.items())]


def downsample_ct(ct: ChestCT, factor: int) -> ChestCT:
    """An in-plane block-mean downsampled copy (for quick tests); spacing grows by ``factor``."""
    z, y, x = ct.hu.shape
    hu = ct.hu[:, : y - y % factor, : x - x % factor]
    hu = hu.reshape(z, hu.shape[1] // factor, factor, hu.shape[2] // factor, factor).mean(axis=(2, 4))
    spacing = (ct.spacing[0], ct.spacing[1] * factor, ct.spacing[2] * factor)
    image = ct.image.with_array(hu.astype(np.float32), spacing=spacing)
    return ChestCT(hu.astype(np.float32), spacing, image, ct.source, [])
