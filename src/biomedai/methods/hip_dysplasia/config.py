"""Settings of the hip-dysplasia method. Defaults follow Yang et al. 2020 where the paper fixes them and the
spec's recommended decisions (``../shared/specs/xray-ct.md`` section 1) where it does not."""
from __future__ import annotations

import dataclasses
from typing import Literal

from biomedai.config import BaseConfig


@dataclasses.dataclass
class HipDysplasiaConfig(BaseConfig):
    # --- geometry (spec 1.4) -------------------------------------------------------------------------------
    #: head centre: the paper's circle through D, E, F (Sec. 2.1) or a least-squares fit to the head contour
    head_centre: Literal["three_point", "least_squares"] = "three_point"
    #: CE reference: perpendicular to the line through both head centres (Eq. 1, the paper) or the teardrops
    ce_reference: Literal["inter_head", "inter_teardrop"] = "inter_head"
    #: clinical signs (spec 1.4 recommendation); False reproduces the paper's arccos values
    signed: bool = True
    #: Gaussian smoothing (in contour samples) before the head-neck inflection search (spec: 2-3)
    inflection_sigma: float = 2.5
    #: refuse films without a physical pixel spacing instead of assuming square pixels
    require_spacing: bool = False
    # --- density-peak clustering (spec 1.5.3, a reconstruction of Liu et al. 2019) ------------------------
    dc_percentile: float = 2.0
    kernel: Literal["gaussian", "cutoff"] = "gaussian"
    peak_n_sd: float = 2.0
    standardise: bool = False
    noise_fraction: float = 0.02
    #: robust refit of the normal cluster (chi-square truncation with consistency factor); null: the paper's plain fit
    reweight_quantile: float | None = 0.975
    # --- diagnosis (spec 1.5.4; the paper gives no rule) -------------------------------------------------
    q_normal: float = 0.95
    q_borderline: float = 0.99
    t_star: float = 1.96
    ellipsoid_q: float = 0.95
    #: colour of each hip in pictures: "knowledge" (CE < 20 / 20-25 / > 25) or "model"
    colour_rule: Literal["knowledge", "model"] = "knowledge"
    # --- landmark detector (beyond the paper) -------------------------------------------------------------
    detector_size: int = 128
    detector_features: tuple[int, ...] = (16, 32, 64, 128)
    heatmap_sigma: float = 2.0
    epochs: int = 30
    batch_size: int = 8
    lr: float = 2e-3
    n_synthetic_train: int = 160
    n_synthetic_val: int = 32

    def validate(self) -> None:
        super().validate()
        checks = [
            ("inflection_sigma", self.inflection_sigma > 0, "must be > 0"),
            ("dc_percentile", 0 < self.dc_percentile < 100, "must be in (0, 100)"),
            ("peak_n_sd", self.peak_n_sd > 0, "must be > 0"),
            ("noise_fraction", 0 <= self.noise_fraction < 1, "must be in [0, 1)"),
            ("reweight_quantile", self.reweight_quantile is None or 0.5 < self.reweight_quantile < 1,
             "must be in (0.5, 1) or null"),
            ("q_normal", 0 < self.q_normal < self.q_borderline < 1, "must satisfy 0 < q_normal < q_borderline < 1"),
            ("ellipsoid_q", 0 < self.ellipsoid_q < 1, "must be in (0, 1)"),
            ("detector_size", self.detector_size >= 32 and self.detector_size % 16 == 0, "must be >= 32, a multiple of 16"),
            ("heatmap_sigma", self.heatmap_sigma > 0, "must be > 0"),
            ("epochs", self.epochs >= 1, "must be >= 1"),
            ("batch_size", self.batch_size >= 1, "must be >= 1"),
            ("lr", self.lr > 0, "must be > 0"),
            ("n_synthetic_train", self.n_synthetic_train >= 2, "must be >= 2"),
            ("n_synthetic_val", self.n_synthetic_val >= 1, "must be >= 1"),
        ]
        self.check_rules(checks)
