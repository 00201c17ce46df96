"""The data-driven "normal hip" model (Eq. 4, spec 1.5.4) and the diagnosis read from it, beside the
knowledge-driven CE thresholds and the Kosuge rule.

``fit_normal_model`` clusters (CE, Sharp, Tönnis) points by density peaks
(:func:`biomedai.stats.density_peaks.density_peaks`), takes the cluster of the densest point as normal
hip development and fits a 3-D normal distribution to it. ``diagnose`` scores hips against that model:
density p(x) (Eq. 4), Mahalanobis D^2 with chi-square classes, the long-axis dysplasia index t, and the
side of the model an outlier falls on.

Example:
    >>> from biomedai.methods.hip_dysplasia.synthetic import simulate_cohort
    >>> x, truth = simulate_cohort(200, 30, 4, seed=3)
    >>> model = fit_normal_model(x)
    >>> d = diagnose(model, [[35, 37, 4], [5, 48, 22]])
    >>> [r["model_class"] for r in d], [r["side_of_model"] for r in d]
    (['normal', 'outside'], ['inside', 'dysplastic'])
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.utils import write_json_atomic

MODEL_SCHEMA = "biomedai-hip-normal-model/1"
FEATURES = ("ce", "sharp", "tonnis")
#: the dysplastic direction in (CE, Sharp, Tönnis): low CE, high Sharp and Tönnis (paper, Discussion)
DYSPLASTIC_DIRECTION = np.array([-1.0, 1.0, 1.0])


@dataclass
class NormalHipModel:
    """µ, Σ (unbiased), its eigen-system (λ1 >= λ2 >= λ3, v1 oriented towards dysplasia) and the clustering."""

    mean: np.ndarray
    cov: np.ndarray
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray  # columns
    n: int
    members: np.ndarray  # indices of the fitted points
    clustering: dict[str, Any]
    params: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        from biomedai import __version__

        return {"schema": MODEL_SCHEMA, "features": list(FEATURES), "mean": self.mean.tolist(),
                "cov": self.cov.tolist(), "eigenvalues": self.eigenvalues.tolist(),
                "eigenvectors": self.eigenvectors.tolist(), "n": self.n, "members": self.members.tolist(),
                "clustering": self.clustering, "params": self.params, "biomedai_version": __version__}

    def save(self, path: str | Path) -> Path:
        return write_json_atomic(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | Path | None = None) -> NormalHipModel:
        if not isinstance(data, dict) or data.get("schema") != MODEL_SCHEMA:
            raise InvalidInputError(f"not a hip normal-model file (schema {MODEL_SCHEMA!r})", source)
        try:
            return cls(mean=np.asarray(data["mean"], float), cov=np.asarray(data["cov"], float),
                       eigenvalues=np.asarray(data["eigenvalues"], float),
                       eigenvectors=np.asarray(data["eigenvectors"], float), n=int(data["n"]),
                       members=np.asarray(data["members"], int), clustering=dict(data.get("clustering", {})),
                       params=dict(data.get("params", {})))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"hip normal-model file is incomplete ({exc})", source) from exc

    @classmethod
    def load(cls, path: str | Path) -> NormalHipModel:
        import json

        from biomedai.io._files import existing_file

        path = existing_file(path)
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")), path)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"not valid JSON ({exc})", path) from exc


def _angles(x: Any, what: str = "angles") -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise InvalidInputError(f"{what} must be an (n, 3) array of (CE, Sharp, Tönnis) degrees, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{what} contain NaN or infinite values")
    return arr


def _gaussian(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return points.mean(axis=0), np.cov(points, rowvar=False, ddof=1)


def _consistency(alpha: float, p: int = 3) -> float:
    """Variance correction for a normal sample truncated at the chi-square alpha quantile (MCD-style)."""
    from scipy.stats import chi2

    return alpha / float(chi2.cdf(chi2.ppf(alpha, p), p + 2))


def fit_normal_model(x: Any, *, dc_percentile: float = 2.0, kernel: str = "gaussian", n_sd: float = 2.0,
                     noise_fraction: float = 0.02, standardise: bool = False, reweight_quantile: float | None = 0.975,
                     reweight_steps: int = 2) -> NormalHipModel:
    """Fit the normal-hip model to (CE, Sharp, Tönnis) points.

    Args:
        x: ``(n, 3)`` angles in degrees.
        dc_percentile, kernel, n_sd, standardise: density-peaks settings (spec 1.5.3).
        noise_fraction: points with density below this fraction of the highest density are noise and
            never join a cluster (without it, scattered outliers join the nearest denser cluster).
        reweight_quantile: after the cluster fit, refit on every point with D^2 below this chi-square
            quantile, with the truncation consistency factor on Σ (None: plain cluster fit, the paper's).
        reweight_steps: how many such refits.
    """
    from biomedai.stats.density_peaks import density_peaks

    pts = _angles(x)
    if len(pts) < 10:
        raise InvalidInputError(f"the normal model needs at least 10 hips, got {len(pts)}")
    first = density_peaks(pts, dc_percentile=dc_percentile, kernel=kernel, n_sd=n_sd, standardise=standardise)
    min_density = noise_fraction * float(first.rho.max()) if noise_fraction else None
    result = density_peaks(pts, dc_percentile=dc_percentile, kernel=kernel, n_sd=n_sd, standardise=standardise,
                           min_density=min_density)
    members = np.flatnonzero(result.labels == 0)
    if len(members) < 5:
        raise InvalidInputError(f"the densest cluster has only {len(members)} hips; a 3-D normal needs more")
    mean, cov = _gaussian(pts[members])
    if reweight_quantile is not None:
        from scipy.stats import chi2

        cut = float(chi2.ppf(reweight_quantile, 3))
        factor = _consistency(reweight_quantile)
        for _ in range(reweight_steps):
            d2 = _mahalanobis2(pts, mean, cov)
            keep = np.flatnonzero(d2 <= cut)
            if len(keep) < 5:
                break
            members = keep
            mean, cov = _gaussian(pts[members])
            cov = cov * factor
    _check_cov(cov)
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    for k in range(3):
        if vectors[:, k] @ DYSPLASTIC_DIRECTION < 0:
            vectors[:, k] = -vectors[:, k]
    clustering = {"n_clusters": result.n_clusters, "dc": result.dc, "labels": result.labels.tolist(),
                  "rho": result.rho.tolist(), "delta": result.delta.tolist(), "gamma": result.gamma.tolist(),
                  "gamma_threshold": result.gamma_threshold, "peaks": result.peaks.tolist(),
                  "min_density": min_density, "n_noise": int((result.labels < 0).sum())}
    params = {"dc_percentile": dc_percentile, "kernel": kernel, "n_sd": n_sd, "noise_fraction": noise_fraction,
              "standardise": standardise, "reweight_quantile": reweight_quantile, "reweight_steps": reweight_steps,
              "covariance": "unbiased (n-1)" + (" x truncation consistency factor" if reweight_quantile else "")}
    return NormalHipModel(mean=mean, cov=cov, eigenvalues=values, eigenvectors=vectors, n=len(members),
                          members=members, clustering=clustering, params=params)


def _check_cov(cov: np.ndarray) -> None:
    if not np.all(np.isfinite(cov)) or np.linalg.eigvalsh(cov).min() <= 1e-9:
        raise InvalidInputError("the normal cluster's covariance is singular (all hips in a plane or identical)")


def _mahalanobis2(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    diff = x - mean
    return np.einsum("ij,ij->i", diff @ np.linalg.inv(cov), diff)


def density(model: NormalHipModel, x: Any) -> np.ndarray:
    """p(x) of Eq. 4."""
    pts = _angles(x)
    d2 = _mahalanobis2(pts, model.mean, model.cov)
    norm = (2 * math.pi) ** 1.5 * math.sqrt(np.linalg.det(model.cov))
    return np.exp(-0.5 * d2) / norm


def knowledge_class(ce: float) -> str:
    """CE thresholds (spec 1.2): < 20 dysplasia, 20-25 borderline, > 25 normal.

    Example:
        >>> knowledge_class(18.0), knowledge_class(22.0), knowledge_class(30.0)
        ('dysplasia', 'borderline', 'normal')
    """
    return "dysplasia" if ce < 20 else ("borderline" if ce <= 25 else "normal")


def kosuge_class(ce: float, tonnis: float) -> str:
    """Kosuge et al. 2013: dysplasia when CE < 20 and Tönnis > 10."""
    return "dysplasia" if (ce < 20 and tonnis > 10) else "normal"


def diagnose(model: NormalHipModel, x: Any, *, q_normal: float = 0.95, q_borderline: float = 0.99,
             t_star: float = 1.96) -> list[dict[str, Any]]:
    """Score hips against the model: p(x), D^2, chi-square class, long-axis index t, side of the model, and the
    knowledge-driven classes beside them."""
    from scipy.stats import chi2

    if not 0 < q_normal < q_borderline < 1:
        raise InvalidInputError(f"need 0 < q_normal < q_borderline < 1, got {q_normal}, {q_borderline}")
    pts = _angles(x)
    d2 = _mahalanobis2(pts, model.mean, model.cov)
    p = density(model, pts)
    c_normal, c_border = float(chi2.ppf(q_normal, 3)), float(chi2.ppf(q_borderline, 3))
    v1, lam1 = model.eigenvectors[:, 0], float(model.eigenvalues[0])
    t = (pts - model.mean) @ v1 / math.sqrt(lam1)
    sd = np.sqrt(np.diag(model.cov))
    out = []
    for i, (ce, sharp, tonnis) in enumerate(pts):
        cls = "normal" if d2[i] <= c_normal else ("borderline" if d2[i] <= c_border else "outside")
        z = (pts[i] - model.mean) / sd
        if cls == "normal":
            side = "inside"
        elif z[0] < 0 and z[1] > 0 and z[2] > 0:
            side = "dysplastic"
        elif z[0] > 0 and z[1] < 0 and z[2] < 0:
            side = "over-covered"
        else:
            side = "mixed"
        out.append({"ce": float(ce), "sharp": float(sharp), "tonnis": float(tonnis), "p": float(p[i]),
                    "d2": float(d2[i]), "model_class": cls, "dysplasia_index": float(t[i]),
                    "long_axis_class": "dysplasia" if t[i] > t_star else "normal", "side_of_model": side,
                    "knowledge_class": knowledge_class(ce), "kosuge_class": kosuge_class(ce, tonnis)})
    return out


def ellipsoid_axes(model: NormalHipModel, q: float = 0.95) -> np.ndarray:
    """Semi-axes (columns, in degrees) of the q-probability ellipsoid: sqrt(λ_k χ²_3(q)) v_k."""
    from scipy.stats import chi2

    return model.eigenvectors * np.sqrt(model.eigenvalues * float(chi2.ppf(q, 3)))


def rule_performance(truth_dysplastic: Sequence[bool], predicted: Sequence[bool]) -> dict[str, float]:
    """Sensitivity and specificity of a rule against known labels (uses biomedai.metrics)."""
    from biomedai.metrics import sensitivity, specificity

    t = np.asarray(truth_dysplastic, int)
    p = np.asarray(predicted, int)
    return {"sensitivity": sensitivity(t, p), "specificity": specificity(t, p), "n_positive": int(t.sum()),
            "n_negative": int((1 - t).sum())}
