"""Training the box detector on boxes generated along polylines, with the shared engine (``biomedai.train``).

Polylines come from the annotation JSON files or, for data with only binary manual segmentations (DRIVE),
from skeletonising them (:func:`polylines.polylines_from_mask`). Each patch's targets are recomputed from the
box centres that fall inside it after the same flip/rotation as the image. Validation runs the whole path
(detect, link, contour check, MST) on the validation images and reports the mean percent error of the
vessel length against the manual tracing's, the paper's metric (spec 4.5); the best epoch is chosen on it.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .compare import percent_error
from .config import VesselsConfig
from .detector import VesselBoxDetector, decode_detections, detection_loss, detection_targets, detector_maps
from .linking import link_detections, vessel_foreground
from .measures import skeleton_measures
from .polylines import PolylineSet, boxes_along, polylines_from_mask
from .training import PreparedCase, TimeBudget

logger = logging.getLogger(__name__)


@dataclass
class DetectorCase:
    """A prepared case with its polylines and the centres/sizes of the boxes along them."""

    case: PreparedCase
    polylines: PolylineSet
    centres: np.ndarray
    sizes: np.ndarray
    #: the manual length the decoding is chosen against: the skeleton length (skan) of the manual mask inside
    #: the FOV, as in the benchmark, when the polylines were traced from it; else the given polylines' length
    reference_length: float = float("nan")


def detector_case(case: PreparedCase, cfg: VesselsConfig, polylines: PolylineSet | None = None) -> DetectorCase:
    """Attach polylines (traced from the manual mask when none are given) and their boxes to a case.

    The traced polylines are simplified (Douglas-Peucker), so their length is 2.5 % below the skeleton length
    the benchmark compares with (DRIVE training images); the reference length is the skeleton's then.
    """
    if polylines:
        lines, reference = polylines, polylines.vessel_length_px()
    else:
        lines = polylines_from_mask(case.truth & case.fov, case.case_id)
        reference = float(skeleton_measures(case.truth & case.fov, area_mask=case.fov)["total_length"])
    boxes = boxes_along(lines, cfg.box_size, cfg.box_step)
    centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)
    sizes = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)
    return DetectorCase(case, lines, centres, sizes, reference)


def _transform(xy: np.ndarray, size: int, turns: int, flip: bool) -> np.ndarray:
    """Coordinates (x, y) of points in a ``size`` square after ``np.rot90(turns)`` and a left-right flip."""
    x, y = xy[:, 0].copy(), xy[:, 1].copy()
    for _ in range(turns % 4):  # np.rot90 (counter-clockwise): new (x, y) = (y, size - x)
        x, y = y, size - x
    if flip:
        x = size - x
    return np.stack([x, y], axis=1)


class DetectorPatches(Dataset):
    """Random augmented patches with their detection targets (seeded per epoch and index)."""

    def __init__(self, cases: Sequence[DetectorCase], patch: int, length: int, box_size: float, seed: int = 0) -> None:
        self.cases, self.patch, self.length, self.box_size, self.seed = list(cases), int(patch), int(length), \
            float(box_size), int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        rng = np.random.default_rng((self.seed, self.epoch, index, 7))
        dc = self.cases[int(rng.integers(len(self.cases)))]
        h, w = dc.case.x.shape
        fov_points = np.argwhere(dc.case.fov)
        cy, cx = fov_points[rng.integers(len(fov_points))]
        y0 = int(np.clip(cy - self.patch // 2, 0, h - self.patch))
        x0 = int(np.clip(cx - self.patch // 2, 0, w - self.patch))
        x = dc.case.x[y0:y0 + self.patch, x0:x0 + self.patch]
        inside = ((dc.centres[:, 0] >= x0) & (dc.centres[:, 0] < x0 + self.patch)
                  & (dc.centres[:, 1] >= y0) & (dc.centres[:, 1] < y0 + self.patch))
        centres = dc.centres[inside] - [x0, y0]
        turns, flip = int(rng.integers(4)), bool(rng.random() < 0.5)
        x = np.rot90(x, turns)
        if flip:
            x = x[:, ::-1]
        centres = _transform(centres, self.patch, turns, flip) if len(centres) else centres
        sizes = dc.sizes[inside][:, ::-1] if turns % 2 else dc.sizes[inside]
        x = np.clip(x, 0, 1) ** rng.uniform(0.7, 1.4) * rng.uniform(0.85, 1.15)
        t = detection_targets(centres, sizes, (self.patch, self.patch), self.box_size, VesselBoxDetector.stride)
        return (torch.from_numpy(np.ascontiguousarray(x, np.float32))[None],
                {k: torch.from_numpy(v) for k, v in t.items()})


def detect_polylines(net: torch.nn.Module, x: np.ndarray, fov: np.ndarray, cfg: VesselsConfig, image: str = "",
                     *, score: float | None = None, maps: dict[str, torch.Tensor] | None = None,
                     foreground: np.ndarray | None = None, end_link_radius: float | None = None,
                     end_min_fraction: float | None = None) -> tuple[np.ndarray, PolylineSet, dict[str, int]]:
    """Boxes, polylines and link counts of one preprocessed plane (detections outside the FOV dropped)."""
    maps = detector_maps(net, x) if maps is None else maps
    boxes = decode_detections(maps, cfg.box_size, cfg.detector_score if score is None else score,
                              VesselBoxDetector.stride)
    if len(boxes):
        cx = np.clip(((boxes[:, 0] + boxes[:, 2]) / 2).astype(int), 0, x.shape[1] - 1)
        cy = np.clip(((boxes[:, 1] + boxes[:, 3]) / 2).astype(int), 0, x.shape[0] - 1)
        boxes = boxes[fov[cy, cx]]
    lines, counts = link_detections(
        boxes, x, box_size=cfg.box_size, link_radius=cfg.link_radius, min_fraction=cfg.contour_min_fraction,
        image=image, foreground=foreground,
        end_link_radius=cfg.end_link_radius if end_link_radius is None else end_link_radius,
        end_min_fraction=cfg.end_min_fraction if end_min_fraction is None else end_min_fraction)
    return boxes, lines, counts


#: detection scores tried on the validation images; the best one is stored with the model (the lower end was
#: chosen in every epoch after the 7th of the 2026-12-07 detector run, hence 0.005 and 0.01)
SCORE_GRID = (0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6)
#: gap bridging (end_link_radius in box sides, end_min_fraction) tried with every score; (0, 0) is off
BRIDGE_GRID = ((0.0, 0.0), (2.0, 0.25), (3.0, 0.25), (3.0, 0.5), (4.0, 0.25), (4.0, 0.5))


def choose_decoding(net: torch.nn.Module, cases: Sequence[DetectorCase], cfg: VesselsConfig,
                    bridges: Sequence[tuple[float, float]] = BRIDGE_GRID) -> dict[str, float]:
    """The detection score (:data:`SCORE_GRID`) and gap bridging (``bridges``) with the lowest mean length
    percent error against the cases' reference lengths; returns them with that error."""
    combos = [(s, r, f) for r, f in bridges for s in SCORE_GRID]
    errors = np.zeros((len(cases), len(combos)))
    for i, dc in enumerate(cases):
        maps = detector_maps(net, dc.case.x)
        fg = vessel_foreground(dc.case.x)
        manual = dc.reference_length if np.isfinite(dc.reference_length) else dc.polylines.vessel_length_px()
        for j, (score, radius, fraction) in enumerate(combos):
            _, lines, _ = detect_polylines(net, dc.case.x, dc.case.fov, cfg, score=score, maps=maps, foreground=fg,
                                           end_link_radius=radius, end_min_fraction=fraction)
            errors[i, j] = percent_error(manual, lines.vessel_length_px())
    mean = np.nanmean(errors, axis=0)
    best = int(np.nanargmin(mean)) if np.isfinite(mean).any() else 0
    score, radius, fraction = combos[best]
    return {"score": float(score), "end_link_radius": float(radius), "end_min_fraction": float(fraction),
            "error": float(mean[best])}


