"""Scoring against manual segmentations: pixel metrics inside the FOV, clDice, length density and junction
errors for the segmentation path, the detector path and the classical baseline; the baseline threshold is
chosen on training images only. The centre-line F1 (``biomedai.metrics.centreline_scores``, 4 px) compares the
skeleton of the manual mask with each path's centre line (the mask's skeleton, or the detector's polylines), so
the three paths get one tracing score.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from biomedai.metrics.segmentation import centreline_scores, cldice

from .analysis import ImageAnalysis
from .baseline import vesselness
from .compare import percent_error
from .config import VesselsConfig
from .datasets import VesselCase
from .imaging import load_vessel_image, network_input, read_fov_mask
from .measures import skeleton_measures, skeleton_of
from .polylines import rasterise
from .segmentation import best_dice_threshold, pixel_scores

logger = logging.getLogger(__name__)


def choose_baseline_threshold(cases: Sequence[VesselCase], cfg: VesselsConfig) -> tuple[float, float]:
    """The vesselness threshold maximising the pooled Dice on ``cases`` (training images), and that Dice."""
    scores, truths, fovs = [], [], []
    for case in cases:
        image = load_vessel_image(case.image, channel=cfg.channel, fov_mask=case.fov)
        x = network_input(image.plane, image.fov, vessels_dark=cfg.vessels_dark, clahe=cfg.clahe,
                          clip_limit=cfg.clahe_clip_limit)
        scores.append(vesselness(x, image.fov, kind=cfg.baseline, sigmas=cfg.baseline_sigmas))
        truths.append(read_fov_mask(case.manual, image.plane.shape) if case.manual else np.zeros(x.shape, bool))
        fovs.append(image.fov)
    return best_dice_threshold(scores, truths, fovs, grid=np.round(np.arange(0.02, 0.61, 0.01), 2))


def _mask_row(prefix: str, truth: np.ndarray, fov: np.ndarray, score: np.ndarray | None, mask: np.ndarray,
              measures: dict[str, Any], manual: dict[str, Any], threshold: float) -> dict[str, Any]:
    row: dict[str, Any] = {}
    if score is not None:
        s = pixel_scores(score, truth, fov, threshold)
        row.update({f"{prefix}_auc": s["auc"], f"{prefix}_accuracy": s["accuracy"], f"{prefix}_dice": s["dice"]})
    row[f"{prefix}_cldice"] = cldice(truth & fov, mask & fov)
    row[f"{prefix}_centreline_f1"] = centreline_scores(skeleton_of(truth & fov), skeleton_of(mask & fov))["f1"]
    row.update(_length_row(prefix, measures, manual))
    return row


def _length_row(prefix: str, measures: dict[str, Any], manual: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}_length_density": measures["length_density"],
            f"{prefix}_length_percent_error": percent_error(manual["length_density"], measures["length_density"]),
            f"{prefix}_junctions": measures.get("junctions", float("nan")),
            f"{prefix}_junction_error": abs(measures.get("junctions", np.nan) - manual["junctions"]),
            f"{prefix}_junction_percent_error": percent_error(manual["junctions"], measures.get("junctions", np.nan))}


def score_case(case: VesselCase, analysis: ImageAnalysis, baseline_threshold: float | None) -> dict[str, Any]:
    """One row of per-image scores for every path that ran on the case."""
    image = analysis.image
    truth = read_fov_mask(case.manual, image.plane.shape) if case.manual else np.zeros(image.plane.shape, bool)
    fov = image.fov
    manual = skeleton_measures(truth & fov, spacing=image.pixel_size_um, area_mask=fov)
    row: dict[str, Any] = {"case": case.case_id, "manual_length_density": manual["length_density"],
                           "manual_junctions": manual["junctions"], "density_unit": manual["density_unit"]}
    row.update(_mask_row("seg", truth, fov, analysis.probability, analysis.mask, analysis.seg_measures, manual,
                         analysis.seg_threshold))
    if analysis.polylines is not None:
        raster = rasterise(analysis.polylines) & fov
        det = dict(analysis.detector_measures)
        det["junctions"] = skeleton_measures(raster, area_mask=fov)["junctions"]
        row["det_cldice_centreline_precision"] = float((raster & truth).sum()) / max(float(raster.sum()), 1.0)
        row["det_centreline_f1"] = centreline_scores(skeleton_of(truth & fov), raster)["f1"]
        row.update(_length_row("det", det, manual))
    if analysis.baseline_mask is not None and baseline_threshold is not None:
        row.update(_mask_row("base", truth, fov, analysis.baseline_score, analysis.baseline_mask,
                             analysis.baseline_measures, manual, baseline_threshold))
    row.update({f"seconds_{k}": v for k, v in analysis.seconds.items()})
    return row

