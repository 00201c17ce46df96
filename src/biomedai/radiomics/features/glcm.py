"""Grey Level Co-occurrence Matrix (GLCM) features, PyRadiomics definitions."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from ._neighbours import EPS, angle_weights, angles, force2d_dim, nanmean, padded_flat


def matrix(levels: np.ndarray, roi: np.ndarray, offsets: np.ndarray, n_levels: int) -> np.ndarray:
    """Raw (asymmetric) co-occurrence counts ``P[i-1, j-1, angle]``: centre level i, neighbour level j.

    ``levels`` are 1..n_levels inside ``roi``. The ROI is laid out flat in a box padded with zeros
    (:func:`padded_flat`), so each angle is one gather of the ROI voxels' neighbours and one
    ``bincount`` of ``centre * (n_levels + 1) + neighbour`` over the ROI only (a neighbour outside
    the ROI is 0 and lands in the dropped row/column 0).

    Example:
        >>> lv = np.array([[[1, 2, 2]]]); P = matrix(lv, lv > 0, np.array([[0, 0, 1]]), 2)
        >>> P[:, :, 0].tolist()
        [[0.0, 1.0], [0.0, 1.0]]
    """
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, levels.ndim)
    P = np.zeros((n_levels, n_levels, len(offsets)))
    if len(offsets) == 0:
        return P
    pad = int(np.abs(offsets).max())
    flat, strides = padded_flat(levels, roi, pad)
    deltas = offsets @ strides
    reach = int(np.abs(deltas).max())
    voxels = np.flatnonzero(flat)  # the ROI (levels >= 1 there)
    m = n_levels + 1
    centre = np.multiply(flat[voxels], m, dtype=np.intp)
    code = np.empty_like(centre)
    shifted = voxels - reach  # >= 0: every ROI voxel is at least `reach` from the array's ends
    for k, delta in enumerate(int(d) for d in deltas):
        np.add(centre, np.take(flat[reach + delta:], shifted), out=code)
        P[:, :, k] = np.bincount(code, minlength=m * m)[:m * m].reshape(m, m)[1:, 1:]
    return P


def _prepared(levels: np.ndarray, roi: np.ndarray, settings: dict[str, Any], spacing: np.ndarray,
              gray_levels: np.ndarray) -> np.ndarray:
    ng = int(gray_levels.max())
    offsets = angles(levels.shape, settings.get("distances", [1]), False, force2d_dim(settings))
    P = matrix(levels, roi, offsets, ng)
    P = P[np.ix_(gray_levels - 1, gray_levels - 1)]
    if settings.get("symmetricalGLCM", True):
        P = P + P.transpose(1, 0, 2)
    norm = settings.get("weightingNorm")
    if norm is not None:
        w = angle_weights(offsets, spacing, norm, "glcm")
        P = (P * w[None, None, :]).sum(axis=2, keepdims=True)
    total = P.sum(axis=(0, 1))
    if P.shape[2] > 1:
        keep = total != 0
        P, total = P[:, :, keep], total[keep]
    total = np.where(total == 0, np.nan, total)
    return P / total[None, None, :]


def features(levels: np.ndarray, roi: np.ndarray, settings: dict[str, Any], spacing: np.ndarray,
             gray_levels: np.ndarray) -> dict[str, float]:
    """All GLCM features, each averaged over angles (nan-mean), from discretised ``levels``."""
    P = _prepared(levels, roi, settings, spacing, gray_levels)
    ng = int(gray_levels.max())
    gl = gray_levels.astype(float)
    i = gl[:, None, None]
    j = gl[None, :, None]
    px = P.sum(axis=1, keepdims=True)  # (Ng, 1, Na)
    py = P.sum(axis=0, keepdims=True)  # (1, Ng, Na)
    ux = (i * P).sum(axis=(0, 1), keepdims=True)
    uy = (j * P).sum(axis=(0, 1), keepdims=True)
    na = P.shape[2]
    sum_idx = (gray_levels[:, None] + gray_levels[None, :] - 2).ravel()
    diff_idx = np.abs(gray_levels[:, None] - gray_levels[None, :]).ravel()
    flat = P.reshape(-1, na)
    p_add = np.stack([np.bincount(sum_idx, weights=flat[:, a], minlength=2 * ng - 1) for a in range(na)], axis=1)
    p_sub = np.stack([np.bincount(diff_idx, weights=flat[:, a], minlength=ng) for a in range(na)], axis=1)
    k_sum = np.arange(2, 2 * ng + 1, dtype=float)[:, None]
    k_diff = np.arange(0, ng, dtype=float)[:, None]
    hxy = -(P * np.log2(P + EPS)).sum(axis=(0, 1))

    mean = nanmean

    out: dict[str, float] = {}
    out["Autocorrelation"] = mean((P * (i * j)).sum(axis=(0, 1)))
    out["JointAverage"] = mean(ux)
    s = (i + j) - ux - uy
    out["ClusterProminence"] = mean((P * s ** 4).sum(axis=(0, 1)))
    out["ClusterShade"] = mean((P * s ** 3).sum(axis=(0, 1)))
    out["ClusterTendency"] = mean((P * s ** 2).sum(axis=(0, 1)))
    out["Contrast"] = mean((P * np.abs(i - j) ** 2).sum(axis=(0, 1)))
    sigx = ((P * (i - ux) ** 2).sum(axis=(0, 1), keepdims=True)) ** 0.5
    sigy = ((P * (j - uy) ** 2).sum(axis=(0, 1), keepdims=True)) ** 0.5
    corm = (P * (i - ux) * (j - uy)).sum(axis=(0, 1), keepdims=True)
    corr = corm / (sigx * sigy + EPS)
    corr[sigx * sigy == 0] = 1
    out["Correlation"] = mean(corr)
    diffavg = (k_diff * p_sub).sum(axis=0, keepdims=True)
    out["DifferenceAverage"] = mean(diffavg)
    out["DifferenceEntropy"] = mean(-(p_sub * np.log2(p_sub + EPS)).sum(axis=0))
    out["DifferenceVariance"] = mean((p_sub * (k_diff - diffavg) ** 2).sum(axis=0))
    out["JointEnergy"] = mean((P ** 2).sum(axis=(0, 1)))
    out["JointEntropy"] = mean(hxy)
    hx = -(px * np.log2(px + EPS)).sum(axis=(0, 1))
    hy = -(py * np.log2(py + EPS)).sum(axis=(0, 1))
    hxy1 = -(P * np.log2(px * py + EPS)).sum(axis=(0, 1))
    div = np.fmax(hx, hy)
    imc1 = hxy - hxy1
    imc1 = np.where(div != 0, imc1 / np.where(div != 0, div, 1), 0)
    out["Imc1"] = mean(imc1)
    hxy2 = -((px * py) * np.log2(px * py + EPS)).sum(axis=(0, 1))
    imc2 = (1 - np.e ** (-2 * (hxy2 - hxy))) ** 0.5
    imc2[hxy2 == hxy] = 0
    out["Imc2"] = mean(imc2)
    out["Idm"] = mean((p_sub / (1 + k_diff ** 2)).sum(axis=0))
    out["MCC"] = _mcc(P, px, py)
    out["Idmn"] = mean((p_sub / (1 + k_diff ** 2 / ng ** 2)).sum(axis=0))
    out["Id"] = mean((p_sub / (1 + k_diff)).sum(axis=0))
    out["Idn"] = mean((p_sub / (1 + k_diff / ng)).sum(axis=0))
    out["InverseVariance"] = mean((p_sub[1:] / k_diff[1:] ** 2).sum(axis=0))
    out["MaximumProbability"] = mean(P.max(axis=(0, 1)))
    out["SumAverage"] = mean((k_sum * p_add).sum(axis=0))
    out["SumEntropy"] = mean(-(p_add * np.log2(p_add + EPS)).sum(axis=0))
    out["SumSquares"] = mean((P * (i - ux) ** 2).sum(axis=(0, 1)))
    return out


def _mcc(P: np.ndarray, px: np.ndarray, py: np.ndarray) -> float:
    """Maximal correlation coefficient: sqrt of the second largest eigenvalue of Q, per angle."""
    if P.shape[0] < 2:
        return 1.0
    # Q[i, j, a] = sum_k P[i, k, a] P[j, k, a] / (px[i, a] py[k, a])
    Pa = P.transpose(2, 0, 1)  # (Na, Ng, Ng)
    pxa = px[:, 0, :].T  # (Na, Ng)
    pya = py[0, :, :].T  # (Na, Ng)
    Q = np.einsum("aik,ajk->aij", Pa / (pxa[:, :, None] * pya[:, None, :] + EPS), Pa)
    eig = _eigvals_one_thread(Q)
    eig.sort(axis=-1)
    mcc = np.sqrt(eig[:, -2])
    return float(np.nanmean(mcc).real)


def _eigvals_one_thread(Q: np.ndarray) -> np.ndarray:
    """Eigenvalues with BLAS limited to one thread.

    ``np.linalg.eigvals`` with BLAS limited to one thread: multi-threaded LAPACK is many times
    slower on these small matrices (tiny ones need no limit).
    """
    controller = _blas_controller() if Q.shape[-1] >= 16 else None
    if controller is None:
        return np.linalg.eigvals(Q)
    with controller.limit(limits=1, user_api="blas"):
        return np.linalg.eigvals(Q)


@lru_cache(maxsize=1)
def _blas_controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return None
    return ThreadpoolController()
