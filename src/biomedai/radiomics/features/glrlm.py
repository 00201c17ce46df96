"""Grey Level Run Length Matrix (GLRLM) features, PyRadiomics definitions."""
from __future__ import annotations

from typing import Any

import numpy as np

from ._neighbours import EPS, angle_weights, angles, force2d_dim, pair_slices


def _line_keys(coords: np.ndarray, offset: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """For voxels ``coords`` (n, nd): the id of the line along ``offset`` through each, and the position on it."""
    moving = np.flatnonzero(offset)
    dist = np.stack([coords[:, d] if offset[d] > 0 else shape[d] - 1 - coords[:, d] for d in moving], axis=1)
    t = dist.min(axis=1)
    start = coords - t[:, None] * offset[None, :]
    return np.ravel_multi_index(tuple(start.T), shape), t


def matrix(levels: np.ndarray, roi: np.ndarray, offsets: np.ndarray, n_levels: int, n_runs: int) -> np.ndarray:
    """Run counts ``P[i-1, r-1, angle]``: runs of level i and length r along each offset.

    Runs stop at the ROI border. An angle along which no line holds two ROI voxels counts nothing
    (a flat ROI seen edge-on), as in PyRadiomics.

    Example:
        >>> lv = np.array([[[1, 1, 2]]]); P = matrix(lv, lv > 0, np.array([[0, 0, 1]]), 2, 3)
        >>> P[:, :, 0].tolist()
        [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    """
    shape = levels.shape
    P = np.zeros((n_levels, n_runs, len(offsets)))
    all_coords = np.argwhere(roi)
    for k, off in enumerate(offsets):
        off = np.asarray(off)
        here, there = pair_slices(shape, off)
        same = roi[here] & roi[there] & (levels[here] == levels[there])
        has_next = np.zeros(shape, dtype=bool)
        has_prev = np.zeros(shape, dtype=bool)
        has_next[here] = same
        has_prev[there] = same
        line_all, _ = _line_keys(all_coords, off, shape)
        if np.bincount(line_all).max() < 2:
            continue  # no line with more than one voxel: this angle is dropped
        starts = np.argwhere(roi & ~has_prev)
        ends = np.argwhere(roi & ~has_next)
        ls, ts = _line_keys(starts, off, shape)
        le, te = _line_keys(ends, off, shape)
        span = max(shape)
        order_s = np.argsort(ls * span + ts, kind="stable")
        order_e = np.argsort(le * span + te, kind="stable")
        run = te[order_e] - ts[order_s] + 1
        gl = levels[tuple(starts[order_s].T)]
        P[:, :, k] = np.bincount((gl - 1) * n_runs + (run - 1), minlength=n_levels * n_runs).reshape(
            n_levels, n_runs)
    return P


def features(levels: np.ndarray, roi: np.ndarray, settings: dict[str, Any], spacing: np.ndarray,
             gray_levels: np.ndarray) -> dict[str, float]:
    """All GLRLM features, each averaged over angles (nan-mean)."""
    ng = int(gray_levels.max())
    offsets = angles(levels.shape, [1], False, force2d_dim(settings))
    P = matrix(levels, roi, offsets, ng, int(max(levels.shape)))
    P = P[gray_levels - 1]
    norm = settings.get("weightingNorm")
    if norm is not None:
        w = angle_weights(offsets, spacing, norm, "glrlm")
        P = (P * w[None, None, :]).sum(axis=2, keepdims=True)
    nr = P.sum(axis=(0, 1))
    if P.shape[2] > 1:
        keep = nr != 0
        P, nr = P[:, :, keep], nr[keep]
    nr = np.where(nr == 0, np.nan, nr)
    pr = P.sum(axis=0)  # (Nr, Na)
    pg = P.sum(axis=1)  # (Ng, Na)
    iv = gray_levels.astype(float)[:, None]
    jv = np.arange(1, P.shape[1] + 1, dtype=float)
    nonempty = pr.sum(axis=1) != 0
    P, jv, pr = P[:, nonempty], jv[nonempty][:, None], pr[nonempty]
    i3 = iv[:, :, None]
    j3 = jv[None, :, :]

    def mean(v: np.ndarray) -> float:
        return float(np.nanmean(v))

    out: dict[str, float] = {}
    out["ShortRunEmphasis"] = mean((pr / jv ** 2).sum(axis=0) / nr)
    out["LongRunEmphasis"] = mean((pr * jv ** 2).sum(axis=0) / nr)
    out["GrayLevelNonUniformity"] = mean((pg ** 2).sum(axis=0) / nr)
    out["GrayLevelNonUniformityNormalized"] = mean((pg ** 2).sum(axis=0) / nr ** 2)
    out["RunLengthNonUniformity"] = mean((pr ** 2).sum(axis=0) / nr)
    out["RunLengthNonUniformityNormalized"] = mean((pr ** 2).sum(axis=0) / nr ** 2)
    n_voxels = (pr * jv).sum(axis=0)
    out["RunPercentage"] = mean(nr / n_voxels)
    pgn = pg / nr[None, :]
    ui = (pgn * iv).sum(axis=0, keepdims=True)
    out["GrayLevelVariance"] = mean((pgn * (iv - ui) ** 2).sum(axis=0))
    prn = pr / nr[None, :]
    uj = (prn * jv).sum(axis=0, keepdims=True)
    out["RunVariance"] = mean((prn * (jv - uj) ** 2).sum(axis=0))
    pn = P / nr[None, None, :]
    out["RunEntropy"] = mean(-(pn * np.log2(pn + EPS)).sum(axis=(0, 1)))
    out["LowGrayLevelRunEmphasis"] = mean((pg / iv ** 2).sum(axis=0) / nr)
    out["HighGrayLevelRunEmphasis"] = mean((pg * iv ** 2).sum(axis=0) / nr)
    out["ShortRunLowGrayLevelEmphasis"] = mean((P / (i3 ** 2 * j3 ** 2)).sum(axis=(0, 1)) / nr)
    out["ShortRunHighGrayLevelEmphasis"] = mean((P * i3 ** 2 / j3 ** 2).sum(axis=(0, 1)) / nr)
    out["LongRunLowGrayLevelEmphasis"] = mean((P * j3 ** 2 / i3 ** 2).sum(axis=(0, 1)) / nr)
    out["LongRunHighGrayLevelEmphasis"] = mean((P * j3 ** 2 * i3 ** 2).sum(axis=(0, 1)) / nr)
    return out
