"""Grey Level Dependence Matrix (GLDM) features, PyRadiomics definitions."""
from __future__ import annotations

from typing import Any

import numpy as np

from ._neighbours import EPS, angles, force2d_dim, pair_slices


def dependence_counts(levels: np.ndarray, roi: np.ndarray, offsets: np.ndarray, alpha: int) -> np.ndarray:
    """Per voxel: the number of ROI neighbours whose level differs by at most ``alpha``."""
    dep = np.zeros(levels.shape, dtype=np.int16)  # at most one per offset
    keys = {tuple(int(v) for v in off) for off in offsets}
    done: set[tuple[int, ...]] = set()
    for key in (tuple(int(v) for v in off) for off in offsets):
        if key in done:
            continue
        here, there = pair_slices(levels.shape, key)
        if alpha == 0:  # the default: equal levels (no difference array)
            close = levels[here] == levels[there]
        else:
            close = np.abs(levels[here].astype(np.int64) - levels[there]) <= alpha
        close &= roi[here]
        close &= roi[there]
        dep[here] += close
        mirror = tuple(-v for v in key)
        if mirror in keys:  # a dependent pair counts for both voxels
            dep[there] += close
            done.add(mirror)
        done.add(key)
    return dep


def matrix(levels: np.ndarray, roi: np.ndarray, offsets: np.ndarray, n_levels: int, alpha: int = 0) -> np.ndarray:
    """Counts ``P[i-1, d]``: voxels of level i with d dependent neighbours.

    Example:
        >>> lv = np.array([[[1, 1, 2]]]); off = np.array([[0, 0, 1], [0, 0, -1]])
        >>> matrix(lv, lv > 0, off, 2).tolist()
        [[0.0, 2.0, 0.0], [1.0, 0.0, 0.0]]
    """
    dep = dependence_counts(levels, roi, offsets, alpha)
    n_dep = len(offsets) + 1
    return np.bincount((levels[roi].astype(np.int64) - 1) * n_dep + dep[roi], minlength=n_levels * n_dep).reshape(
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
