"""The frozen radiomics-nomogram model: selected features, z-score parameters, LASSO coefficients, the Rad-score
cut-off and the nomogram's Cox model, saved as one JSON file; plus the paper's published formula as a preset."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError, WeightsError

MODEL_FORMAT = "biomedai.crc_radiomics_nomogram/1"

#: Cai et al., Sec. "Radiomics signature" (spec 2.3 step 6): coefficients of the z-scored features.
PAPER_COEFFICIENTS: dict[str, float] = {
    "original_shape_Maximum2DDiameterRow": 0.075,
    "original_firstorder_RobustMeanAbsoluteDeviation": -0.070,
    "original_glrlm_LongRunLowGrayLevelEmphasis": 0.029,
    "original_glrlm_RunVariance": 0.028,
    "original_glszm_SizeZoneNonUniformityNormalized": 0.116,
}
#: Cai et al. (spec 2.3 step 7): survivalROC optimal cut-off, high risk if Rad-score > -0.077.
PAPER_CUTOFF = -0.077


@dataclass
class NomogramCox:
    """Cox model of the nomogram: ``S(t | x) = S0c(t) ** exp(sum coef_j (x_j - mean_j))``."""

    covariates: list[str]
    coef: list[float]
    means: list[float]
    baseline_times: list[float]
    baseline_survival: list[float]  # at the means (lifelines' convention)
    ranges: dict[str, list[float]] = field(default_factory=dict)  # training range per covariate (nomogram axes)

    def linear_predictor(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, float) - np.asarray(self.means)) @ np.asarray(self.coef)

    def baseline_at(self, t: float) -> float:
        times = np.asarray(self.baseline_times)
        idx = int(np.searchsorted(times, t, side="right")) - 1
        return 1.0 if idx < 0 else float(self.baseline_survival[idx])

    def survival_at(self, X: np.ndarray, t: float) -> np.ndarray:
        return self.baseline_at(t) ** np.exp(self.linear_predictor(X))


@dataclass
class RadiomicsNomogramModel:
    """Everything needed to score a new patient: see :meth:`rad_score`, :meth:`risk_group`, :meth:`survival`."""

    features: list[str]
    coefficients: list[float]
    cutoff: float
    zscore_mean: list[float] | None  # None: fit the z-score on the cohort being scored (paper preset)
    zscore_sd: list[float] | None
    cox: NomogramCox | None = None
    radscore_mode: str = "continuous"  # how the Rad-score enters the nomogram: continuous / binary
    time_unit: str = "months"
    source: str = "trained"
    notes: dict[str, Any] = field(default_factory=dict)

    # -------------------------------------------------------------------------- scoring
    def zscored(self, raw: np.ndarray, where: str = "features") -> np.ndarray:
        """``(n, k)`` raw values of :attr:`features` -> z-scores (the cohort's own when no parameters saved)."""
        raw = np.asarray(raw, float)
        if raw.ndim != 2 or raw.shape[1] != len(self.features):
            raise InvalidInputError(f"expected {len(self.features)} feature columns, got shape {raw.shape}", where)
        if not np.all(np.isfinite(raw)):
            row = int(np.argwhere(~np.isfinite(raw))[0, 0])
            raise InvalidInputError(f"non-finite feature value in row {row + 1}", where)
        if self.zscore_mean is None:
            if raw.shape[0] < 3:
                raise InvalidInputError("the paper preset z-scores on the scored cohort itself; give >= 3 patients",
                                        where)
            mean, sd = raw.mean(axis=0), raw.std(axis=0, ddof=1)
        else:
            mean, sd = np.asarray(self.zscore_mean), np.asarray(self.zscore_sd)
        return (raw - mean) / np.where(sd > 0, sd, 1.0)

    def rad_score(self, raw: np.ndarray, where: str = "features") -> np.ndarray:
        """Rad-score = sum coef_j z_j (no intercept), spec 2.3 step 6."""
        return self.zscored(raw, where) @ np.asarray(self.coefficients)

    def risk_group(self, score: np.ndarray) -> np.ndarray:
        """1 = high risk (Rad-score > cut-off), 0 = low risk."""
        return (np.asarray(score) > self.cutoff).astype(int)

    def nomogram_inputs(self, score: np.ndarray, clinical: dict[str, np.ndarray]) -> np.ndarray:
        if self.cox is None:
            raise WeightsError("this model has no nomogram Cox model (the paper preset publishes none)")
        cols = []
        for name in self.cox.covariates:
            if name == "radscore":
                cols.append(self.risk_group(score) if self.radscore_mode == "binary" else np.asarray(score))
            else:
                cols.append(np.asarray(clinical[name], float))
        return np.column_stack(cols)

    def survival(self, score: np.ndarray, clinical: dict[str, np.ndarray], t: float) -> np.ndarray:
        """Nomogram-predicted survival at time ``t`` (NaN where a clinical value is missing)."""
        return self.cox.survival_at(self.nomogram_inputs(score, clinical), t) if self.cox else None

    # -------------------------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        return {"format": MODEL_FORMAT, **asdict(self)}

    def save(self, path: str | Path) -> Path:
        from biomedai.utils import write_json_atomic

        return write_json_atomic(Path(path), self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> RadiomicsNomogramModel:
        path = Path(path)
        if not path.is_file():
            raise WeightsError(f"{path}: model file not found")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise WeightsError(f"{path}: not a JSON model file ({exc})") from exc
        if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT:
            raise WeightsError(f"{path}: not a {MODEL_FORMAT} model (format={data.get('format') if isinstance(data, dict) else None!r})")
        data.pop("format")
        cox = data.pop("cox", None)
        try:
            model = cls(**data, cox=NomogramCox(**cox) if cox else None)
        except TypeError as exc:
            raise WeightsError(f"{path}: malformed model ({exc})") from exc
        if len(model.features) != len(model.coefficients) or not all(math.isfinite(c) for c in model.coefficients):
            raise WeightsError(f"{path}: features and coefficients do not match")
        return model


def paper_preset() -> RadiomicsNomogramModel:
    """Cai et al.'s published 5-feature formula and cut-off -0.077.

    The paper does not publish its z-score parameters nor its nomogram's Cox coefficients, so the preset
    z-scores on the cohort it scores (the paper's per-cohort z-scoring) and has no nomogram.

    >>> m = paper_preset(); m.features[0], m.cutoff
    ('original_shape_Maximum2DDiameterRow', -0.077)
    """
    return RadiomicsNomogramModel(list(PAPER_COEFFICIENTS), list(PAPER_COEFFICIENTS.values()), PAPER_CUTOFF,
                                  None, None, None, source="Cai et al. published formula (preset 'cai2020')",
                                  notes={"zscore": "fitted on the scored cohort (paper: per-cohort z-score)"})
