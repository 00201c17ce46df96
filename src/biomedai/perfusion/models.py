"""Forward models (tissue concentration from an arterial input), vectorised over voxels.

Times are in seconds, transfer constants (Ktrans, kep, PS) in /min as the field reports them. The
convolution with ``exp(-kep t)`` is exact for an input that is piecewise linear between its samples
(recursive, one pass over time; any sampling, uniform or not).
"""
from __future__ import annotations

import numpy as np

from biomedai.errors import InvalidInputError


def check_times(t: np.ndarray, where: str = "times") -> np.ndarray:
    """``t`` as a float vector that is finite and strictly increasing, else ``InvalidInputError``."""
    t = np.asarray(t, float)
    if t.ndim != 1 or t.size < 2:
        raise InvalidInputError(f"{where}: need a 1-D vector of >= 2 times, got shape {t.shape}")
    if not np.all(np.isfinite(t)):
        raise InvalidInputError(f"{where}: times contain NaN or infinity")
    if np.any(np.diff(t) <= 0):
        bad = int(np.argmax(np.diff(t) <= 0))
        raise InvalidInputError(f"{where}: times must increase, but t[{bad + 1}] = {t[bad + 1]} <= t[{bad}] = {t[bad]}")
    return t


def exp_convolve(t: np.ndarray, ca: np.ndarray, kep_per_min: np.ndarray | float) -> np.ndarray:
    """``integral_0^t ca(u) exp(-kep (t - u)) du`` (in min x concentration) for every ``kep`` at once.

    ``ca`` has time on its last axis (shape ``(..., T)``, broadcast against ``kep``'s shape + ``(T,)``);
    returns ``broadcast(ca[..., 0], kep).shape + (T,)``.
    """
    t = check_times(t) / 60.0
    ca = np.asarray(ca, float)
    k = np.maximum(np.asarray(kep_per_min, float), 1e-9)
    dt = np.diff(t)
    shape = np.broadcast_shapes(ca.shape[:-1], k.shape)
    out = np.zeros(shape + (t.size,))
    uniform = np.allclose(dt, dt[0], rtol=1e-9, atol=0)
    weights = _step_weights(k, dt[0]) if uniform else None
    for i, d in enumerate(dt):
        ex, w0, w1 = weights if uniform else _step_weights(k, d)
        out[..., i + 1] = out[..., i] * ex + w0 * ca[..., i] + w1 * ca[..., i + 1]
    return out


def _step_weights(k: np.ndarray, d: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decay and the weights of ``ca[i]``, ``ca[i+1]`` over one step of length ``d`` (series for small k d)."""
    x = k * d
    ex = np.exp(-x)
    small = x < 1e-4
    xs = np.where(small, 1.0, x)
    w1 = np.where(small, d * (0.5 - x / 6 + x * x / 24), (d / xs) * (1 - (1 - ex) / xs))
    w_all = np.where(small, d * (1 - x / 2 + x * x / 6), -d * np.expm1(-xs) / xs)
    return ex, w_all - w1, w1


def cumulative_integral(t: np.ndarray, ca: np.ndarray) -> np.ndarray:
    """Trapezoid running integral of ``ca`` over ``t`` (s), in min x concentration."""
    t = check_times(t) / 60.0
    ca = np.asarray(ca, float)
    steps = 0.5 * (ca[..., 1:] + ca[..., :-1]) * np.diff(t)
    return np.concatenate([np.zeros(ca.shape[:-1] + (1,)), np.cumsum(steps, axis=-1)], axis=-1)


def shift_input(t: np.ndarray, ca: np.ndarray, delay: float | np.ndarray) -> np.ndarray:
    """The input delayed by ``delay`` seconds (linear interpolation; before the start it holds ``ca[0]``)."""
    t = np.asarray(t, float)
    ca = np.asarray(ca, float)
    d = np.asarray(delay, float)
    if d.ndim == 0:
        return np.interp(t - float(d), t, ca)
    return np.stack([np.interp(t - float(v), t, ca) for v in d.ravel()]).reshape(d.shape + t.shape)


def tofts_concentration(t: np.ndarray, ca: np.ndarray, ktrans: np.ndarray | float, ve: np.ndarray | float
                        ) -> np.ndarray:
    """Standard Tofts model ``Ktrans * ca (*) exp(-Ktrans/ve t)``."""
    ktrans = np.asarray(ktrans, float)
    kep = ktrans / np.maximum(np.asarray(ve, float), 1e-12)
    return ktrans[..., None] * exp_convolve(t, ca, kep)


def extended_tofts_concentration(t: np.ndarray, ca: np.ndarray, ktrans: np.ndarray | float,
                                 ve: np.ndarray | float, vp: np.ndarray | float) -> np.ndarray:
    """Extended Tofts model ``vp ca + Ktrans ca (*) exp(-Ktrans/ve t)``."""
    return np.asarray(vp, float)[..., None] * np.asarray(ca, float) + tofts_concentration(t, ca, ktrans, ve)


def patlak_concentration(t: np.ndarray, ca: np.ndarray, ps: np.ndarray | float, vp: np.ndarray | float
                         ) -> np.ndarray:
    """Patlak model ``vp ca + PS integral(ca)``."""
    return (np.asarray(vp, float)[..., None] * np.asarray(ca, float)
            + np.asarray(ps, float)[..., None] * cumulative_integral(t, ca))
