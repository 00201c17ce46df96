"""BioSegment settings (Strobel et al.; spec pathology.md section 4).

The paper gives almost no numbers for its detector (spec 4.9, gaps 1-3); every default below that is
not the paper's is a decision recorded in README.md ("Open points and the choices made").
"""
from __future__ import annotations

import dataclasses
from typing import Literal

from biomedai.config import BaseConfig


@dataclasses.dataclass
class VesselsConfig(BaseConfig):
    # ---------------------------------------------------------------- input (spec 4.3 pre-processing, 4.8)
    #: which channel of a colour image carries the vessels: "green" (DRIVE fundus, FITC/lectin), "luminance"
    channel: Literal["green", "luminance", "red", "blue"] = "green"
    #: vessels darker than the background (fundus, phase contrast): the image is inverted first
    vessels_dark: bool = True
    #: contrast-limited adaptive histogram equalisation (the paper's optional "pre-process" option; CLAHE chosen)
    clahe: bool = True
    clahe_clip_limit: float = 0.01
    #: micrometres per pixel when the file carries none (None: lengths stay in pixels, said in every output)
    pixel_size_um: float | None = None
    #: images per sample in the per-sample means (paper: 4, spec 4.5); used when the file names give no sample
    images_per_sample: int = 4
    # ---------------------------------------------------------------- segmentation path (beyond the paper)
    #: MONAI BasicUNet widths (6 numbers): the issue's reference network (32, 32, 64, 128, 256, 32), 1.98 M
    #: parameters; 55 min on two threads (8200 steps) reached validation Dice 0.815, above (24, 24, 48, 96, 192, 24),
    #: 1.11 M, in 41 min on one shared thread (0.813), (16, 16, 32, 64, 128, 16), 0.48 M, in 20 min (0.807) and
    #: (8, 8, 16, 32, 64, 8) in 55 min (0.799)
    unet_features: tuple[int, ...] = (32, 32, 64, 128, 256, 32)
    patch_size: int = 96
    batch_size: int = 8
    steps_per_epoch: int = 200
    #: an upper bound: the time budget ends training first (41 epochs in 55 min on two threads)
    epochs: int = 70
    lr: float = 3e-3
    weight_decay: float = 1e-4
    #: wall-clock training budget in minutes (stops after the epoch that passes it)
    max_minutes: float = 55.0
    #: probability threshold; None: the one chosen on the validation images (stored with the model)
    threshold: float | None = None
    #: objects smaller than this (pixels) are removed before the skeleton graph
    min_object_px: int = 30
    #: terminal skeleton branches shorter than this (pixels) are pruned before measuring the segmentation and
    #: baseline paths (0: none; the DRIVE numbers use 0, noisy 3-D masks need it; choose on training images)
    spur_length_px: float = 0.0
    # ---------------------------------------------------------------- detector path (paper, spec 4.3, 4.8)
    #: square training boxes along each polyline: side (px), centre step (px); spec suggests 2-3x vessel width
    box_size: int = 16
    box_step: float = 8.0
    #: detector grid stride (px) and the score above which a grid cell is a detection
    detector_stride: int = 4
    #: fallback only: a trained detector stores the decoding chosen on its validation images (``decoding.py``):
    #: the heat-map score above which a cell is a box, how cells are picked ("ridge": maxima across the heat-map
    #: ridge, thinned to ``box_step`` apart; "local_max": CenterNet's 3x3 maxima), and the contour check's image
    #: ("heatmap": the detector's heat map above ``heat_foreground``; "image": an adaptive threshold)
    detector_score: float = 0.3
    detector_peaks: Literal["ridge", "local_max"] = "ridge"
    contour_image: Literal["heatmap", "image"] = "heatmap"
    heat_foreground: float = 0.3
    #: detector training (time-bounded like the U-Net's): minutes, epochs, steps per epoch, backbone width (24:
    #: validation centre-line F1 0.900 against 0.890 for width 16, same 6000 steps; models/detector/MODEL.md)
    detector_minutes: float = 35.0
    detector_epochs: int = 40
    detector_steps_per_epoch: int = 150
    detector_width: int = 24
    #: neighbour linking: centres closer than this many box sides are candidate edges. Contour check: an edge
    #: is kept when at least this fraction of the samples along it is foreground. Both chosen on the DRIVE
    #: validation images 38-40 (README decisions 3 and 9): with the image contour and sparse 3x3 maxima,
    #: 0.8 cut so many true links that the length was 45 % short (0.5 then); with the ridge decoding and the
    #: heat-map contour, 0.8
    link_radius: float = 2.0
    contour_min_fraction: float = 0.8
    #: gap bridging after the MST (beyond the paper): a tree's end joins the nearest node of another tree within
    #: this many box sides if the segment passes the contour check at ``end_min_fraction`` (0: off). Fallbacks
    #: only: a trained detector stores the pair chosen with its score on its validation images (BRIDGE_GRID)
    end_link_radius: float = 0.0
    end_min_fraction: float = 0.5
    # ---------------------------------------------------------------- classical baseline
    baseline: Literal["frangi", "sato"] = "frangi"
    baseline_sigmas: tuple[float, ...] = (1.0, 1.5, 2.0, 2.5, 3.0)
    #: vesselness threshold; None: chosen on the training images of the data folder (``training/``)
    baseline_threshold: float | None = None
    # ---------------------------------------------------------------- comparison (spec 4.5)
    #: accuracy is "N/A" above this percent error (paper: 100)
    na_percent_error: float = 100.0

    def validate(self) -> None:
        super().validate()
        self.check_rules([
            ("pixel_size_um", self.pixel_size_um is None or self.pixel_size_um > 0, "must be > 0 or null"),
            ("unet_features", len(self.unet_features) == 6 and all(f > 0 for f in self.unet_features),
             "must be 6 positive widths"),
            ("patch_size", self.patch_size >= 32 and self.patch_size % 16 == 0, "must be a multiple of 16, >= 32"),
            ("batch_size", self.batch_size >= 1, "must be >= 1"),
            ("epochs", self.epochs >= 1, "must be >= 1"),
            ("lr", self.lr > 0, "must be > 0"),
            ("max_minutes", self.max_minutes > 0, "must be > 0"),
            ("threshold", self.threshold is None or 0 < self.threshold < 1, "must be in (0, 1) or null"),
            ("box_size", self.box_size >= 4, "must be >= 4"),
            ("box_step", self.box_step > 0, "must be > 0"),
            ("detector_stride", self.detector_stride in (2, 4, 8), "must be 2, 4 or 8"),
            ("contour_min_fraction", 0 <= self.contour_min_fraction <= 1, "must be in [0, 1]"),
            ("detector_score", 0 <= self.detector_score <= 1, "must be in [0, 1]"),
            ("heat_foreground", 0 <= self.heat_foreground <= 1, "must be in [0, 1]"),
            ("end_link_radius", self.end_link_radius >= 0, "must be >= 0"),
            ("end_min_fraction", 0 <= self.end_min_fraction <= 1, "must be in [0, 1]"),
            ("images_per_sample", self.images_per_sample >= 1, "must be >= 1"),
            ("spur_length_px", self.spur_length_px >= 0, "must be >= 0"),
            ("na_percent_error", self.na_percent_error > 0, "must be > 0"),
        ])
