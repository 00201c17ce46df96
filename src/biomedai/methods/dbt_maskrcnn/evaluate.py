"""The paper's tables from per-view detections: Table 2 (FPs at sensitivities, lesion and breast based), Table 3
(FPs per breast at 90 % sensitivity by subgroup, bootstrap AUFC p-values), Table 4 (mask AP@0.5, FNR, Dice by
subgroup) and the per-lesion segmentation scores behind it.

Segmentation (spec 1.7 decisions): AP = COCO mask AP at IoU 0.5 over the test lesions; a lesion's predicted
mask is that of the highest-scoring detection hitting it (3-D box IoU > 0.5); FNR = missed mass voxels over
mass voxels (1 for a missed lesion); Dice likewise (0 for a missed lesion).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from biomedai.metrics.detection import coco_mask_average_precision

from .data import ViewRecord
from .froc import (TABLE2_SENSITIVITIES, ViewDetections, aufc, bootstrap_aufc_difference, fps_at_sensitivities,
                   froc, lesion_hits)
from .inference import VolumeDetections, full_masks

logger = logging.getLogger(__name__)

__all__ = ["to_view_detections", "validation_froc", "SUBGROUPS", "subgroup_of", "table2", "lesion_segmentation",
           "table4", "table3", "aufc_tests"]


def to_view_detections(records: Sequence[ViewRecord], found: Mapping[str, VolumeDetections],
                       slice_of: Mapping[str, int] | None = None) -> list[ViewDetections]:
    """FROC inputs; with ``slice_of`` (view -> slice) the truth is the mass's 2-D box on that one slice."""
    out = []
    for r in records:
        det = found[r.view_id]
        truth = r.box[None]
        if slice_of is not None:
            z = slice_of[r.view_id]
            idx = np.argwhere(r.mask[z])
            truth = np.array([[z, *idx.min(0), z + 1, *(idx.max(0) + 1)]], float)
        out.append(ViewDetections(r.view_id, r.breast_id, truth, det.boxes, det.scores))
    return out


def validation_froc(records: Sequence[ViewRecord], detect: Callable[[ViewRecord], VolumeDetections],
                    prefix: str = "val_") -> dict[str, float]:
    """Whole-view detection scores for choosing a checkpoint: lesion-based AUFC (0-3 FPs per view, normalised)
    and the sensitivity at up to 1 FP per view, with the hit rule of the tables (3-D box IoU > 0.5).

    A patch loss does not rank detectors: it rises as the classifier grows confident while the boxes improve.
    """
    views = to_view_detections(records, {r.view_id: detect(r) for r in records})
    curve = froc(views, "lesion")
    fps, sens = np.asarray(curve.fps_per_image, float), np.asarray(curve.sensitivity, float)
    within = sens[fps <= 1.0 + 1e-9]
    return {f"{prefix}aufc": aufc(curve), f"{prefix}sens_at_1fp": float(within.max()) if within.size else 0.0}


def _age_group(age: float) -> str:
    for lo, hi, name in ((0, 40, "<40"), (40, 50, "40-49"), (50, 60, "50-59"), (60, 70, "60-69")):
        if lo <= age < hi:
            return name
    return ">70"


def _diameter_group(d: float) -> str:
    return "d<30" if d < 30 else ("30<=d<50" if d < 50 else "d>=50")


#: Tables 3-4 subgroups: (variable, value getter on the clinical row)
SUBGROUPS: dict[str, Callable[[Mapping[str, str]], str]] = {
    "age": lambda c: _age_group(float(c["age"])),
    "histology": lambda c: c["histology"],
    "mass type": lambda c: c["mass_type"],
    "density": lambda c: c["density"],
    "diameter": lambda c: _diameter_group(float(c["max_diameter_mm"])),
}


def subgroup_of(records: Sequence[ViewRecord]) -> dict[str, dict[str, list[str]]]:
    """variable -> value -> view ids, with "All" first."""
    groups: dict[str, dict[str, list[str]]] = {"All": {"all": [r.view_id for r in records]}}
    for var, get in SUBGROUPS.items():
        for r in records:
            groups.setdefault(var, {}).setdefault(get(r.clinical), []).append(r.view_id)
    return groups


def table2(systems: Mapping[str, Sequence[ViewDetections]],
           sensitivities: Sequence[float] = TABLE2_SENSITIVITIES) -> list[dict[str, object]]:
    """Rows ``{"sensitivity": s, "<system> L": fps, "<system> B": fps, ...}`` (NaN where never reached)."""
    curves = {name: (fps_at_sensitivities(froc(v, "lesion"), sensitivities),
                     fps_at_sensitivities(froc(v, "breast"), sensitivities)) for name, v in systems.items()}
    rows = []
    for k, s in enumerate(sensitivities):
        row: dict[str, object] = {"sensitivity": round(100 * s)}
        for name, (lesion, breast) in curves.items():
            row[f"{name} L"] = float(lesion[k])
            row[f"{name} B"] = float(breast[k])
        rows.append(row)
    return rows


