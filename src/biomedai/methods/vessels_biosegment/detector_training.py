"""Training the box detector on boxes generated along polylines, with the shared engine (``biomedai.train``).

Polylines come from the annotation JSON files or, for data with only binary manual segmentations (DRIVE),
from skeletonising them (:func:`polylines.polylines_from_mask`). Each patch's targets are recomputed from the
box centres that fall inside it after the same flip/rotation as the image. Validation runs the whole path
(detect, link, contour check, MST) on the validation images and reports the mean percent error of the
vessel length against the manual tracing's, the paper's metric (spec 4.5), at the score that minimises it,
and the centre-line F1 of the polylines there. The best epoch is chosen on the F1: with a free score, the
length error of three images can be made small by a detector that misses as much as it invents.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from biomedai.errors import InvalidInputError
from biomedai.metrics import centreline_scores

from .compare import percent_error
from .config import VesselsConfig
from .decoding import Decoding, contour_image, polylines_from_maps
from .detector import VesselBoxDetector, detection_loss, detection_targets, detector_maps
from .measures import skeleton_measures
from .polylines import PolylineSet, boxes_along, polylines_from_mask, rasterise
from .training import PreparedCase

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
    #: the manual centre line the validation F1 is measured against (the mask's skeleton or the polylines)
    centreline: np.ndarray | None = None


def detector_case(case: PreparedCase, cfg: VesselsConfig, polylines: PolylineSet | None = None) -> DetectorCase:
    """Attach polylines (traced from the manual mask when none are given) and their boxes to a case.

    The traced polylines are simplified (Douglas-Peucker), so their length is 2.5 % below the skeleton length
    the benchmark compares with (DRIVE training images); the reference length is the skeleton's then.
    """
    from skimage.morphology import skeletonize

    if polylines:
        lines, reference = polylines, polylines.vessel_length_px()
        centreline = rasterise(polylines)
    else:
        lines = polylines_from_mask(case.truth & case.fov, case.case_id)
        reference = float(skeleton_measures(case.truth & case.fov, area_mask=case.fov)["total_length"])
        centreline = skeletonize(case.truth & case.fov)
    boxes = boxes_along(lines, cfg.box_size, cfg.box_step)
    centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)
    sizes = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)
    return DetectorCase(case, lines, centres, sizes, reference, centreline)


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

    def set_epoch(self, epoch: int) -> None:
        """New draws every epoch (the engine calls this with the 0-based epoch, also on resume)."""
        self.epoch = int(epoch)

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


#: side of the training patches of the detector (px); smaller when a training image is smaller
DETECTOR_PATCH = 128


def detector_patch_size(cases: Sequence[DetectorCase], largest: int = DETECTOR_PATCH) -> int:
    """The training patch side: ``largest``, or the smallest image side rounded down to a multiple of 16.

    Example:
        >>> cases = [DetectorCase(PreparedCase("a", np.zeros((70, 300)), np.zeros((70, 300), bool),
        ...                                    np.ones((70, 300), bool)), None, np.zeros((0, 2)), np.zeros((0, 2)))]
        >>> detector_patch_size(cases)
        64
    """
    side = min(min(dc.case.x.shape) for dc in cases)
    if side < 32:
        raise InvalidInputError(f"training images must be at least 32 px a side for the detector (one is {side} px)",
                                cases[0].case.case_id)
    return int(min(largest, side // 16 * 16))


def detect_polylines(net: torch.nn.Module, x: np.ndarray, fov: np.ndarray, cfg: VesselsConfig, image: str = "",
                     *, decoding: Decoding | None = None, maps: dict[str, torch.Tensor] | None = None
                     ) -> tuple[np.ndarray, PolylineSet, dict[str, int]]:
    """Boxes, polylines and link counts of one preprocessed plane (``decoding``: default the config's)."""
    maps = detector_maps(net, x) if maps is None else maps
    return polylines_from_maps(maps, x, fov, decoding or Decoding.from_config(cfg), cfg, image,
                               stride=VesselBoxDetector.stride)


#: detection scores tried on the validation images; the one with the lowest mean length error is stored
SCORE_GRID = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)
#: heat-map thresholds of the contour image tried with every score
HEAT_FOREGROUND_GRID = (0.2, 0.3, 0.4)
#: gap bridging (end_link_radius in box sides, end_min_fraction) tried with every pair; (0, 0) is off
BRIDGE_GRID = ((0.0, 0.0), (3.0, 0.8))
#: the smaller grid of the per-epoch validation during training
EPOCH_SCORE_GRID = (0.2, 0.3, 0.4, 0.5)


