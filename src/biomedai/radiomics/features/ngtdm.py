"""Neighbouring Grey Tone Difference Matrix (NGTDM) features, PyRadiomics definitions."""
from __future__ import annotations

from typing import Any

import numpy as np

from ._neighbours import angles, force2d_dim, padded_flat


def _full_box_radii(offsets: np.ndarray) -> np.ndarray | None:
    """Per-axis radii when ``offsets`` are every offset of that box but its centre, else None."""
    offsets = np.asarray(offsets)
    if len(offsets) == 0:
        return None
    radii = np.abs(offsets).max(axis=0)
    return radii if len(offsets) == int(np.prod(2 * radii + 1)) - 1 else None


def _box_sum(flat: np.ndarray, strides: np.ndarray, radii: np.ndarray, dtype: type) -> np.ndarray:
    """Sum over the box of ``radii`` around each element of a flat padded array, one axis at a time.

    Exact at the voxels whose box lies inside the padded array (see :func:`padded_flat`).
    """
    out = flat.astype(dtype)
    for stride, r in zip((int(v) for v in strides), (int(v) for v in radii)):
        if r == 0:
            continue
        acc = out.copy()
        for t in range(1, r + 1):
            step = t * stride
            acc[step:] += out[:-step]
            acc[:-step] += out[step:]
        out = acc
    return out


def matrix(levels: np.ndarray, roi: np.ndarray, offsets: np.ndarray, n_levels: int) -> np.ndarray:
    """Rows ``[n_i, s_i, i]`` per level i: voxel count, summed |i - mean of ROI neighbours|, the level.

    Voxels with no ROI neighbour add 0 to ``s_i``. The ROI's levels (0 outside) lie flat in a
    zero-padded box (:func:`padded_flat`), where a neighbour is a fixed distance further on; when
    the offsets fill a box (the usual 26 neighbours), neighbour sums are separable box sums (exact
    integers, fewer passes).

    Example:
        >>> lv = np.array([[[1, 2, 3]]]); off = np.array([[0, 0, 1], [0, 0, -1]])
        >>> matrix(lv, lv > 0, off, 3).tolist()
        [[1.0, 1.0, 1.0], [1.0, 0.0, 2.0], [1.0, 1.0, 3.0]]
    """
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, levels.ndim)
    wide = np.int32 if levels.dtype.itemsize <= 2 else np.int64
    pad = int(np.abs(offsets).max()) if len(offsets) else 0
    flat, strides = padded_flat(levels, roi, pad)
    inside = flat != 0  # the ROI (levels >= 1 there)
    voxels = np.flatnonzero(inside)
    radii = _full_box_radii(offsets)
    if radii is not None:
        total = _box_sum(flat, strides, radii, wide)[voxels] - flat[voxels]
        count = _box_sum(inside, strides, radii, np.int16)[voxels] - 1
    else:
        total = np.zeros(len(voxels), dtype=wide)
        count = np.zeros(len(voxels), dtype=np.int16)
        for delta in (int(d) for d in offsets @ strides):
            neighbour = flat[voxels + delta]
            total += neighbour
            count += neighbour != 0
    lv = flat[voxels].astype(np.int64)
    c = count
    diff = np.abs(lv - np.divide(total, c, out=lv.astype(float), where=c > 0))
    out = np.zeros((n_levels, 3))
    out[:, 0] = np.bincount(lv - 1, minlength=n_levels)
    out[:, 1] = np.bincount(lv - 1, weights=diff, minlength=n_levels)
    out[:, 2] = np.arange(1, n_levels + 1)
    return out


def features(levels: np.ndarray, roi: np.ndarray, settings: dict[str, Any], spacing: np.ndarray,
             gray_levels: np.ndarray) -> dict[str, float]:
    """All NGTDM features."""
    offsets = angles(levels.shape, settings.get("distances", [1]), True, force2d_dim(settings))
    M = matrix(levels, roi, offsets, int(gray_levels.max()))
    M = M[M[:, 0] != 0]
    nvp = M[:, 0].sum()
    p = M[:, 0] / nvp
    s = M[:, 1]
    i = M[:, 2]
    ngp = int(np.count_nonzero(M[:, 0]))
    out: dict[str, float] = {}
    coarse = (p * s).sum()
    out["Coarseness"] = 1 / coarse if coarse != 0 else 1e6
    div = ngp * (ngp - 1)
    contrast = (p[:, None] * p[None, :] * (i[:, None] - i[None, :]) ** 2).sum() * s.sum() / nvp
    out["Contrast"] = contrast / div if div != 0 else 0.0
    ip = i * p
    absdiff = np.abs(ip[:, None] - ip[None, :]).sum()
    out["Busyness"] = (p * s).sum() / absdiff if absdiff != 0 else 0.0
    ps = p * s
    num = ps[:, None] + ps[None, :]
    den = p[:, None] + p[None, :]
    den = np.where(den == 0, 1, den)
    out["Complexity"] = (np.abs(i[:, None] - i[None, :]) * num / den).sum() / nvp
    sum_s = s.sum()
    strength = ((p[:, None] + p[None, :]) * (i[:, None] - i[None, :]) ** 2).sum()
    out["Strength"] = strength / sum_s if sum_s != 0 else 0.0
    return {k: float(v) for k, v in out.items()}
