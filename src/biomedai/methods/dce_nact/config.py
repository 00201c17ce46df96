"""Settings of the Fan et al. breast DCE-MRI NACT-response method. Defaults are the paper's where it fixes them
and the spec's decisions where it does not (``../shared/specs/breast-neuro.md`` section 4)."""
from __future__ import annotations

import dataclasses
from typing import Literal

from biomedai.config import BaseConfig
from biomedai.errors import ConfigError

MODEL_SETS = ("baseline", "followup", "jacobian", "delta", "fusion", "fusion+subtype")


@dataclasses.dataclass
class DceNactConfig(BaseConfig):
    # --- pre-processing (4.4 steps 1-4; 4.8 points 1-2) ---------------------------------------------------
    n4: bool = True
    #: target spacing (x, y, z) mm; the coarser (development) protocol's, spec 4.8 point 2 option 2
    resample_spacing_mm: tuple[float, float, float] | None = (0.9375, 0.9375, 2.2)
    #: post-contrast phase for segmentation and subtraction: the paper's "third post-contrast series"
    phase_rule: Literal["index", "time", "max_enhancement"] = "index"
    phase_index: int = 3
    phase_target_time_s: float = 150.0
    min_post_phases: int = 3                 # 4.9: pre-contrast plus >= 3 post-contrast
    # --- segmentation (4.4 step 3; 4.8 point 3) -----------------------------------------------------------
    #: "sfcm" in the seed box, or "mask" (imported masks, mask.nii.gz per time point); "auto": mask if present
    segmentation: Literal["sfcm", "mask", "auto"] = "auto"
    #: 3 clusters (lesion, enhancing parenchyma, background): with 2 the parenchyma joins the lesion (tested on
    #: the simulated cohort); the paper does not give the count (spec 4.4 step 3)
    sfcm_clusters: int = 3
    sfcm_fuzziness: float = 2.0
    #: follow-up ROI: segmented independently (spec decision) or the baseline ROI warped (option)
    followup_roi: Literal["independent", "warped"] = "independent"
    # --- registration (4.4 step 5) ------------------------------------------------------------------------
    registration_grid_mm: float = 15.0
    registration_iterations: int = 50
    registration_sampling: float = 0.2
    registration_metric: Literal["mattes", "ms"] = "mattes"
    registration_levels: tuple[int, ...] = (4, 2, 1)
    # --- features (4.4 steps 6-7; 4.8 points 4-5) ---------------------------------------------------------
    params_subtraction: str = "subtraction_v1.yaml"
    params_jacobian: str = "jacobian_v1.yaml"
    #: shape features of the Jacobian map duplicate the baseline's (same ROI): dropped (4.8 point 4)
    drop_jacobian_shape: bool = True
    #: deltaRAD guard (4.4 step 7 [Decision]): |f_baseline| below this is floored, sign kept
    delta_epsilon: float = 1e-6
    # --- model (4.4 steps 8-9) ----------------------------------------------------------------------------
    cv_folds: int = 10
    #: RBF-SVM grid, spec 4.4 step 9 [Decision]: C in 2^[-5..15], gamma in 2^[-15..3] (every second power)
    c_grid_log2: tuple[int, ...] = (-5, -3, -1, 1, 3, 5, 7, 9, 11, 13, 15)
    gamma_grid_log2: tuple[int, ...] = (-15, -13, -11, -9, -7, -5, -3, -1, 1, 3)
    #: numbers of top SVM-RFE features tried (sequential addition), capped by the set's size
    k_grid: tuple[int, ...] = (1, 2, 3, 5, 8, 12, 20)
    #: reference model of the DeLong tests (Table 3's p column compares with Feature + MS, spec 4.6)
    reference_model: str = "fusion+subtype"
    #: Youden threshold from the development CV predictions (spec 4.4 step 10 decision) or the test ROC
    threshold_source: Literal["development_cv", "test_roc"] = "development_cv"

    def validate(self) -> None:
        super().validate()
        checks = [
            ("phase_index", self.phase_index >= 1, "must be >= 1"),
            ("min_post_phases", self.min_post_phases >= 1, "must be >= 1"),
            ("sfcm_clusters", self.sfcm_clusters >= 2, "must be >= 2"),
            ("sfcm_fuzziness", self.sfcm_fuzziness > 1, "must be > 1"),
            ("registration_grid_mm", self.registration_grid_mm > 0, "must be > 0"),
            ("registration_iterations", self.registration_iterations >= 1, "must be >= 1"),
            ("cv_folds", self.cv_folds >= 2, "must be >= 2"),
            ("k_grid", len(self.k_grid) > 0 and min(self.k_grid) >= 1, "must hold numbers >= 1"),
            ("reference_model", self.reference_model in MODEL_SETS, f"must be one of {MODEL_SETS}"),
            ("resample_spacing_mm", self.resample_spacing_mm is None or (len(self.resample_spacing_mm) == 3 and
                                                                         min(self.resample_spacing_mm) > 0),
             "must be three positive numbers or null"),
        ]
        for key, ok, message in checks:
            if not ok:
                raise ConfigError(f"key {key!r} {message}, got {getattr(self, key)!r}")