def decoding_grid(base: Decoding, scores: Sequence[float] = SCORE_GRID,
                  heat_foregrounds: Sequence[float] = HEAT_FOREGROUND_GRID,
                  bridges: Sequence[tuple[float, float]] = BRIDGE_GRID) -> list[Decoding]:
    """Every combination of score, contour threshold and gap bridging on top of ``base``."""
    heat = heat_foregrounds if base.contour == "heatmap" else (base.heat_foreground,)
    return [dataclasses.replace(base, score=float(s), heat_foreground=float(t), end_link_radius=float(r),
                                end_min_fraction=float(f))
            for r, f in bridges for t in heat for s in scores]


def score_decodings(net: torch.nn.Module, cases: Sequence[DetectorCase], cfg: VesselsConfig,
                    decodings: Sequence[Decoding]) -> tuple[np.ndarray, np.ndarray]:
    """Per case and decoding: the length percent error against the case's reference length and the centre-line
    F1 (:func:`biomedai.metrics.centreline_scores`, 4 px) against its manual centre line."""
    errors = np.full((len(cases), len(decodings)), np.nan)
    f1 = np.full_like(errors, np.nan)
    for i, dc in enumerate(cases):
        maps = detector_maps(net, dc.case.x)
        manual = dc.reference_length if np.isfinite(dc.reference_length) else dc.polylines.vessel_length_px()
        centreline = dc.centreline if dc.centreline is not None else rasterise(dc.polylines)
        foregrounds: dict[tuple[str, float], np.ndarray] = {}
        for j, decoding in enumerate(decodings):
            key = (decoding.contour, decoding.heat_foreground)
            if key not in foregrounds:
                foregrounds[key] = contour_image(maps, dc.case.x, decoding)
            _, lines, _ = polylines_from_maps(maps, dc.case.x, dc.case.fov, decoding, cfg,
                                              foreground=foregrounds[key], stride=VesselBoxDetector.stride)
            errors[i, j] = percent_error(manual, lines.vessel_length_px())
            f1[i, j] = centreline_scores(centreline, rasterise(lines) & dc.case.fov)["f1"]
    return errors, f1


def choose_decoding(net: torch.nn.Module, cases: Sequence[DetectorCase], cfg: VesselsConfig,
                    decodings: Sequence[Decoding] | None = None) -> dict[str, Any]:
    """The decoding (default grid: :func:`decoding_grid` on the config's) with the lowest mean length percent
    error on ``cases``; returns it with that error and its mean centre-line F1."""
    decodings = list(decodings or decoding_grid(Decoding.from_config(cfg)))
    errors, f1 = score_decodings(net, cases, cfg, decodings)
    mean = np.nanmean(errors, axis=0) if len(cases) else np.full(len(decodings), np.nan)
    best = int(np.nanargmin(mean)) if np.isfinite(mean).any() else 0
    return {"decoding": decodings[best], "error": float(mean[best]), "line_f1": float(np.nanmean(f1[:, best]))}


def _validator(val_cases: Sequence[DetectorCase], cfg: VesselsConfig) -> Any:
    grid = decoding_grid(Decoding.from_config(cfg), EPOCH_SCORE_GRID, (cfg.heat_foreground,), ((0.0, 0.0),))

    def validate(model: torch.nn.Module, loader: Any) -> dict[str, float]:
        chosen = choose_decoding(model, val_cases, cfg, grid)
        return {"val_line_f1": chosen["line_f1"], "val_length_percent_error": chosen["error"],
                "val_detector_score": chosen["decoding"].score}

    return validate


