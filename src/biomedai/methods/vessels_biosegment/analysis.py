"""One image through the segmentation path, the detector path and the classical baseline, with timings.

The models are loaded once (:class:`VesselModels`); :func:`analyse_image` returns masks, polylines, boxes,
the skeleton measures of each path and the seconds each took.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from biomedai.errors import WeightsError

from .baseline import vesselness
from .config import VesselsConfig
from .decoding import Decoding
from .detector import VesselBoxDetector
from .detector_training import detect_polylines
from .imaging import VesselImage, network_input
from .measures import clean_mask, skeleton_measures, skeleton_of
from .model import build_unet
from .polylines import PolylineSet, rasterise
from .segmentation import vessel_probability

logger = logging.getLogger(__name__)


@dataclass
class VesselModels:
    """The segmentation network with its threshold and preprocessing, and the optional box detector."""

    unet: torch.nn.Module
    threshold: float
    preprocessing: dict[str, Any]
    detector: torch.nn.Module | None = None
    notes: list[str] = field(default_factory=list)
    #: the detector's decoding stored in its model folder (None: the config's)
    decoding: Decoding | None = None


def load_models(seg_folder: Path | None, detector_folder: Path | None, cfg: VesselsConfig) -> VesselModels:
    """Load the model folders (checksums verified); the config's threshold overrides the stored one."""
    from biomedai.train.model_folder import load_model_folder, read_model_info

    if seg_folder is None:
        raise WeightsError("vessels_biosegment has no segmentation model: train one (biomedai train "
                           "vessels_biosegment) or pass --weights MODEL_FOLDER")
    info = read_model_info(seg_folder)
    unet = build_unet(info.architecture.get("features", cfg.unet_features))
    load_model_folder(seg_folder, unet, method="vessels_biosegment")
    unet.eval()
    threshold = cfg.threshold if cfg.threshold is not None else float(info.preprocessing.get("threshold", 0.5))
    notes = [info.usage_note()]
    detector, decoding = None, None
    if detector_folder is not None:
        dinfo = read_model_info(detector_folder)
        detector = VesselBoxDetector(int(dinfo.architecture.get("width", 16)))
        load_model_folder(detector_folder, detector, method="vessels_biosegment")
        detector.eval()
        decoding = Decoding.from_preprocessing(dinfo.preprocessing, cfg)
        notes.append(dinfo.usage_note())
    return VesselModels(unet, threshold, dict(info.preprocessing), detector, notes, decoding)


@dataclass
class ImageAnalysis:
    """Everything measured on one image."""

    image: VesselImage
    x: np.ndarray
    probability: np.ndarray
    mask: np.ndarray
    seg_measures: dict[str, Any]
    polylines: PolylineSet | None = None
    boxes: np.ndarray | None = None
    link_counts: dict[str, int] = field(default_factory=dict)
    detector_measures: dict[str, Any] = field(default_factory=dict)
    baseline_score: np.ndarray | None = None
    baseline_mask: np.ndarray | None = None
    baseline_measures: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    seg_threshold: float = 0.5


def polyline_measures(lines: PolylineSet, image: VesselImage) -> dict[str, Any]:
    """Length and length density of polylines (vessel class only) in the image's units."""
    area_px = float(image.fov.sum())
    length_px = lines.vessel_length_px()
    if image.pixel_size_um:
        mm = image.pixel_size_um * 1e-3
        return {"total_length": length_px * mm, "length_density": length_px * mm / (area_px * mm * mm),
                "length_unit": "mm", "density_unit": "mm/mm^2", "polylines": len(lines.polylines)}
    return {"total_length": length_px, "length_density": length_px / area_px, "length_unit": "px",
            "density_unit": "px/px^2", "polylines": len(lines.polylines)}


def analyse_image(image: VesselImage, models: VesselModels, cfg: VesselsConfig, *,
                  baseline_threshold: float | None = None) -> ImageAnalysis:
    """Run the segmentation path, the detector path (if a detector is loaded) and optionally the baseline."""
    seconds: dict[str, float] = {}
    pre = models.preprocessing
    t0 = time.perf_counter()
    x = network_input(image.plane, image.fov, vessels_dark=bool(pre.get("vessels_dark", cfg.vessels_dark)),
                      clahe=bool(pre.get("clahe", cfg.clahe)), clip_limit=float(pre.get("clahe_clip_limit",
                                                                                          cfg.clahe_clip_limit)))
    seconds["preprocess"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    prob = vessel_probability(models.unet, x, tta=bool(models.preprocessing.get("tta", False))) * image.fov
    mask = clean_mask(prob >= models.threshold, cfg.min_object_px) & image.fov
    spacing = image.pixel_size_um
    seg = skeleton_measures(mask, spacing=spacing, area_mask=image.fov, spur_length_px=cfg.spur_length_px)
    seconds["segmentation_path"] = time.perf_counter() - t0
    result = ImageAnalysis(image, x, prob, mask, seg, seconds=seconds, seg_threshold=models.threshold)
    if models.detector is not None:
        t0 = time.perf_counter()
        boxes, lines, counts = detect_polylines(models.detector, x, image.fov, cfg, image=image.path.name,
                                                decoding=models.decoding)
        lines.pixel_size_um = image.pixel_size_um
        result.boxes, result.polylines, result.link_counts = boxes, lines, counts
        result.detector_measures = polyline_measures(lines, image)
        seconds["detector_path"] = time.perf_counter() - t0
    if baseline_threshold is not None:
        t0 = time.perf_counter()
        score = vesselness(x, image.fov, kind=cfg.baseline, sigmas=cfg.baseline_sigmas)
        bmask = clean_mask(score >= baseline_threshold, cfg.min_object_px) & image.fov
        result.baseline_score, result.baseline_mask = score, bmask
        result.baseline_measures = skeleton_measures(bmask, spacing=spacing, area_mask=image.fov,
                                                     spur_length_px=cfg.spur_length_px)
        seconds["baseline"] = time.perf_counter() - t0
    return result


def overlay_picture(analysis: ImageAnalysis) -> np.ndarray:
    """RGB overlay: segmentation skeleton (cyan), detector polylines (yellow), detector boxes (magenta outlines)."""
    from skimage.draw import rectangle_perimeter


    grey = (np.clip(analysis.image.plane, 0, 1) * 255).astype(np.uint8)
    rgb = np.stack([grey] * 3, axis=-1)
    h, w = grey.shape
    if analysis.boxes is not None:
        for x0, y0, x1, y1, *_ in analysis.boxes:
            rr, cc = rectangle_perimeter((int(y0), int(x0)), end=(int(y1) - 1, int(x1) - 1), shape=(h, w))
            rgb[rr, cc] = (rgb[rr, cc] * 0.5 + np.array([255, 0, 255]) * 0.5).astype(np.uint8)
    rgb[skeleton_of(analysis.mask)] = (0, 255, 255)
    if analysis.polylines is not None:
        rgb[rasterise(analysis.polylines)] = (255, 255, 0)
    return rgb
