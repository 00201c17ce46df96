"""Spoiled-gradient-echo (SPGR) signal, variable-flip-angle T1 and signal to concentration, vectorised."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from biomedai.errors import InvalidInputError


def spgr_signal(r1: np.ndarray | float, flip_angle_deg: float | np.ndarray, tr: float, m0: np.ndarray | float = 1.0
                ) -> np.ndarray:
    """SPGR steady-state signal ``M0 sin(a) (1 - E) / (1 - cos(a) E)``, ``E = exp(-TR R1)`` (TR in s, R1 in /s)."""
    a = np.deg2rad(np.asarray(flip_angle_deg, float))
    e = np.exp(-float(tr) * np.asarray(r1, float))
    return np.asarray(m0, float) * np.sin(a) * (1 - e) / (1 - np.cos(a) * e)


@dataclass
class T1Fit:
    """Result of a variable-flip-angle fit: ``r1`` (/s), ``s0`` (M0) and the fit's RMSE, per voxel."""

    r1: np.ndarray
    s0: np.ndarray
    rmse: np.ndarray


def _vfa_linear(signal: np.ndarray, a: np.ndarray, tr: float) -> tuple[np.ndarray, np.ndarray]:
    # DESPOT1: S/sin(a) = E * S/tan(a) + M0 (1 - E), a straight line per voxel
    y = signal / np.sin(a)
    x = signal / np.tan(a)
    xm, ym = x.mean(-1, keepdims=True), y.mean(-1, keepdims=True)
    slope = ((x - xm) * (y - ym)).sum(-1) / np.maximum(((x - xm) ** 2).sum(-1), 1e-300)
    slope = np.clip(slope, 1e-9, 1 - 1e-9)
    intercept = ym[..., 0] - slope * xm[..., 0]
    return -np.log(slope) / tr, intercept / (1 - slope)


def vfa_t1(signal: np.ndarray, flip_angles_deg: np.ndarray, tr: float, *, method: str = "nonlinear",
           iterations: int = 50) -> T1Fit:
    """R1 (/s) and M0 from SPGR signals at several flip angles (last axis), per voxel.

    ``method="linear"``: DESPOT1 line fit; ``"nonlinear"``: Gauss-Newton least squares on the signal,
    started from the linear fit (all voxels at once).
    """
    s = np.asarray(signal, float)
    a = np.deg2rad(np.asarray(flip_angles_deg, float))
    if s.shape[-1] != a.shape[-1] or a.shape[-1] < 2:
        raise InvalidInputError(f"need >= 2 flip angles matching the signal's last axis, got {a.shape[-1]} "
                                f"angles for {s.shape[-1]} signals")
    if tr <= 0:
        raise InvalidInputError(f"TR must be > 0 s, got {tr}")
    r1, m0 = _vfa_linear(s, a, tr)
    if method == "nonlinear":
        r1, m0 = _vfa_gauss_newton(s, a, tr, r1, m0, iterations)
    elif method != "linear":
        raise InvalidInputError(f"unknown VFA method {method!r} (linear, nonlinear)")
    rmse = np.sqrt(np.mean((spgr_signal(r1[..., None], np.rad2deg(a), tr, m0[..., None]) - s) ** 2, axis=-1))
    return T1Fit(r1, m0, rmse)


def _vfa_gauss_newton(s: np.ndarray, a: np.ndarray, tr: float, r1: np.ndarray, m0: np.ndarray, iterations: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    # parameters (M0, E); the signal is linear in M0, so each step solves a 2x2 system per voxel (damped)
    e = np.clip(np.exp(-tr * np.where(np.isfinite(r1), r1, 1.0)), 1e-6, 1 - 1e-9)
    m = np.where(np.isfinite(m0) & (m0 > 0), m0, s.max(-1) * 10)
    sin, cos = np.sin(a), np.cos(a)
    lam = np.full(e.shape, 1e-3)
    cost = _vfa_cost(s, sin, cos, m, e)
    for _ in range(iterations):
        den = 1 - cos * e[..., None]
        f = sin * (1 - e[..., None]) / den
        d_e = m[..., None] * sin * (cos - 1) / den ** 2
        r = s - m[..., None] * f
        jtj = np.stack([np.stack([(f * f).sum(-1), (f * d_e).sum(-1)], -1),
                        np.stack([(f * d_e).sum(-1), (d_e * d_e).sum(-1)], -1)], -2)
        jtr = np.stack([(f * r).sum(-1), (d_e * r).sum(-1)], -1)
        jtj = jtj + lam[..., None, None] * np.eye(2) * np.diagonal(jtj, axis1=-2, axis2=-1)[..., None, :]
        step = np.linalg.solve(jtj + 1e-300 * np.eye(2), jtr[..., None])[..., 0]
        m_new = m + step[..., 0]
        e_new = np.clip(e + step[..., 1], 1e-9, 1 - 1e-12)
        new_cost = _vfa_cost(s, sin, cos, m_new, e_new)
        better = new_cost < cost
        m, e, cost = np.where(better, m_new, m), np.where(better, e_new, e), np.where(better, new_cost, cost)
        lam = np.where(better, lam * 0.3, lam * 10)
    return -np.log(e) / tr, m


def _vfa_cost(s: np.ndarray, sin: np.ndarray, cos: np.ndarray, m: np.ndarray, e: np.ndarray) -> np.ndarray:
    model = m[..., None] * sin * (1 - e[..., None]) / (1 - cos * e[..., None])
    return ((s - model) ** 2).sum(-1)


def signal_to_concentration(signal: np.ndarray, *, flip_angle_deg: float, tr: float, t10: np.ndarray | float,
                            relaxivity: float, n_baseline: int, baseline_start: int = 0) -> np.ndarray:
    """Contrast-agent concentration (mM) from SPGR signal curves (time on the last axis).

    M0 comes from the mean of samples ``baseline_start:n_baseline`` (the OSIPI reference code skips the first
    sample: ``baseline_start=1``) and the pre-contrast T1 (``t10``, s, a scalar
    or one per voxel); R1(t) from inverting the SPGR equation; ``C = (R1 - 1/T10) / r1`` (r1 in /mM/s).
    Samples whose signal exceeds the SPGR maximum (R1 infinite) are returned as NaN.
    """
    s = np.asarray(signal, float)
    if s.ndim < 1 or s.shape[-1] <= n_baseline or not 0 <= baseline_start < n_baseline:
        raise InvalidInputError(f"need 1 <= n_baseline < number of time points, got {n_baseline} for "
                                f"{s.shape[-1] if s.ndim else 0} points")
    t10 = np.asarray(t10, float)
    if np.any(t10 <= 0) or relaxivity <= 0 or tr <= 0:
        raise InvalidInputError("T10, relaxivity and TR must be > 0")
    r10 = 1.0 / t10
    a = np.deg2rad(flip_angle_deg)
    baseline = s[..., baseline_start:n_baseline].mean(-1)
    m0 = baseline / spgr_signal(r10, flip_angle_deg, tr)
    x = s / (np.asarray(m0)[..., None] * np.sin(a))
    with np.errstate(divide="ignore", invalid="ignore"):
        e = (1 - x) / (1 - x * np.cos(a))
        r1 = -np.log(e) / tr
    r1 = np.where(np.isfinite(r1), r1, np.nan)
    return (r1 - np.asarray(r10)[..., None]) / relaxivity
