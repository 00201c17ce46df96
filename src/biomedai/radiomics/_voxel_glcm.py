"""Stacked GLCMs of kernel windows and their features (numpy), PyRadiomics' voxel-based definitions."""
from __future__ import annotations

from typing import Any

import numpy as np

from .features._neighbours import EPS


def _pair_slices(wshape: tuple[int, ...], offset: np.ndarray) -> tuple[tuple[slice, ...], tuple[slice, ...]] | None:
    here, there = [slice(None)], [slice(None)]
    for n, o in zip(wshape, offset):
        o = int(o)
        if abs(o) >= n:
            return None
        here.append(slice(max(0, -o), n - max(0, o)))
        there.append(slice(max(0, o), n - max(0, -o)))
    return tuple(here), tuple(there)


def glcm_angle_counts(windows: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Number of kernel pairs along each offset, per window ``(n, Na)``."""
    roi = windows > 0
    n = len(windows)
    out = np.zeros((n, len(offsets)))
    for k, off in enumerate(offsets):
        sl = _pair_slices(windows.shape[1:], off)
        if sl is not None:
            out[:, k] = (roi[sl[0]] & roi[sl[1]]).reshape(n, -1).sum(axis=1)
    return out


def glcm_matrices(windows: np.ndarray, offsets: np.ndarray, gray_levels: np.ndarray, settings: dict[str, Any],
                  weights: np.ndarray | None, kept: np.ndarray | None) -> np.ndarray:
    """Normalised GLCMs ``(n, Ng, Ng, Na)`` of each window (NaN for an angle with no pair)."""
    gl = gray_levels.astype(np.int64)
    lut = np.zeros(int(gl.max()) + 1, dtype=np.int64)
    lut[gl] = np.arange(len(gl))
    n, ng, na = len(windows), len(gl), len(offsets)
    lv = lut[windows.astype(np.int64)]
    roi = windows > 0
    base = np.arange(n).reshape((n,) + (1,) * (windows.ndim - 1)) * na
    parts = []
    for k, off in enumerate(offsets):
        sl = _pair_slices(windows.shape[1:], off)
        if sl is None:
            continue
        here, there = sl
        ok = roi[here] & roi[there]
        parts.append((((base + k) * ng + lv[here]) * ng + lv[there])[ok])
    idx = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    P = np.bincount(idx, minlength=n * na * ng * ng).astype(float).reshape(n, na, ng, ng)
    if settings.get("symmetricalGLCM", True):
        P = P + P.transpose(0, 1, 3, 2)
    if weights is not None:
        P = np.einsum("naij,a->nij", P, weights)[:, None]
    elif kept is not None:
        P = P[:, kept]
    total = P.sum(axis=(2, 3))
    total[total == 0] = np.nan
    P /= total[:, :, None, None]
    return P.transpose(0, 2, 3, 1)  # (n, Ng, Ng, Na) view of an angle-major array


def _nanmean(a: np.ndarray, axis: Any) -> np.ndarray:
    ok = ~np.isnan(a)
    cnt = ok.sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, a, 0.0).sum(axis=axis) / np.where(cnt == 0, np.nan, cnt)


def _sum_diff_indices(gray_levels: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    ng_max = int(gray_levels.max())
    gl = gray_levels.astype(np.int64)
    s = (gl[:, None] + gl[None, :] - 2).ravel()
    d = np.abs(gl[:, None] - gl[None, :]).ravel()
    return s, d, ng_max


def _nonzero_outer_entropy(px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """``-sum_ij px_i py_j log2(px_i py_j + eps)`` per row of ``px, py (R, Ng)`` over their non-zero entries."""
    def packed(a: np.ndarray) -> np.ndarray:
        a = np.where(np.isnan(a), 0.0, a)
        k = max(int((a > 0).sum(axis=1).max(initial=0)), 1)
        return -np.sort(-a, axis=1)[:, :k]  # non-zero values first

    a, b = packed(px), packed(py)
    outer = a[:, :, None] * b[:, None, :]
    return -(outer * np.log2(outer + EPS)).sum(axis=(1, 2))


def degenerate_angles(px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """``(n, Na)``: angles whose GLCM has one row or one column only (possible when asymmetric).

    There sigma_x * sigma_y and HXY2 - HXY are 0 exactly; PyRadiomics evaluates them to round-off
    (~1e-16), which makes its Correlation (meant to be 1) and Imc2 (meant to be 0) round-off noise
    for such angles. We use the exact values.
    """
    return ((px > 0).sum(axis=-1) == 1) | ((py > 0).sum(axis=-1) == 1)


def local_levels(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each window's grey levels renumbered 1..m.

    Each window's levels renumbered 1..m in increasing order (0 stays 0), and the level values
    ``(n, m)`` of those numbers (0 where a window has fewer than m levels).

    A kernel holds few of the ROI's levels, so its GLCM on its own levels is far smaller.

    Example:
        >>> loc, val = local_levels(np.array([[0, 7, 3, 7], [5, 5, 0, 0]]))
        >>> loc.tolist(), val.tolist()
        ([[0, 2, 1, 2], [1, 1, 0, 0]], [[3.0, 7.0], [5.0, 0.0]])
    """
    n = len(windows)
    flat = windows.reshape(n, -1)
    order = np.argsort(flat, axis=1, kind="stable")
    srt = np.take_along_axis(flat, order, axis=1)
    new = srt > 0
    new[:, 1:] &= srt[:, 1:] != srt[:, :-1]
    rank = np.cumsum(new, axis=1)
    local = np.empty_like(rank)
    np.put_along_axis(local, order, rank, axis=1)
    m = max(int(rank[:, -1].max(initial=0)), 1)
    values = np.zeros((n, m))
    rows, cols = np.nonzero(new)
    values[rows, rank[rows, cols] - 1] = srt[rows, cols]
    return local.reshape(windows.shape), values


def glcm_features(P: np.ndarray, gray_levels: np.ndarray, names: list[str],
                  level_values: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """GLCM features of stacked normalised matrices ``P (n, Ng, Ng, Na)``.

    Rows and columns of ``P`` stand for ``gray_levels``, or, with ``level_values (n, Ng)``, for
    each voxel's own levels (see :func:`local_levels`; ``gray_levels`` then only gives the ROI's
    largest level, which Idmn and Idn use). The matrices are sparse (a kernel holds few pairs), so
    the entropies use only the non-zero entries and the moments use the marginals and the
    sum/difference distributions: PyRadiomics' formulas rearranged, equal to round-off.
    """
    n, ng, _, na = P.shape
    ng_max = int(gray_levels.max())
    flat = np.ascontiguousarray(P.transpose(0, 3, 1, 2)).reshape(n, na, ng * ng)  # (n, Na, Ng*Ng)
    nan_angle = np.isnan(flat[:, :, 0])
    if level_values is None:
        gl = gray_levels.astype(float)
        s_idx, d_idx, _ = _sum_diff_indices(gray_levels)
        m_sum = np.zeros((ng * ng, 2 * ng_max - 1))
        m_sum[np.arange(ng * ng), s_idx] = 1
        m_diff = np.zeros((ng * ng, ng_max))
        m_diff[np.arange(ng * ng), d_idx] = 1
        p_add = flat @ m_sum  # (n, Na, 2Ng-1)
        p_sub = flat @ m_diff  # (n, Na, Ng)
        glv = np.broadcast_to(gl, (n, ng))
    else:
        glv = level_values.astype(float)
        li = glv.astype(np.int64)
        rows = (np.arange(n * na) * (2 * ng_max))[:, None]
        codes = np.repeat(np.maximum(li[:, :, None] + li[:, None, :] - 2, 0).reshape(n, 1, ng * ng), na, axis=1)
        p_add = np.bincount((rows + codes.reshape(n * na, -1)).ravel(), weights=flat.ravel(),
                            minlength=n * na * 2 * ng_max).reshape(n, na, 2 * ng_max)[:, :, :2 * ng_max - 1]
        codes = np.repeat(np.abs(li[:, :, None] - li[:, None, :]).reshape(n, 1, ng * ng), na, axis=1)
        p_sub = np.bincount((rows + codes.reshape(n * na, -1)).ravel(), weights=flat.ravel(),
                            minlength=n * na * 2 * ng_max).reshape(n, na, 2 * ng_max)[:, :, :ng_max]
        p_add[nan_angle] = np.nan
        p_sub[nan_angle] = np.nan
    P4 = flat.reshape(n, na, ng, ng)
    px = P4.sum(axis=3)  # (n, Na, Ng)
    py = P4.sum(axis=2)
    k_sum = np.arange(2, 2 * ng_max + 1, dtype=float)
    k_diff = np.arange(0, ng_max, dtype=float)
    out: dict[str, np.ndarray] = {}
    mean = _nanmean
    with np.errstate(invalid="ignore", divide="ignore"):
        ux = np.einsum("nak,nk->na", px, glv)  # (n, Na)
        uy = np.einsum("nak,nk->na", py, glv)
        # entropies over the non-zero entries only
        vi, ai, ci = np.nonzero(flat > 0)
        v = flat[vi, ai, ci]
        row = vi * na + ai
        hxy = -np.bincount(row, weights=v * np.log2(v + EPS), minlength=n * na).reshape(n, na)
        pxv = px[vi, ai, ci // ng]
        pyv = py[vi, ai, ci % ng]
        hxy1 = -np.bincount(row, weights=v * np.log2(pxv * pyv + EPS), minlength=n * na).reshape(n, na)
        hxy[nan_angle] = np.nan
        hxy1[nan_angle] = np.nan
        ij = (glv[:, :, None] * glv[:, None, :]).reshape(n, ng * ng)
        out["Autocorrelation"] = mean(np.einsum("nak,nk->na", flat, ij), 1)
        out["JointAverage"] = ux.mean(axis=1)
        s = k_sum[None, None, :] - (ux + uy)[:, :, None]
        out["ClusterProminence"] = mean((p_add * s ** 4).sum(axis=2), 1)
        out["ClusterShade"] = mean((p_add * s ** 3).sum(axis=2), 1)
        out["ClusterTendency"] = mean((p_add * s ** 2).sum(axis=2), 1)
        out["Contrast"] = mean(p_sub @ k_diff ** 2, 1)
        dx = glv[:, None, :] - ux[:, :, None]
        dy = glv[:, None, :] - uy[:, :, None]
        varx = (px * dx ** 2).sum(axis=2)
        sigx = varx ** 0.5
        sigy = (py * dy ** 2).sum(axis=2) ** 0.5
        corm = np.einsum("nai,nai->na", np.einsum("naij,naj->nai", P4, dy), dx)
        corr = corm / (sigx * sigy + EPS)
        deg = degenerate_angles(px, py)
        corr[(sigx * sigy == 0) | deg] = 1
        out["Correlation"] = mean(corr, 1)
        diffavg = p_sub @ k_diff
        out["DifferenceAverage"] = mean(diffavg, 1)
        out["DifferenceEntropy"] = mean(-(p_sub * np.log2(p_sub + EPS)).sum(axis=2), 1)
        out["DifferenceVariance"] = mean((p_sub * (k_diff[None, None, :] - diffavg[:, :, None]) ** 2).sum(axis=2), 1)
        out["JointEnergy"] = mean(np.einsum("nak,nak->na", flat, flat), 1)
        out["JointEntropy"] = mean(hxy, 1)
        hx = -(px * np.log2(px + EPS)).sum(axis=2)
        hy = -(py * np.log2(py + EPS)).sum(axis=2)
        div = np.fmax(hx, hy)
        imc1 = hxy - hxy1
        imc1 = np.where(div != 0, imc1 / np.where(div != 0, div, 1), np.where(np.isnan(div), np.nan, 0.0))
        out["Imc1"] = mean(imc1, 1)
        hxy2 = _nonzero_outer_entropy(px.reshape(n * na, ng), py.reshape(n * na, ng)).reshape(n, na)
        hxy2[nan_angle] = np.nan
        imc2 = (1 - np.e ** (-2 * (hxy2 - hxy))) ** 0.5
        imc2[(hxy2 == hxy) | deg] = 0
        out["Imc2"] = mean(imc2, 1)
        out["Idm"] = mean(p_sub @ (1 / (1 + k_diff ** 2)), 1)
        out["Idmn"] = mean(p_sub @ (1 / (1 + k_diff ** 2 / ng_max ** 2)), 1)
        out["Id"] = mean(p_sub @ (1 / (1 + k_diff)), 1)
        out["Idn"] = mean(p_sub @ (1 / (1 + k_diff / ng_max)), 1)
        out["InverseVariance"] = mean(p_sub[:, :, 1:] @ (1 / k_diff[1:] ** 2), 1)
        out["MaximumProbability"] = mean(flat.max(axis=2), 1)
        out["SumAverage"] = mean(p_add @ k_sum, 1)
        out["SumEntropy"] = mean(-(p_add * np.log2(p_add + EPS)).sum(axis=2), 1)
        out["SumSquares"] = mean(varx, 1)
        if "MCC" in names:
            out["MCC"] = _mcc(P, px.transpose(0, 2, 1), py.transpose(0, 2, 1))
    return out


def _mcc(P: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Sqrt of the second largest eigenvalue of Q = D_x^-1 P D_y^-1 P^T per angle, nan-averaged.

    Q's eigenvalues are those of the symmetric B B^T with B = D_x^-1/2 P D_y^-1/2 (``eigvalsh``).
    """
    n, ng, _, na = P.shape
    if ng < 2:
        return np.ones(n)
    Pa = P.transpose(0, 3, 1, 2)  # (n, Na, Ng, Ng)
    finite = ~np.isnan(Pa[:, :, 0, 0])
    B = Pa[finite]
    sx = np.sqrt(px.transpose(0, 2, 1)[finite])  # (m, Ng)
    sy = np.sqrt(py.transpose(0, 2, 1)[finite])
    with np.errstate(invalid="ignore", divide="ignore"):
        B = B / (sx[:, :, None] * sy[:, None, :])
    B[~np.isfinite(B)] = 0
    # rows with px = 0 are zero and add only zero eigenvalues: keep the others (at least 2)
    live = sx > 0
    k = min(max(int(live.sum(axis=1).max(initial=0)), 2), ng)
    order = np.argsort(~live, axis=1, kind="stable")[:, :k]
    B = np.take_along_axis(B, order[:, :, None], axis=1)
    S = B @ B.transpose(0, 2, 1)
    eig = _eigvalsh(S)
    vals = np.full((n, na), np.nan)
    vals[finite] = np.sqrt(np.clip(eig[:, -2], 0, None))
    return _nanmean(vals, 1)


def _eigvalsh(S: np.ndarray) -> np.ndarray:
    from .features.glcm import _blas_controller

    controller = _blas_controller() if S.shape[-1] >= 16 else None
    if controller is None:
        return np.linalg.eigvalsh(S)
    with controller.limit(limits=1, user_api="blas"):
        return np.linalg.eigvalsh(S)
