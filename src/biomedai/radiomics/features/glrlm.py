"""Grey Level Run Length Matrix (GLRLM) features, PyRadiomics definitions."""
from __future__ import annotations

from typing import Any

import numpy as np

from ._neighbours import EPS, angle_weights, angles, force2d_dim, nanmean, padded_flat, pair_slices


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


def matrix(levels: np.ndarray, roi: np.ndarray, offsets: np.ndarray, n_levels: int, n_runs: int) -> np.ndarray:
    """Run counts ``P[i-1, r-1, angle]``: runs of level i and length r along each offset.

    Runs stop at the ROI border. An angle along which no line holds two ROI voxels counts nothing
    (a flat ROI seen edge-on), as in PyRadiomics. ``n_runs`` must be at least the longest line.

    How: the ROI's levels (0 outside) lie flat in a box padded with zeros (:func:`padded_flat`),
    where the neighbour along an offset is always ``delta`` further on, ``delta = offset @ strides``.
    Cut into rows of ``delta`` and transposed, the array holds every line along the offset one after
    the other, separated by zeros; runs are then the stretches of equal non-zero values, found from
    the positions where the value changes.

    Example:
        >>> lv = np.array([[[1, 1, 2]]]); P = matrix(lv, lv > 0, np.array([[0, 0, 1]]), 2, 3)
        >>> P[:, :, 0].tolist()
        [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    """
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, levels.ndim)
    P = np.zeros((n_levels, n_runs, len(offsets)))
    if len(offsets) == 0:
        return P
    if np.abs(offsets).max() > 1:
        raise ValueError("GLRLM offsets must have components in -1..1")
    flat, strides = padded_flat(levels, roi, 1)
    deltas = [abs(int(d)) for d in offsets @ strides]
    # The padded box's first and last sum(strides) >= delta elements are padding, so every column of
    # a (rows, delta) grid cut from its front starts with a zero (consecutive lines never join), the
    # elements left over at the end are zeros and so is the last one.
    width = (n_levels + 1) * n_runs + 1
    for k, delta in enumerate(deltas):
        rows = len(flat) // delta
        grid = flat[:rows * delta]
        lines = np.ascontiguousarray(grid.reshape(rows, delta).T).ravel() if delta > 1 else grid
        starts = np.flatnonzero(lines[1:] != lines[:-1])
        starts += 1  # where a stretch of equal values (a run, or zeros) begins
        lengths = np.diff(starts)  # the last stretch is zeros
        np.minimum(lengths, n_runs, out=lengths)  # only stretches of zeros can be longer: row 0, dropped
        code = np.multiply(lines[starts[:-1]], n_runs, dtype=np.intp)
        code += lengths  # level * n_runs + length, i.e. row `level`, column `length - 1` after the shift
        counts = np.bincount(code, minlength=width)[1:width].reshape(n_levels + 1, n_runs)[1:]
        if not counts[:, 1:].any() and not _any_line_with_two(roi, offsets[k]):
            continue  # no line with more than one voxel: this angle is dropped
        P[:, :, k] = counts
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