def aufc_tests(reference: str, systems: Mapping[str, Sequence[ViewDetections]], n_resamples: int = 2000,
               seed: int = 0) -> list[dict[str, object]]:
    """Breast-based AUFC of every system and the bootstrap test of ``reference`` against each other one."""
    rows = []
    for name, views in systems.items():
        row: dict[str, object] = {"system": name, "AUFC_breast": aufc(froc(views, "breast")),
                                  "AUFC_lesion": aufc(froc(views, "lesion"))}
        if name != reference:
            cmp = bootstrap_aufc_difference(systems[reference], views, n_resamples=n_resamples, seed=seed)
            row.update({"vs": reference, "difference": cmp.difference, "ci_low": cmp.ci_low,
                        "ci_high": cmp.ci_high, "p_value": cmp.p_value, "n_breasts": cmp.n_breasts})
        rows.append(row)
    return rows


def lesion_segmentation(records: Sequence[ViewRecord], found: Mapping[str, VolumeDetections]) -> dict[str, dict[str, float]]:
    """Per view: Dice and FNR of the best-scoring detection hitting the lesion (missed: Dice 0, FNR 1)."""
    out = {}
    for r in records:
        det = found[r.view_id]
        hits = lesion_hits(r.box[None], det.boxes)
        truth = r.mask
        dice, fnr = 0.0, 1.0
        if (hits == 0).any():
            k = int(np.argmax(np.where(hits == 0, det.scores, -np.inf)))
            pred = full_masks(VolumeDetections(det.boxes[k:k + 1], det.scores[k:k + 1], [det.masks[k]]),
                              truth.shape)[0]
            inter = float((pred & truth).sum())
            dice = 2 * inter / max(float(pred.sum() + truth.sum()), 1.0)
            fnr = 1.0 - inter / max(float(truth.sum()), 1.0)
        out[r.view_id] = {"dice": dice, "fnr": fnr}
    return out


def _mask_ap(records: Sequence[ViewRecord], found: Mapping[str, VolumeDetections]) -> float:
    true_masks = [r.mask[None] for r in records]
    pred = [full_masks(found[r.view_id], r.mask.shape) for r in records]
    scores = [found[r.view_id].scores for r in records]
    return float(coco_mask_average_precision(true_masks, pred, scores, max_detections=(100,))["AP50"])


def table4(records: Sequence[ViewRecord], systems: Mapping[str, Mapping[str, VolumeDetections]]) -> list[dict[str, object]]:
    """Mask AP@0.5, FNR and Dice per system, for all views and each subgroup (Table 4 layout)."""
    seg = {name: lesion_segmentation(records, found) for name, found in systems.items()}
    by_id = {r.view_id: r for r in records}
    rows = []
    for var, values in subgroup_of(records).items():
        for value, ids in sorted(values.items()):
            row: dict[str, object] = {"variable": var, "group": value, "n_views": len(ids)}
            subset = [by_id[i] for i in ids]
            for name, found in systems.items():
                row[f"{name} AP"] = _mask_ap(subset, found)
                row[f"{name} FNR"] = float(np.mean([seg[name][i]["fnr"] for i in ids]))
                row[f"{name} Dice"] = float(np.mean([seg[name][i]["dice"] for i in ids]))
            rows.append(row)
    return rows


def table3(records: Sequence[ViewRecord], systems: Mapping[str, Sequence[ViewDetections]], reference: str,
           n_resamples: int = 2000, seed: int = 0) -> list[dict[str, object]]:
    """FPs per breast at 90 % sensitivity per subgroup, and bootstrap AUFC p-values of ``reference`` vs others."""
    rows = []
    for var, values in subgroup_of(records).items():
        for value, ids in sorted(values.items()):
            keep = set(ids)
            row: dict[str, object] = {"variable": var, "group": value, "n_views": len(ids)}
            sub = {name: [v for v in views if v.view_id in keep] for name, views in systems.items()}
            for name, views in sub.items():
                row[f"{name} FP@90"] = float(fps_at_sensitivities(froc(views, "breast"), [0.9])[0])
            for name, views in sub.items():
                if name == reference:
                    continue
                n_breasts = len({v.breast_id for v in views})
                row[f"p {reference} vs {name}"] = (
                    bootstrap_aufc_difference(sub[reference], views, n_resamples=n_resamples, seed=seed).p_value
                    if n_breasts >= 2 else float("nan"))
            rows.append(row)
    return rows