def _validator(val_cases: Sequence[DetectorCase], cfg: VesselsConfig) -> Any:
    def validate(model: torch.nn.Module, loader: Any) -> dict[str, float]:
        chosen = choose_decoding(model, val_cases, cfg)
        return {"val_length_percent_error": chosen["error"], "val_detector_score": chosen["score"],
                "val_end_link_radius": chosen["end_link_radius"], "val_end_min_fraction": chosen["end_min_fraction"]}

    return validate


def train_detector(train_cases: Sequence[DetectorCase], val_cases: Sequence[DetectorCase], cfg: VesselsConfig,
                   output_dir: Path, *, minutes: float, epochs: int = 20, steps_per_epoch: int = 150,
                   width: int = 16, init: Path | None = None) -> dict[str, Any]:
    """Train the detector (from the model folder ``init`` when given); returns the engine's result and the best
    model."""
    from biomedai.train import load_weights, train_model
    from biomedai.train.model_folder import load_model_folder

    def factory() -> VesselBoxDetector:
        net = VesselBoxDetector(width)
        if init is not None:
            load_model_folder(init, net, method="vessels_biosegment")
        return net

    patches = DetectorPatches(train_cases, 128, steps_per_epoch * cfg.batch_size, cfg.box_size, cfg.seed)
    budget = TimeBudget(minutes, patches)
    result = train_model(
        factory, patches, [0] if val_cases else None,
        batch_to_loss=lambda model, batch: detection_loss(model(batch[0]), batch[1]),
        validate=_validator(val_cases, cfg) if val_cases else None, output_dir=output_dir, callbacks=[budget],
        epochs=epochs, lr=cfg.lr, weight_decay=cfg.weight_decay, batch_size=cfg.batch_size,
        monitor="val_length_percent_error" if val_cases else None, mode="min", amp=False, device="cpu",
        seed=cfg.seed, progress=False, run_config=cfg)
    net = VesselBoxDetector(width)
    load_weights(net, result.weights)
    chosen = choose_decoding(net, val_cases, cfg) if val_cases else {
        "score": cfg.detector_score, "end_link_radius": cfg.end_link_radius, "end_min_fraction": cfg.end_min_fraction,
        "error": float("nan")}
    return {"result": result, "model": net, "width": width, "score": chosen["score"], "val_error": chosen["error"],
            "end_link_radius": chosen["end_link_radius"], "end_min_fraction": chosen["end_min_fraction"]}


