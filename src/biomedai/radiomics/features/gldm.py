"""Grey Level Dependence Matrix (GLDM) features, PyRadiomics definitions."""
from __future__ import annotations

from typing import Any

import numpy as np

from ._neighbours import EPS, angles, force2d_dim, padded_flat


def matrix(levels: np.ndarray, roi: np.ndarray, offsets: np.ndarray, n_levels: int, alpha: int = 0) -> np.ndarray:
    """Counts ``P[i-1, d]``: voxels of level i with d dependent neighbours.

    A neighbour (at one of ``offsets``, in the ROI) is dependent when its level differs by at most
    ``alpha``. The ROI's levels (0 outside) lie flat in a zero-padded box (:func:`padded_flat`), so a
    neighbour is a fixed distance further on in the flat array and each pair of opposite offsets is
    one comparison of two shifted 1-D views, counted for both voxels.

    Example:
        >>> lv = np.array([[[1, 1, 2]]]); off = np.array([[0, 0, 1], [0, 0, -1]])
        >>> matrix(lv, lv > 0, off, 2).tolist()
        [[0.0, 2.0, 0.0], [1.0, 0.0, 0.0]]
    """
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, levels.ndim)
    n_dep = len(offsets) + 1
    pad = int(np.abs(offsets).max()) if len(offsets) else 0
    flat, strides = padded_flat(levels, roi, pad)
    inside = flat != 0  # the ROI (levels >= 1 there)
    dep = np.zeros(len(flat), dtype=np.int16 if n_dep < 2 ** 15 else np.int32)
    wanted = {int(d) for d in offsets @ strides}
    for delta in sorted({abs(d) for d in wanted}):
        if delta == 0:
            continue
        if alpha == 0:  # the default: equal levels (no difference array); equal to an ROI level is in the ROI
            close = flat[:-delta] == flat[delta:]
        else:
            close = np.abs(flat[:-delta].astype(np.int64) - flat[delta:]) <= alpha
            close &= inside[:-delta]
        close &= inside[delta:]
        if delta in wanted:  # voxel p, neighbour p + delta
            dep[:-delta] += close
        if -delta in wanted:  # voxel p + delta, neighbour p
            dep[delta:] += close
    voxels = np.flatnonzero(inside)
    code = np.multiply(flat[voxels], n_dep, dtype=np.intp)
    code += dep[voxels]
    return np.bincount(code, minlength=(n_levels + 1) * n_dep)[n_dep:(n_levels + 1) * n_dep].reshape(
        n_levels, n_dep).astype(float)


def features(levels: np.ndarray, roi: np.ndarray, settings: dict[str, Any], spacing: np.ndarray,
             gray_levels: np.ndarray) -> dict[str, float]:
    """All GLDM features."""
    offsets = angles(levels.shape, settings.get("distances", [1]), True, force2d_dim(settings))
    P = matrix(levels, roi, offsets, int(gray_levels.max()), settings.get("gldm_a", 0))[gray_levels - 1]
    jv = np.arange(1, P.shape[1] + 1, dtype=float)
    pd = P.sum(axis=0)
    pg = P.sum(axis=1)
    keep = pd != 0
    P, jv, pd = P[:, keep], jv[keep], pd[keep]
    nz = pd.sum() or 1.0
    iv = gray_levels.astype(float)
    out: dict[str, float] = {}
    out["SmallDependenceEmphasis"] = (pd / jv ** 2).sum() / nz
    out["LargeDependenceEmphasis"] = (pd * jv ** 2).sum() / nz
    out["GrayLevelNonUniformity"] = (pg ** 2).sum() / nz
    out["DependenceNonUniformity"] = (pd ** 2).sum() / nz
    out["DependenceNonUniformityNormalized"] = (pd ** 2).sum() / nz ** 2
    pgn = pg / nz
    out["GrayLevelVariance"] = (pgn * (iv - (pgn * iv).sum()) ** 2).sum()
    pdn = pd / nz
    out["DependenceVariance"] = (pdn * (jv - (pdn * jv).sum()) ** 2).sum()
    pn = P / nz
    out["DependenceEntropy"] = -(pn * np.log2(pn + EPS)).sum()
    out["LowGrayLevelEmphasis"] = (pg / iv ** 2).sum() / nz
    out["HighGrayLevelEmphasis"] = (pg * iv ** 2).sum() / nz
    i2, j2 = iv[:, None] ** 2, jv[None, :] ** 2
    out["SmallDependenceLowGrayLevelEmphasis"] = (P / (i2 * j2)).sum() / nz
    out["SmallDependenceHighGrayLevelEmphasis"] = (P * i2 / j2).sum() / nz
    out["LargeDependenceLowGrayLevelEmphasis"] = (P * j2 / i2).sum() / nz
    out["LargeDependenceHighGrayLevelEmphasis"] = (P * i2 * j2).sum() / nz
    return {k: float(v) for k, v in out.items()}
