"""Voxelwise Tofts, extended Tofts and Patlak fits, vectorised over voxels.

The models are linear in all parameters but ``kep`` (variable projection): for every ``kep`` of a log-spaced
grid (and every arterial delay of a grid, when the delay is fitted) the best linear parameters and the
residual of every voxel come from a few matrix products; then a golden-section search refines each voxel's
``kep`` between its grid neighbours. Patlak is linear and solved in closed form. Bounds as in the OSIPI tests:
0 <= Ktrans <= 5 /min, 0 <= ve <= 1, 0 <= vp <= 1.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from biomedai.errors import InvalidInputError

from .models import check_times, cumulative_integral, exp_convolve, shift_input

logger = logging.getLogger(__name__)

KTRANS_MAX = 5.0
GOLDEN = (np.sqrt(5) - 1) / 2


@dataclass
class PKFit:
    """Parameter maps of one model fit (leading shape of the input curves) and fit-quality maps.

    ``params`` maps names (``Ktrans``, ``ve``, ``kep``, ``vp``, ``PS``; ``delay`` in s when fitted) to arrays;
    ``rmse`` (mM) and ``r2`` judge the fit; ``valid`` is False where a curve had NaNs or was all zero.
    """

    model: str
    params: dict[str, np.ndarray]
    rmse: np.ndarray
    r2: np.ndarray
    valid: np.ndarray
    fitted: np.ndarray | None = field(default=None, repr=False)

    def maps(self) -> dict[str, np.ndarray]:
        """Every map of the fit (parameters + ``rmse`` + ``r2``) by name."""
        return {**self.params, "rmse": self.rmse, "r2": self.r2}


def _sample_index(t: np.ndarray, sample_at: np.ndarray | None) -> np.ndarray:
    """Indices of the measured times in the model grid ``t`` (all of it when ``sample_at`` is None)."""
    if sample_at is None:
        return np.arange(t.size)
    s = check_times(sample_at, "sample_at")
    idx = np.searchsorted(t, s)
    if np.any(idx >= t.size) or not np.allclose(t[np.minimum(idx, t.size - 1)], s, atol=1e-6):
        raise InvalidInputError("every measured time (sample_at) must be one of the model grid's times t")
    return idx


def _curves(t: np.ndarray, ca: np.ndarray, c: np.ndarray, n_samples: int | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
    t = check_times(t)
    ca = np.asarray(ca, float)
    c = np.asarray(c, float)
    if ca.shape != t.shape:
        raise InvalidInputError(f"the AIF has {ca.shape} samples but there are {t.size} times")
    if not np.all(np.isfinite(ca)):
        raise InvalidInputError("the AIF contains NaN or infinity")
    n = t.size if n_samples is None else n_samples
    if c.shape[-1] != n:
        raise InvalidInputError(f"curves have {c.shape[-1]} time points but there are {n} times")
    return t, ca, c.reshape(-1, n), c.shape[:-1]


def _delays(fit_delay: bool, delay: float, delay_range: tuple[float, float], delay_step: float) -> np.ndarray:
    if not fit_delay:
        return np.array([float(delay)])
    lo, hi = delay_range
    if hi < lo or delay_step <= 0:
        raise InvalidInputError(f"bad delay grid {delay_range} step {delay_step}")
    return np.arange(lo, hi + delay_step / 2, delay_step)


def _quality(c: np.ndarray, sse: np.ndarray, n_params: int) -> tuple[np.ndarray, np.ndarray]:
    sst = ((c - c.mean(-1, keepdims=True)) ** 2).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(sst > 0, 1 - sse / sst, np.nan)
    return np.sqrt(np.maximum(sse, 0) / c.shape[-1]), r2


def _solve_two(g00, g01, g11, r0, r1, hi0, hi1):
    """Least squares for two non-negative coefficients with upper bounds (2x2 normal equations per row)."""
    det = g00 * g11 - g01 * g01
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(det > 0, (g11 * r0 - g01 * r1) / det, 0.0)
        b = np.where(det > 0, (g00 * r1 - g01 * r0) / det, 0.0)
        only_a = np.clip(np.where(g00 > 0, r0 / g00, 0.0), 0, hi0)
        only_b = np.clip(np.where(g11 > 0, r1 / g11, 0.0), 0, hi1)
    inside = (a >= 0) & (b >= 0) & (a <= hi0) & (b <= hi1)

    def sse_minus_c2(x, y):
        return -2 * (x * r0 + y * r1) + x * x * g00 + 2 * x * y * g01 + y * y * g11

    cand = [(np.clip(a, 0, hi0), np.clip(b, 0, hi1)), (only_a, np.zeros_like(only_a)), (np.zeros_like(only_b), only_b)]
    costs = np.stack([sse_minus_c2(x, y) for x, y in cand])
    costs[0] = np.where(inside, costs[0], np.inf)
    pick = np.argmin(costs, axis=0)
    xs = np.choose(pick, [np.broadcast_to(x, pick.shape) for x, _ in cand])
    ys = np.choose(pick, [np.broadcast_to(y, pick.shape) for _, y in cand])
    return xs, ys, np.min(costs, axis=0)


def _profile(model: str, c: np.ndarray, ca_d: np.ndarray, e: np.ndarray, k: np.ndarray, ve_max: float,
             per_row: bool):
    """Best linear parameters and ``sse - |c|^2`` for each curve (rows of c) with basis ``e``: one basis per row
    (``per_row``) or every curve against every basis of a grid (results ``(curves, grid)``)."""
    hi_kt = np.minimum(KTRANS_MAX, k * ve_max)
    if model == "tofts":
        num = (c * e).sum(-1) if per_row else c @ e.T
        den = (e * e).sum(-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            kt = np.clip(np.where(den > 0, num / den, 0.0), 0, hi_kt)
        return kt, np.zeros_like(kt), -2 * kt * num + kt * kt * den
    # extended Tofts: coefficients (vp, Ktrans) of the basis (ca_d, e)
    g00, g01, g11 = (ca_d * ca_d).sum(-1), (ca_d * e).sum(-1), (e * e).sum(-1)
    if per_row:
        r0, r1 = (c * ca_d).sum(-1), (c * e).sum(-1)
    else:
        r0, r1 = (c @ ca_d.T), (c @ e.T)
    vp, kt, cost = _solve_two(g00, g01, g11, r0, r1, 1.0, hi_kt)
    return kt, vp, cost


def _fit_tofts_family(model: str, t, ca, c, *, fit_delay: bool, delay: float, delay_range, delay_step,
                      kep_range: tuple[float, float], n_kep: int, refine_iterations: int, ve_max: float,
                      chunk: int, keep_fitted: bool, sample_at: np.ndarray | None = None) -> PKFit:
    idx = _sample_index(check_times(t), sample_at)
    t, ca, flat, lead = _curves(t, ca, c, idx.size)
    valid = np.all(np.isfinite(flat), -1) & np.any(flat != 0, -1)
    flat = np.where(valid[:, None], flat, 0.0)
    delays = _delays(fit_delay, delay, delay_range, delay_step)
    kgrid = np.geomspace(kep_range[0], kep_range[1], n_kep)
    ca_d = shift_input(t, ca, delays) if fit_delay else shift_input(t, ca, delays[0])[None]
    basis = exp_convolve(t, ca_d[:, None, :], kgrid[None, :])[..., idx]  # (D, K, measured T)
    grid_e = basis.reshape(-1, idx.size)
    grid_ca = np.repeat(ca_d[:, idx], n_kep, axis=0)
    grid_k = np.tile(kgrid, delays.size)
    n = flat.shape[0]
    best = np.zeros(n, int)
    for s in range(0, n, chunk):
        block = flat[s:s + chunk]
        _, _, cost = _profile(model, block, grid_ca, grid_e, grid_k[None, :], ve_max, per_row=False)
        best[s:s + chunk] = np.argmin(cost, axis=1)
    d_idx, k_idx = np.divmod(best, n_kep)
    log_k = np.log(kgrid)
    lo = log_k[np.maximum(k_idx - 1, 0)]
    hi = log_k[np.minimum(k_idx + 1, n_kep - 1)]
    ca_full = ca_d[d_idx]
    ca_v = ca_full[:, idx]

    def cost_at(logk):
        k = np.exp(logk)
        e = exp_convolve(t, ca_full, k)[:, idx]
        return _profile(model, flat, ca_v, e, k, ve_max, per_row=True)

    x1, x2 = hi - GOLDEN * (hi - lo), lo + GOLDEN * (hi - lo)
    f1, f2 = cost_at(x1)[2], cost_at(x2)[2]
    for _ in range(refine_iterations):
        left = f1 < f2
        hi = np.where(left, x2, hi)
        lo = np.where(left, lo, x1)
        x2n = np.where(left, x1, lo + GOLDEN * (hi - lo))
        x1n = np.where(left, hi - GOLDEN * (hi - lo), x2)
        new = cost_at(np.where(left, x1n, x2n))[2]
        f1, f2 = np.where(left, new, f2), np.where(left, f1, new)
        x1, x2 = x1n, x2n
    logk = 0.5 * (lo + hi)
    kt, vp, cost = cost_at(logk)
    kep = np.exp(logk)
    sse = cost + (flat * flat).sum(-1)
    rmse, r2 = _quality(flat, sse, 2 if model == "tofts" else 3)
    with np.errstate(divide="ignore", invalid="ignore"):
        ve = np.where(kep > 0, kt / kep, np.nan)
    params = {"Ktrans": kt, "ve": ve, "kep": kep}
    if model == "extended_tofts":
        params["vp"] = vp
    if fit_delay:
        params["delay"] = delays[d_idx]
    fitted = None
    if keep_fitted:
        fitted = kt[:, None] * exp_convolve(t, ca_full, kep)[:, idx] + vp[:, None] * ca_v
    return _pack(model, params, rmse, r2, valid, lead, fitted)


def _pack(model, params, rmse, r2, valid, lead, fitted) -> PKFit:
    def shape(a):
        a = np.where(valid, a, np.nan) if a.dtype.kind == "f" else a
        return a.reshape(lead)

    return PKFit(model, {k: shape(v) for k, v in params.items()}, shape(rmse), shape(r2), valid.reshape(lead),
                 None if fitted is None else fitted.reshape(lead + (fitted.shape[-1],)))


def fit_tofts(t: np.ndarray, ca: np.ndarray, c: np.ndarray, *, fit_delay: bool = False, delay: float = 0.0,
              delay_range: tuple[float, float] = (-10.0, 10.0), delay_step: float = 0.5,
              kep_range: tuple[float, float] = (1e-3, 60.0), n_kep: int = 200, refine_iterations: int = 16,
              ve_max: float = 1.0, chunk: int = 20000, keep_fitted: bool = False,
              sample_at: np.ndarray | None = None) -> PKFit:
    """Standard Tofts fit of curves ``c`` (time on the last axis, mM) with input ``ca`` on times ``t`` (s).

    Returns Ktrans (/min), ve, kep (/min) and, with ``fit_delay``, the arterial delay (s) from a grid.
    ``sample_at``: the times (a subset of ``t``) at which the curves were measured, when the input is given
    on a finer grid than the images (coarse DCE phases miss the bolus; the model is integrated on ``t``).
    """
    return _fit_tofts_family("tofts", t, ca, c, fit_delay=fit_delay, delay=delay, delay_range=delay_range,
                             delay_step=delay_step, kep_range=kep_range, n_kep=n_kep,
                             refine_iterations=refine_iterations, ve_max=ve_max, chunk=chunk, keep_fitted=keep_fitted,
                             sample_at=sample_at)


def fit_extended_tofts(t: np.ndarray, ca: np.ndarray, c: np.ndarray, *, fit_delay: bool = False, delay: float = 0.0,
                       delay_range: tuple[float, float] = (-10.0, 10.0), delay_step: float = 0.5,
                       kep_range: tuple[float, float] = (1e-3, 60.0), n_kep: int = 200, refine_iterations: int = 16,
                       ve_max: float = 1.0, chunk: int = 20000, keep_fitted: bool = False,
                       sample_at: np.ndarray | None = None) -> PKFit:
    """Extended Tofts fit: Ktrans (/min), ve, kep (/min), vp (and the delay, s, with ``fit_delay``)."""
    return _fit_tofts_family("extended_tofts", t, ca, c, fit_delay=fit_delay, delay=delay, delay_range=delay_range,
                             delay_step=delay_step, kep_range=kep_range, n_kep=n_kep,
                             refine_iterations=refine_iterations, ve_max=ve_max, chunk=chunk, keep_fitted=keep_fitted,
                             sample_at=sample_at)


def fit_patlak(t: np.ndarray, ca: np.ndarray, c: np.ndarray, *, fit_delay: bool = False, delay: float = 0.0,
               delay_range: tuple[float, float] = (-10.0, 10.0), delay_step: float = 0.5,
               keep_fitted: bool = False, sample_at: np.ndarray | None = None) -> PKFit:
    """Patlak fit ``C = vp ca + PS integral(ca)``: PS (/min), vp (and the delay, s, with ``fit_delay``);
    ``sample_at`` as in :func:`fit_tofts`."""
    idx = _sample_index(check_times(t), sample_at)
    t, ca, flat, lead = _curves(t, ca, c, idx.size)
    valid = np.all(np.isfinite(flat), -1) & np.any(flat != 0, -1)
    flat = np.where(valid[:, None], flat, 0.0)
    delays = _delays(fit_delay, delay, delay_range, delay_step)
    ca_d = shift_input(t, ca, delays) if fit_delay else shift_input(t, ca, delays[0])[None]
    integ = cumulative_integral(t, ca_d)[:, idx]
    ca_d = ca_d[:, idx]
    g00, g01, g11 = (ca_d * ca_d).sum(-1), (ca_d * integ).sum(-1), (integ * integ).sum(-1)
    vp, ps, cost = _solve_two(g00, g01, g11, flat @ ca_d.T, flat @ integ.T, 1.0, KTRANS_MAX)
    d_idx = np.argmin(cost, axis=1)
    rows = np.arange(flat.shape[0])
    vp, ps, cost = vp[rows, d_idx], ps[rows, d_idx], cost[rows, d_idx]
    rmse, r2 = _quality(flat, cost + (flat * flat).sum(-1), 2)
    params = {"PS": ps, "Ktrans": ps, "vp": vp}
    if fit_delay:
        params["delay"] = delays[d_idx]
    fitted = vp[:, None] * ca_d[d_idx] + ps[:, None] * integ[d_idx] if keep_fitted else None
    return _pack("patlak", params, rmse, r2, valid, lead, fitted)
