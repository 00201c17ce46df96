"""Voxel-based GLCM maps in torch (float64) on any device: the GPU path of the voxel-based GLCM.

Same definitions as :mod:`biomedai.radiomics._voxel_glcm` (numpy), operation for operation, so the
two agree to round-off; tests check them against each other on the CPU.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ._voxel_glcm import _pair_slices
from .features._neighbours import EPS


def glcm_matrices_torch(windows: np.ndarray, offsets: np.ndarray, gray_levels: np.ndarray,
                        settings: dict[str, Any], weights: np.ndarray | None, kept: np.ndarray | None,
                        device: Any) -> Any:
    """Normalised GLCMs ``(n, Ng, Ng, Na)`` as a float64 tensor on ``device``."""
    import torch

    gl = gray_levels.astype(np.int64)
    lut = np.zeros(int(gl.max()) + 1, dtype=np.int64)
    lut[gl] = np.arange(len(gl))
    n, ng, na = len(windows), len(gl), len(offsets)
    w = torch.as_tensor(np.ascontiguousarray(windows.astype(np.int64)), device=device)
    lv = torch.as_tensor(lut, device=device)[w]
    roi = w > 0
    base = (torch.arange(n, device=device) * ng).reshape((n,) + (1,) * (windows.ndim - 1))
    P = torch.zeros(n * ng * ng * na, dtype=torch.float64, device=device)
    for k, off in enumerate(offsets):
        sl = _pair_slices(windows.shape[1:], off)
        if sl is None:
            continue
        here, there = sl
        ok = roi[here] & roi[there]
        idx = (((base + lv[here]) * ng + lv[there]) * na + k)[ok]
        P += torch.bincount(idx, minlength=P.numel()).to(torch.float64)
    P = P.reshape(n, ng, ng, na)
    if settings.get("symmetricalGLCM", True):
        P = P + P.transpose(1, 2)
    if weights is not None:
        wt = torch.as_tensor(weights, dtype=torch.float64, device=device)
        P = (P * wt[None, None, None, :]).sum(dim=3, keepdim=True)
    elif kept is not None:
        P = P[..., torch.as_tensor(kept, device=device)]
    total = P.sum(dim=(1, 2))
    total = torch.where(total == 0, torch.full_like(total, float("nan")), total)
    return P / total[:, None, None, :]


def _nanmean(a: Any, dim: Any) -> Any:
    import torch

    ok = ~torch.isnan(a)
    cnt = ok.sum(dim=dim).to(a.dtype)
    s = torch.where(ok, a, torch.zeros_like(a)).sum(dim=dim)
    return s / torch.where(cnt == 0, torch.full_like(cnt, float("nan")), cnt)


def _nonzero_outer_entropy(px: Any, py: Any) -> Any:
    import torch

    def packed(a: Any) -> Any:
        a = torch.nan_to_num(a, nan=0.0)
        k = max(int((a > 0).sum(dim=1).max()) if a.numel() else 0, 1)
        return torch.sort(a, dim=1, descending=True).values[:, :k]

    a, b = packed(px), packed(py)
    outer = a[:, :, None] * b[:, None, :]
    return -(outer * torch.log2(outer + EPS)).sum(dim=(1, 2))


def glcm_features_torch(P: Any, gray_levels: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """GLCM features of stacked matrices, computed with torch.

    GLCM features of stacked matrices (tensor) ``P (n, Ng, Ng, Na)``, returned as numpy arrays;
    the formulas of :func:`biomedai.radiomics._voxel_glcm.glcm_features`.
    """
    import torch

    dev = P.device
    f64 = torch.float64
    n, ng, _, na = P.shape
    ng_max = int(gray_levels.max())
    glt = torch.as_tensor(gray_levels.astype(np.int64), device=dev)
    gl = glt.to(f64)
    s_idx = (glt[:, None] + glt[None, :] - 2).reshape(-1)
    d_idx = (glt[:, None] - glt[None, :]).abs().reshape(-1)
    rows = torch.arange(ng * ng, device=dev)
    m_sum = torch.zeros((ng * ng, 2 * ng_max - 1), dtype=f64, device=dev)
    m_sum[rows, s_idx] = 1
    m_diff = torch.zeros((ng * ng, ng_max), dtype=f64, device=dev)
    m_diff[rows, d_idx] = 1
    flat = P.permute(0, 3, 1, 2).reshape(n, na, ng * ng)
    nan_angle = torch.isnan(flat[:, :, 0])
    p_add = flat @ m_sum
    p_sub = flat @ m_diff
    P4 = flat.reshape(n, na, ng, ng)
    px = P4.sum(dim=3)
    py = P4.sum(dim=2)
    k_sum = torch.arange(2, 2 * ng_max + 1, dtype=f64, device=dev)
    k_diff = torch.arange(0, ng_max, dtype=f64, device=dev)
    mean = _nanmean
    nanv = torch.tensor(float("nan"), dtype=f64, device=dev)
    out: dict[str, Any] = {}
    ux = px @ gl
    uy = py @ gl
    vi, ai, ci = torch.nonzero(flat > 0, as_tuple=True)
    v = flat[vi, ai, ci]
    row = vi * na + ai
    hxy = -torch.bincount(row, weights=v * torch.log2(v + EPS), minlength=n * na).reshape(n, na)
    pxv = px[vi, ai, ci // ng]
    pyv = py[vi, ai, ci % ng]
    hxy1 = -torch.bincount(row, weights=v * torch.log2(pxv * pyv + EPS), minlength=n * na).reshape(n, na)
    hxy = torch.where(nan_angle, nanv, hxy)
    hxy1 = torch.where(nan_angle, nanv, hxy1)
    ij = torch.outer(gl, gl).reshape(-1)
    out["Autocorrelation"] = mean(flat @ ij, 1)
    out["JointAverage"] = ux.mean(dim=1)
    s = k_sum[None, None, :] - (ux + uy)[:, :, None]
    out["ClusterProminence"] = mean((p_add * s ** 4).sum(dim=2), 1)
    out["ClusterShade"] = mean((p_add * s ** 3).sum(dim=2), 1)
    out["ClusterTendency"] = mean((p_add * s ** 2).sum(dim=2), 1)
    out["Contrast"] = mean(p_sub @ k_diff ** 2, 1)
    dx = gl[None, None, :] - ux[:, :, None]
    dy = gl[None, None, :] - uy[:, :, None]
    varx = (px * dx ** 2).sum(dim=2)
    sigx = varx ** 0.5
    sigy = (py * dy ** 2).sum(dim=2) ** 0.5
    corm = torch.einsum("nai,nai->na", torch.einsum("naij,naj->nai", P4, dy), dx)
    corr = corm / (sigx * sigy + EPS)
    deg = ((px > 0).sum(dim=-1) == 1) | ((py > 0).sum(dim=-1) == 1)  # see _voxel_glcm.degenerate_angles
    corr = torch.where((sigx * sigy == 0) | deg, torch.ones_like(corr), corr)
    out["Correlation"] = mean(corr, 1)
    diffavg = p_sub @ k_diff
    out["DifferenceAverage"] = mean(diffavg, 1)
    out["DifferenceEntropy"] = mean(-(p_sub * torch.log2(p_sub + EPS)).sum(dim=2), 1)
    out["DifferenceVariance"] = mean((p_sub * (k_diff[None, None, :] - diffavg[:, :, None]) ** 2).sum(dim=2), 1)
    out["JointEnergy"] = mean((flat * flat).sum(dim=2), 1)
    out["JointEntropy"] = mean(hxy, 1)
    hx = -(px * torch.log2(px + EPS)).sum(dim=2)
    hy = -(py * torch.log2(py + EPS)).sum(dim=2)
    div = torch.fmax(hx, hy)
    imc1 = hxy - hxy1
    safe = torch.where(div != 0, div, torch.ones_like(div))
    imc1 = torch.where(div != 0, imc1 / safe, torch.where(torch.isnan(div), div, torch.zeros_like(div)))
    out["Imc1"] = mean(imc1, 1)
    hxy2 = _nonzero_outer_entropy(px.reshape(n * na, ng), py.reshape(n * na, ng)).reshape(n, na)
    hxy2 = torch.where(nan_angle, nanv, hxy2)
    imc2 = (1 - np.e ** (-2 * (hxy2 - hxy))) ** 0.5
    imc2 = torch.where((hxy2 == hxy) | deg, torch.zeros_like(imc2), imc2)
    out["Imc2"] = mean(imc2, 1)
    out["Idm"] = mean(p_sub @ (1 / (1 + k_diff ** 2)), 1)
    out["Idmn"] = mean(p_sub @ (1 / (1 + k_diff ** 2 / ng_max ** 2)), 1)
    out["Id"] = mean(p_sub @ (1 / (1 + k_diff)), 1)
    out["Idn"] = mean(p_sub @ (1 / (1 + k_diff / ng_max)), 1)
    out["InverseVariance"] = mean(p_sub[:, :, 1:] @ (1 / k_diff[1:] ** 2), 1)
    out["MaximumProbability"] = mean(flat.amax(dim=2), 1)
    out["SumAverage"] = mean(p_add @ k_sum, 1)
    out["SumEntropy"] = mean(-(p_add * torch.log2(p_add + EPS)).sum(dim=2), 1)
    out["SumSquares"] = mean(varx, 1)
    if "MCC" in names:
        out["MCC"] = _mcc(P, px.transpose(1, 2), py.transpose(1, 2))
    return {k: v.cpu().numpy() for k, v in out.items() if k in names}


def _mcc(P: Any, px: Any, py: Any) -> Any:
    import torch

    n, ng, _, na = P.shape
    if ng < 2:
        return torch.ones(n, dtype=P.dtype, device=P.device)
    Pa = P.permute(0, 3, 1, 2)
    finite = ~torch.isnan(Pa[:, :, 0, 0])
    B = Pa[finite]
    sx = px.transpose(1, 2)[finite].sqrt()
    sy = py.transpose(1, 2)[finite].sqrt()
    B = B / (sx[:, :, None] * sy[:, None, :])
    B = torch.where(torch.isfinite(B), B, torch.zeros_like(B))
    live = sx > 0
    k = min(max(int(live.sum(dim=1).max()) if len(live) else 0, 2), ng)
    order = torch.argsort((~live).to(torch.int8), dim=1, stable=True)[:, :k]
    B = torch.take_along_dim(B, order[:, :, None], dim=1)
    S = B @ B.transpose(1, 2)
    eig = torch.linalg.eigvalsh(S) if len(S) else torch.zeros((0, k), dtype=P.dtype, device=P.device)
    vals = torch.full((n, na), float("nan"), dtype=P.dtype, device=P.device)
    vals[finite] = eig[:, -2].clamp(min=0).sqrt()
    return _nanmean(vals, 1)


def glcm_maps_torch(windows: np.ndarray, offsets: np.ndarray, gray_levels: np.ndarray, settings: dict[str, Any],
                    weights: np.ndarray | None, kept: np.ndarray | None, names: list[str], device: Any
                    ) -> dict[str, np.ndarray]:
    """Voxel-based GLCM features of kernel ``windows``, computed in torch on ``device``."""
    P = glcm_matrices_torch(windows, offsets, gray_levels, settings, weights, kept, device)
    return glcm_features_torch(P, gray_levels, names)
