"""Settings of the CRC radiomics nomogram (Cai et al.). Defaults are the paper's where it fixes them and the
spec's recommended decisions (``../shared/specs/xray-ct.md`` section 2.3, 2.7) where it does not."""
from __future__ import annotations

import dataclasses
from typing import Literal

from biomedai.config import BaseConfig
from biomedai.errors import ConfigError


@dataclasses.dataclass
class CrcNomogramConfig(BaseConfig):
    # --- features (spec 2.3 step 2: PyRadiomics "original" set, 107 features; binWidth 25, no resampling) ----
    bin_width: float = 25.0
    #: the ROI label in the mask files
    label: int = 1
    # --- preprocessing (steps 3-4) -------------------------------------------------------------------------
    #: z-score with the primary cohort's mean/SD ("primary", deployable) or per cohort (the paper's wording)
    zscore: Literal["primary", "per_cohort"] = "primary"
    #: the paper's "80 % of features with higher signal": rank on the primary cohort's raw features
    filter_criterion: Literal["mean_abs", "variance", "none"] = "mean_abs"
    filter_fraction: float = 0.8
    # --- LASSO-Cox (step 5: glmnet, alpha = 1; 10-fold CV, lambda.min, fixed seed) ------------------------
    alpha: float = 1.0
    n_folds: int = 10
    lambda_rule: Literal["min", "1se"] = "min"
    n_lambda: int = 50
    lambda_min_ratio: float = 0.01
    # --- cut-off (step 7: survivalROC, KM method, Youden at 5 years) -------------------------------------
    time_unit: str = "months"
    cutoff_horizon: float = 60.0
    #: a fixed cut-off instead of the Youden rule (the paper's is -0.077 with its own coefficients)
    fixed_cutoff: float | None = None
    # --- survival analysis, Cox tables and nomogram (steps 8-9) ------------------------------------------
    clinical_variables: tuple[str, ...] = ("sex", "age", "cea", "grade", "tnm")
    #: multivariable model: univariably significant variables (Table 2 layout), or all of them
    multivariable: Literal["significant", "all"] = "significant"
    #: Rad-score in the nomogram: continuous (spec default) or the high/low group
    nomogram_radscore: Literal["continuous", "binary"] = "continuous"
    nomogram_clinical: tuple[str, ...] = ("tnm",)
    #: 3- and 5-year DFS (Fig. 3)
    horizons: tuple[float, ...] = (36.0, 60.0)
    # --- calibration and discrimination (steps 10-11) ----------------------------------------------------
    calibration_boot: int = 1000
    #: subjects per calibration group; 0 = n / 4 (spec default m ~ n/4)
    calibration_group_size: int = 0
    cindex_boot: int = 1000

    def validate(self) -> None:
        super().validate()
        checks = [
            ("bin_width", self.bin_width > 0, "must be > 0"),
            ("filter_fraction", 0 < self.filter_fraction <= 1, "must be in (0, 1]"),
            ("alpha", 0 <= self.alpha <= 1, "must be in [0, 1]"),
            ("n_folds", self.n_folds >= 2, "must be >= 2"),
            ("n_lambda", self.n_lambda >= 2, "must be >= 2"),
            ("lambda_min_ratio", 0 < self.lambda_min_ratio < 1, "must be in (0, 1)"),
            ("cutoff_horizon", self.cutoff_horizon > 0, "must be > 0"),
            ("horizons", len(self.horizons) > 0 and all(h > 0 for h in self.horizons), "must be positive times"),
            ("calibration_boot", self.calibration_boot >= 0, "must be >= 0"),
            ("calibration_group_size", self.calibration_group_size >= 0, "must be >= 0"),
            ("cindex_boot", self.cindex_boot >= 0, "must be >= 0"),
            ("nomogram_clinical", all(v in self.clinical_variables for v in self.nomogram_clinical),
             "must be a subset of clinical_variables"),
        ]
        for key, ok, message in checks:
            if not ok:
                raise ConfigError(f"key {key!r} {message}, got {getattr(self, key)!r}")
