"""Grey Level Run Length Matrix (GLRLM) features, PyRadiomics definitions."""
from __future__ import annotations

from typing import Any

import numpy as np

from ._neighbours import EPS, angle_weights, angles, force2d_dim, nanmean, pair_slices


def _any_line_with_two(roi: np.ndarray, off: np.ndarray) -> bool:
    """Whether some line along ``off`` holds two ROI voxels (any distance apart)."""
    longest = max(roi.shape)
    for t in range(1, longest):
        here, there = pair_slices(roi.shape, off * t)
        if any(s.start >= s.stop for s in here):
            return False
        if np.any(roi[here] & roi[there]):
            return True
    return False


def _sweep_axis(shape: tuple[int, ...], off: np.ndarray) -> int:
    """The moving axis of ``off`` with the fewest planes: runs are accumulated plane by plane along it."""
    return min((d for d in range(len(shape)) if off[d] != 0), key=lambda d: shape[d])


def _runs_along(levels: np.ndarray, roi: np.ndarray, off: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Levels and lengths of all runs along one direction.

    Levels and lengths of all runs along ``off`` (components in -1..1, ``off[0] != 0``), and
    whether any line holds more than one ROI voxel.

    Axis 0 is the sweep axis (the caller transposes to make it so, contiguously): run lengths are
    accumulated plane by plane along it (a loop over planes, each step vectorised over a whole
    plane of lines; faster here than pointer jumping or sorting).
    """
    here, there = pair_slices(levels.shape, off)
    same = np.zeros(levels.shape, dtype=bool)  # voxel continues the run of its predecessor
    np.equal(levels[here], levels[there], out=same[there])
    same[there] &= roi[here]
    same[there] &= roi[there]
    if not same.any() and not _any_line_with_two(roi, off):
        return levels.ravel()[:0], levels.ravel()[:0], False
    has_next = np.zeros(levels.shape, dtype=bool)
    has_next[here] = same[there]
    r, sm = roi, same
    if off[0] < 0:
        r, sm = r[::-1], sm[::-1]
    prev_sl, next_sl = pair_slices(r.shape[1:], off[1:])
    dtype = np.int16 if r.shape[0] < 2 ** 15 else np.int32  # a run is at most one line long
    run = np.zeros(r.shape, dtype=dtype)
    run[0] = r[0]
    carried = np.zeros(r.shape[1:], dtype=dtype)
    for i in range(1, r.shape[0]):
        carried[next_sl] = run[i - 1][prev_sl]
        carried += 1
        np.copyto(run[i], r[i])
        np.copyto(run[i], carried, where=sm[i])
    if off[0] < 0:
        run = run[::-1]
    ends = np.flatnonzero(roi & ~has_next)
    return levels.ravel()[ends], run.ravel()[ends], True


def matrix(levels: np.ndarray, roi: np.ndarray, offsets: np.ndarray, n_levels: int, n_runs: int) -> np.ndarray:
    """Run counts ``P[i-1, r-1, angle]``: runs of level i and length r along each offset.

    Runs stop at the ROI border. An angle along which no line holds two ROI voxels counts nothing
    (a flat ROI seen edge-on), as in PyRadiomics. The arrays are transposed (contiguously, once
    per sweep axis) so that each angle's sweep runs over contiguous planes.

    Example:
        >>> lv = np.array([[[1, 1, 2]]]); P = matrix(lv, lv > 0, np.array([[0, 0, 1]]), 2, 3)
        >>> P[:, :, 0].tolist()
        [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    """
    P = np.zeros((n_levels, n_runs, len(offsets)))
    layouts: dict[int, tuple[np.ndarray, np.ndarray, list[int]]] = {}
    for k, off in enumerate(np.asarray(offsets)):
        d0 = _sweep_axis(levels.shape, off)
        if d0 not in layouts:
            order = [d0] + [d for d in range(levels.ndim) if d != d0]
            layouts[d0] = (np.ascontiguousarray(levels.transpose(order)),
                           np.ascontiguousarray(roi.transpose(order)), order)
        lv, r, order = layouts[d0]
        gl, run, multi = _runs_along(lv, r, off[order])
        if not multi:
            continue  # no line with more than one voxel: this angle is dropped
        P[:, :, k] = np.bincount((gl.astype(np.int64) - 1) * n_runs + (run - 1), minlength=n_levels * n_runs).reshape(
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

    mean = nanmean

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