def train_detector(train_cases: Sequence[DetectorCase], val_cases: Sequence[DetectorCase], cfg: VesselsConfig,
                   output_dir: Path, *, minutes: float, epochs: int = 20, steps_per_epoch: int = 150,
                   width: int = 16, init: Path | None = None) -> dict[str, Any]:
    """Train the detector (from the model folder ``init`` when given); returns the engine's result, the best
    model and its decoding chosen on the validation cases.

    The learning rate follows a cosine over ``epochs`` (or the time budget, whichever is closer to its end);
    the best epoch is the one with the highest centre-line F1 on the validation cases (each epoch at the score,
    from a small grid, that gives the lowest length error); then the full decoding grid is searched.
    """
    from biomedai.train import load_weights, train_model
    from biomedai.train.model_folder import load_model_folder
    from biomedai.train.schedules import budget_cosine

    def factory() -> VesselBoxDetector:
        net = VesselBoxDetector(width)
        if init is not None:
            load_model_folder(init, net, method="vessels_biosegment")
        return net

    patches = DetectorPatches(train_cases, detector_patch_size(train_cases), steps_per_epoch * cfg.batch_size,
                              cfg.box_size, cfg.seed)
    total_steps = epochs * steps_per_epoch
    result = train_model(
        factory, patches, [0] if val_cases else None,
        batch_to_loss=lambda model, batch: detection_loss(model(batch[0]), batch[1]),
        validate=_validator(val_cases, cfg) if val_cases else None, output_dir=output_dir,
        scheduler=lambda opt, trainer: budget_cosine(opt, trainer.budget_fraction, total_steps, warmup_steps=100,
                                                     floor=0.02),
        scheduler_interval="step", epochs=epochs, lr=cfg.lr, weight_decay=cfg.weight_decay,
        batch_size=cfg.batch_size, monitor="val_line_f1" if val_cases else None, mode="max" if val_cases else "min",
        max_minutes=minutes, time_budget_check="epoch", amp=False, device="cpu", seed=cfg.seed, progress=False,
        run_config=cfg)
    net = VesselBoxDetector(width)
    load_weights(net, result.weights)
    if val_cases:
        chosen = choose_decoding(net, val_cases, cfg)
    else:
        chosen = {"decoding": Decoding.from_config(cfg), "error": float("nan"), "line_f1": float("nan")}
    return {"result": result, "model": net, "width": width, "decoding": chosen["decoding"],
            "val_error": chosen["error"], "val_line_f1": chosen["line_f1"]}


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
                       **trained.get("decoding", Decoding.from_config(cfg)).to_preprocessing(),
                       "decoding_chosen_on": "validation images " + ", ".join(val_ids)
                       + " (lowest mean length percent error)"},
        class_names=["vessel"],
        training_data={"name": data_name, "split": {"train": list(train_ids), "validation": list(val_ids)},
                       "licence": "DRIVE: research use only (registration with the authors); no redistribution",
                       "non_commercial": True},
        metrics={"val_line_f1_at_best_epoch": res.best_metric, "val_length_percent_error": trained.get("val_error"),
                 "val_line_f1": trained.get("val_line_f1"), "best_epoch": res.best_epoch,
                 "epochs_completed": res.epochs_completed, "steps": res.global_step},
        metrics_data="validation images " + ", ".join(val_ids) + " (length of the detected polylines vs the "
        "DetectorCase reference length: the skeleton length of the manual mask, or the given manual polylines'; "
        "centre-line F1 within 4 px against the skeleton of the manual mask)",
        licence="research use only (follows the DRIVE terms)", extra=dict(extra or {}))
    return save_model_folder(folder, trained["model"], info, half=half)