def save_detector_model(folder: Path, trained: dict[str, Any], cfg: VesselsConfig, train_ids: Sequence[str],
                        val_ids: Sequence[str], data_name: str, *, half: bool = True,
                        extra: dict[str, Any] | None = None) -> Path:
    """Write the trained detector as a model folder named ``detector`` (weights.pt + model.json)."""
    from biomedai.train.model_folder import ModelInfo, save_model_folder

    res = trained["result"]
    info = ModelInfo(
        method="vessels_biosegment", name="detector",
        architecture={"name": "VesselBoxDetector", "width": trained["width"], "stride": VesselBoxDetector.stride},
        preprocessing={"channel": cfg.channel, "vessels_dark": cfg.vessels_dark, "clahe": cfg.clahe,
                       "clahe_clip_limit": cfg.clahe_clip_limit, "box_size": cfg.box_size, "box_step": cfg.box_step,
                       "detector_score": trained.get("score", cfg.detector_score),
                       "end_link_radius": trained.get("end_link_radius", cfg.end_link_radius),
                       "end_min_fraction": trained.get("end_min_fraction", cfg.end_min_fraction),
                       "detector_score_chosen_on": "validation images " + ", ".join(val_ids)},
        class_names=["vessel"],
        training_data={"name": data_name, "split": {"train": list(train_ids), "validation": list(val_ids)},
                       "licence": "DRIVE: research use only (registration with the authors); no redistribution",
                       "non_commercial": True},
        metrics={"val_length_percent_error": res.best_metric, "best_epoch": res.best_epoch,
                 "epochs_completed": res.epochs_completed, "steps": res.global_step},
        metrics_data="validation images " + ", ".join(val_ids) + " (length of the detected polylines vs the "
        "DetectorCase reference length: the skeleton length of the manual mask, or the given manual polylines')",
        licence="research use only (follows the DRIVE terms)", extra=dict(extra or {}))
    return save_model_folder(folder, trained["model"], info, half=half)
