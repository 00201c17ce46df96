"""Grey Level Size Zone Matrix (GLSZM) features, PyRadiomics definitions."""
from __future__ import annotations

from typing import Any

import numpy as np

from ._neighbours import EPS, label_zones


def zones(levels: np.ndarray, force2d_dim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Connected zones of equal level (full connectivity; in-plane only with ``force2d_dim``).

    Returns ``(zone_levels, zone_sizes)``; ``levels`` is 0 outside the ROI.
    """
    if force2d_dim is None:
        labelled = label_zones(levels, levels.ndim)
        flat_levels, flat_labels = levels.ravel(), labelled.ravel()
    else:
        moved = np.moveaxis(levels, force2d_dim, 0)
        n, h, w = moved.shape
        stacked = np.zeros((n, h + 1, w), dtype=levels.dtype)  # a zero row keeps slices apart
        stacked[:, :h] = moved
        stacked = stacked.reshape(n * (h + 1), w)
        labelled = label_zones(stacked, 2)
        flat_levels, flat_labels = stacked.ravel(), labelled.ravel()
    sizes = np.bincount(flat_labels)
    zone_level = np.zeros(len(sizes), dtype=np.int64)
    zone_level[flat_labels] = flat_levels
    return zone_level[1:], sizes[1:]


def matrix(levels: np.ndarray, n_levels: int, force2d_dim: int | None = None) -> np.ndarray:
    """Zone counts ``P[i-1, s-1]``: zones of level i with s voxels (columns up to the largest zone).

    Example:
        >>> matrix(np.array([[[1, 1, 0, 2]]]), 2).tolist()
        [[0.0, 1.0], [1.0, 0.0]]
    """
    zl, zs = zones(levels, force2d_dim)
    n_sizes = int(zs.max()) if len(zs) else 1
    return np.bincount((zl - 1) * n_sizes + (zs - 1), minlength=n_levels * n_sizes).reshape(
        n_levels, n_sizes).astype(float)


def features(levels: np.ndarray, roi: np.ndarray, settings: dict[str, Any], spacing: np.ndarray,
             gray_levels: np.ndarray) -> dict[str, float]:
    """All GLSZM features."""
    f2d = settings.get("force2Ddimension", 0) if settings.get("force2D", False) else None
    P = matrix(levels, int(gray_levels.max()), f2d)[gray_levels - 1]
    ps = P.sum(axis=0)
    pg = P.sum(axis=1)
    iv = gray_levels.astype(float)
    jv = np.arange(1, P.shape[1] + 1, dtype=float)
    nz = P.sum() or 1.0
    n_vox = (ps * jv).sum() or 1.0
    keep = ps != 0
    P, jv, ps = P[:, keep], jv[keep], ps[keep]
    out: dict[str, float] = {}
    out["SmallAreaEmphasis"] = (ps / jv ** 2).sum() / nz
    out["LargeAreaEmphasis"] = (ps * jv ** 2).sum() / nz
    out["GrayLevelNonUniformity"] = (pg ** 2).sum() / nz
    out["GrayLevelNonUniformityNormalized"] = (pg ** 2).sum() / nz ** 2
    out["SizeZoneNonUniformity"] = (ps ** 2).sum() / nz
    out["SizeZoneNonUniformityNormalized"] = (ps ** 2).sum() / nz ** 2
    out["ZonePercentage"] = nz / n_vox
    pgn = pg / nz
    out["GrayLevelVariance"] = (pgn * (iv - (pgn * iv).sum()) ** 2).sum()
    psn = ps / nz
    out["ZoneVariance"] = (psn * (jv - (psn * jv).sum()) ** 2).sum()
    pn = P / nz
    out["ZoneEntropy"] = -(pn * np.log2(pn + EPS)).sum()
    out["LowGrayLevelZoneEmphasis"] = (pg / iv ** 2).sum() / nz
    out["HighGrayLevelZoneEmphasis"] = (pg * iv ** 2).sum() / nz
    i2, j2 = iv[:, None] ** 2, jv[None, :] ** 2
    out["SmallAreaLowGrayLevelEmphasis"] = (P / (i2 * j2)).sum() / nz
    out["SmallAreaHighGrayLevelEmphasis"] = (P * i2 / j2).sum() / nz
    out["LargeAreaLowGrayLevelEmphasis"] = (P * j2 / i2).sum() / nz
    out["LargeAreaHighGrayLevelEmphasis"] = (P * i2 * j2).sum() / nz
    return {k: float(v) for k, v in out.items()}
