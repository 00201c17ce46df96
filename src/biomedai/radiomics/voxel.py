"""Voxel-based feature maps (PyRadiomics' ``voxelBased`` extraction), vectorised over voxels.

PyRadiomics computes, for each ROI voxel, the texture matrices of the box of ``kernelRadius``
around it (clipped to the image, only the in-plane box with ``force2D``) with a C loop per voxel,
then the features with numpy. Here every kernel is a window of the zero-padded grey-level array
(``sliding_window_view``), and each matrix is built for a whole chunk of voxels at once with one
``bincount`` per angle; the features then run on stacked matrices ``(voxels, ...)``.

The definitions follow PyRadiomics 3.0.1 exactly, including the parts that depend on all voxels
of a ``voxelBatch``: grey levels absent from the kernel region are removed for all voxels, GLCM
angles empty for every voxel of a batch are dropped (the others give NaN for the voxels whose
kernel has no pair along them; ``JointAverage`` then is NaN there, the other features average the
non-empty angles). One deliberate difference, the GLCM ``MCC``: PyRadiomics' eigenvalue call fails
on a batch in which any voxel has an empty angle and then leaves the whole map at ``initValue``;
here MCC averages the non-empty angles, with the eigenvalues of the equivalent symmetric matrix
(negative round-off clipped to 0 before the square root). And with an asymmetric GLCM, an angle
whose matrix has a single row or column has sigma_x * sigma_y = 0 and HXY2 = HXY exactly, which
PyRadiomics evaluates to round-off; its ``Correlation`` and ``Imc2`` there are noise, ours use
the exact values (1 and 0, PyRadiomics' own rule for that case).
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ._voxel_glcm import _pair_slices as _pairs
from ._voxel_glcm import glcm_angle_counts, glcm_features, glcm_matrices, local_levels
from .features._neighbours import EPS, angle_weights, angles, force2d_dim, label_zones

logger = logging.getLogger(__name__)

__all__ = ["class_maps", "kernel_windows", "VOXEL_CLASSES"]

VOXEL_CLASSES = ("firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")

#: Elements of the largest temporary array of one chunk (float64): bounds memory per chunk.
_CHUNK_ELEMENTS = 8_000_000


def _radii(ndim: int, radius: int, f2d: int | None) -> np.ndarray:
    r = np.full(ndim, radius, dtype=np.int64)
    if f2d is not None:
        r[f2d] = 0
    return r


def _kernel_radii(levels: np.ndarray, settings: dict[str, Any]) -> tuple[int | None, np.ndarray]:
    """The force2D axis (or None) and the per-axis kernel radius from ``kernelRadius``."""
    f2d = force2d_dim(settings)
    return f2d, _radii(levels.ndim, int(settings.get("kernelRadius", 1)), f2d)


def _level_lookup(gray_levels: np.ndarray, fill: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Grey levels as int64 and a lookup table from grey level to its index (``fill`` elsewhere)."""
    gl = gray_levels.astype(np.int64)
    lut = np.full(int(gl.max()) + 1, fill, dtype=np.int64)
    lut[gl] = np.arange(len(gl))
    return gl, lut


def kernel_windows(levels: np.ndarray, coords: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Kernel boxes ``(n, 2r+1, ...)`` of ``levels`` around ``coords`` (0 beyond the array).

    Example:
        >>> w = kernel_windows(np.arange(1, 10).reshape(3, 3), np.array([[0, 0]]), np.array([1, 1]))
        >>> w[0].tolist()
        [[0, 0, 0], [0, 1, 2], [0, 4, 5]]
    """
    padded = np.pad(levels, [(int(r), int(r)) for r in radii])
    shape = tuple(int(2 * r + 1) for r in radii)
    view = np.lib.stride_tricks.sliding_window_view(padded, shape)
    return view[tuple(coords.T)]


def _chunks(n: int, per_voxel: int) -> list[slice]:
    size = max(1, _CHUNK_ELEMENTS // max(per_voxel, 1))
    return [slice(s, min(n, s + size)) for s in range(0, n, size)]


# ----------------------------------------------------------------------------------------- first order
def _nan_percentiles(sorted_vals: np.ndarray, counts: np.ndarray, q: float) -> np.ndarray:
    """Numpy's 'linear' percentile of each row's first ``counts`` (sorted, NaN last) values."""
    pos = (counts - 1) * (q / 100.0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, counts - 1)
    t = pos - lo
    rows = np.arange(len(counts))
    a = sorted_vals[rows, lo]
    b = sorted_vals[rows, hi]
    diff = b - a
    out = a + diff * t
    upper = t >= 0.5
    out[upper] = (b - diff * (1 - t))[upper]
    return out


def firstorder_maps(values: np.ndarray, levels: np.ndarray, kernel_mask: np.ndarray, roi: np.ndarray,
                    coords: np.ndarray, settings: dict[str, Any], spacing: np.ndarray, gray_levels: np.ndarray,
                    names: list[str]) -> dict[str, np.ndarray]:
    """First-order features of each voxel's kernel (PyRadiomics' kernel offsets and nan-statistics)."""
    radius = int(settings.get("kernelRadius", 1))
    f2d = force2d_dim(settings)
    if settings.get("maskedKernel", True):
        size = coords.max(axis=0) - coords.min(axis=0) + 1
    else:
        size = np.array(values.shape)
    box = np.minimum(size, 2 * radius + 1)
    offsets = angles(box, list(range(1, radius + 1)), True, f2d)
    offsets = np.concatenate([offsets, np.zeros((1, values.ndim), dtype=np.int64)])
    image = np.where(kernel_mask, values.astype(float), np.nan)
    image = np.pad(image, radius, constant_values=np.nan)
    lev = np.pad(levels, radius)
    out = {n: np.empty(len(coords)) for n in names}
    shift = settings.get("voxelArrayShift", 0)
    gl, lut = _level_lookup(gray_levels, fill=-1)
    for ch in _chunks(len(coords), len(offsets) * 8 + len(gl)):
        idx = tuple((coords[ch, None, :] + radius + offsets[None, :, :]).transpose(2, 0, 1))
        x = image[idx]  # (n, Nk), NaN outside the kernel mask
        kl = lut[lev[idx]]
        n = len(x)
        counts_gl = np.zeros((n, len(gl)))
        valid = kl >= 0
        np.add.at(counts_gl, (np.nonzero(valid)[0], kl[valid]), 1)
        total = counts_gl.sum(axis=1, keepdims=True)
        total[total == 0] = 1
        p = counts_gl / total
        finite = ~np.isnan(x)
        nvox = finite.sum(axis=1)
        xs = np.sort(x, axis=1)  # NaN sort last
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.nansum(x, axis=1) / nvox
            dev = x - mean[:, None]
            m2 = np.nansum(dev ** 2, axis=1) / nvox
            res: dict[str, Any] = {}
            energy = np.nansum((x + shift) ** 2, axis=1)
            res["Energy"] = energy
            res["TotalEnergy"] = energy * float(np.prod(spacing))
            res["Entropy"] = -np.sum(p * np.log2(p + EPS), axis=1)
            res["Minimum"] = xs[:, 0]
            res["Maximum"] = xs[np.arange(n), nvox - 1]
            p10 = _nan_percentiles(xs, nvox, 10)
            p90 = _nan_percentiles(xs, nvox, 90)
            res["10Percentile"], res["90Percentile"] = p10, p90
            res["Mean"] = mean
            res["Median"] = _nan_percentiles(xs, nvox, 50)
            res["InterquartileRange"] = _nan_percentiles(xs, nvox, 75) - _nan_percentiles(xs, nvox, 25)
            res["Range"] = res["Maximum"] - res["Minimum"]
            res["MeanAbsoluteDeviation"] = np.nansum(np.abs(dev), axis=1) / nvox
            inner = np.where((x >= p10[:, None]) & (x <= p90[:, None]), x, np.nan)
            n_in = (~np.isnan(inner)).sum(axis=1)
            in_mean = np.nansum(inner, axis=1) / n_in
            res["RobustMeanAbsoluteDeviation"] = np.nansum(np.abs(inner - in_mean[:, None]), axis=1) / n_in
            res["RootMeanSquared"] = np.sqrt(energy / nvox)
            m2s = np.where(m2 == 0, 1.0, m2)
            res["Skewness"] = (np.nansum(dev ** 3, axis=1) / nvox) / m2s ** 1.5
            res["Kurtosis"] = (np.nansum(dev ** 4, axis=1) / nvox) / m2s ** 2.0
            res["Variance"] = m2
            res["StandardDeviation"] = np.sqrt(m2)
            res["Uniformity"] = np.sum(p ** 2, axis=1)
        for name in names:
            out[name][ch] = res[name]
    return out


# -------------------------------------------------------------------------------------- run lengths
def _runs(windows: np.ndarray, off: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run ends along one direction in each window.

    Run ends along ``off`` in each window: (voxel index, level, length) of every run, and per
    window whether some line holds two kernel voxels (else PyRadiomics drops the angle).
    """
    roi = windows > 0
    n = windows.shape[0]
    full_off = np.concatenate([[0], off])
    moving = [d for d in range(1, windows.ndim) if full_off[d] != 0]
    multi = np.zeros(n, dtype=bool)
    wshape = windows.shape[1:]
    for t in range(1, max(wshape)):
        sl = _pairs(wshape, off * t)
        if sl is None:
            break
        multi |= (roi[sl[0]] & roi[sl[1]]).reshape(n, -1).any(axis=1)
    sl = _pairs(wshape, off)
    same = np.zeros(windows.shape, dtype=bool)
    if sl is not None:
        same[sl[1]] = roi[sl[0]] & roi[sl[1]] & (windows[sl[0]] == windows[sl[1]])
    has_next = np.zeros(windows.shape, dtype=bool)
    if sl is not None:
        has_next[sl[0]] = same[sl[1]]
    d0 = moving[0]
    order = [d0] + [d for d in range(windows.ndim) if d != d0]
    r = roi.transpose(order)
    sm = same.transpose(order)
    if full_off[d0] < 0:
        r, sm = r[::-1], sm[::-1]
    rest = [int(full_off[d]) for d in order[1:]]
    prev_sl, next_sl = [], []
    for size, o in zip(r.shape[1:], rest):
        prev_sl.append(slice(max(0, -o), size - max(0, o)))
        next_sl.append(slice(max(0, o), size - max(0, -o)))
    run = np.zeros(r.shape, dtype=np.int32)
    run[0] = r[0]
    carried = np.zeros(r.shape[1:], dtype=np.int32)
    for i in range(1, r.shape[0]):
        carried[tuple(next_sl)] = run[i - 1][tuple(prev_sl)]
        run[i] = np.where(sm[i], carried + 1, r[i])
    if full_off[d0] < 0:
        run = run[::-1]
    run = run.transpose(np.argsort(order))
    ends = roi & ~has_next
    vox = np.nonzero(ends)[0]
    return vox, windows[ends].astype(np.int64), run[ends], multi


def glrlm_maps(levels: np.ndarray, coords: np.ndarray, settings: dict[str, Any], spacing: np.ndarray,
               gray_levels: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """GLRLM features of each voxel's kernel."""
    f2d, radii = _kernel_radii(levels, settings)
    offsets = angles(levels.shape, [1], False, f2d)
    gl, lut = _level_lookup(gray_levels)
    ng, na = len(gl), len(offsets)
    nr = int(2 * radii.max() + 1)
    weights = None
    if settings.get("weightingNorm") is not None:
        weights = angle_weights(offsets, np.asarray(spacing), settings["weightingNorm"], "glrlm")
    out = {n: np.empty(len(coords)) for n in names}
    iv = gl.astype(float)[None, :, None]
    jv = np.arange(1, nr + 1, dtype=float)[None, :, None]
    for ch in _chunks(len(coords), ng * nr * na * 4):
        w = kernel_windows(levels, coords[ch], radii)
        n = len(w)
        P = np.zeros(n * ng * nr * na)
        for k, off in enumerate(offsets):
            vox, lv, run, multi = _runs(w, np.asarray(off))
            keep = multi[vox]
            idx = ((vox[keep] * ng + lut[lv[keep]]) * nr + run[keep] - 1) * na + k
            P += np.bincount(idx, minlength=P.size)
        P = P.reshape(n, ng, nr, na)
        if weights is not None:
            P = (P * weights[None, None, None, :]).sum(axis=3, keepdims=True)
        res = _glrlm_features(P, iv, jv)
        for name in names:
            out[name][ch] = res[name]
    return out


def _glrlm_features(P: np.ndarray, iv: np.ndarray, jv: np.ndarray) -> dict[str, np.ndarray]:
    with np.errstate(invalid="ignore", divide="ignore"):
        nr = P.sum(axis=(1, 2))  # (n, Na)
        nr[nr == 0] = np.nan
        pr = P.sum(axis=1)  # (n, Nr, Na)
        pg = P.sum(axis=2)  # (n, Ng, Na)
        i4, j4 = iv[:, :, None, :], jv[:, None, :, :]
        mean = _nanmean_last
        out: dict[str, np.ndarray] = {}
        out["ShortRunEmphasis"] = mean((pr / jv ** 2).sum(axis=1) / nr)
        out["LongRunEmphasis"] = mean((pr * jv ** 2).sum(axis=1) / nr)
        out["GrayLevelNonUniformity"] = mean((pg ** 2).sum(axis=1) / nr)
        out["GrayLevelNonUniformityNormalized"] = mean((pg ** 2).sum(axis=1) / nr ** 2)
        out["RunLengthNonUniformity"] = mean((pr ** 2).sum(axis=1) / nr)
        out["RunLengthNonUniformityNormalized"] = mean((pr ** 2).sum(axis=1) / nr ** 2)
        out["RunPercentage"] = mean(nr / (pr * jv).sum(axis=1))
        pgn = pg / nr[:, None, :]
        ui = (pgn * iv).sum(axis=1, keepdims=True)
        out["GrayLevelVariance"] = mean((pgn * (iv - ui) ** 2).sum(axis=1))
        prn = pr / nr[:, None, :]
        uj = (prn * jv).sum(axis=1, keepdims=True)
        out["RunVariance"] = mean((prn * (jv - uj) ** 2).sum(axis=1))
        pn = P / nr[:, None, None, :]
        out["RunEntropy"] = mean(-(pn * np.log2(pn + EPS)).sum(axis=(1, 2)))
        out["LowGrayLevelRunEmphasis"] = mean((pg / iv ** 2).sum(axis=1) / nr)
        out["HighGrayLevelRunEmphasis"] = mean((pg * iv ** 2).sum(axis=1) / nr)
        out["ShortRunLowGrayLevelEmphasis"] = mean((P / (i4 ** 2 * j4 ** 2)).sum(axis=(1, 2)) / nr)
        out["ShortRunHighGrayLevelEmphasis"] = mean((P * i4 ** 2 / j4 ** 2).sum(axis=(1, 2)) / nr)
        out["LongRunLowGrayLevelEmphasis"] = mean((P * j4 ** 2 / i4 ** 2).sum(axis=(1, 2)) / nr)
        out["LongRunHighGrayLevelEmphasis"] = mean((P * j4 ** 2 * i4 ** 2).sum(axis=(1, 2)) / nr)
    return out


def _nanmean_last(a: np.ndarray) -> np.ndarray:
    """Mean over the last axis ignoring NaN (NaN where all are NaN), without numpy's warnings."""
    ok = ~np.isnan(a)
    cnt = ok.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, a, 0.0).sum(axis=-1) / np.where(cnt == 0, np.nan, cnt)


# ------------------------------------------------------------------------------------- size zones
def glszm_maps(levels: np.ndarray, coords: np.ndarray, settings: dict[str, Any], spacing: np.ndarray,
               gray_levels: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """GLSZM features of each voxel's kernel (zones: full connectivity inside the kernel box)."""
    f2d, radii = _kernel_radii(levels, settings)
    gl, lut = _level_lookup(gray_levels)
    ng = len(gl)
    ns = int(np.prod(2 * radii + 1))
    iv = gl.astype(float)[None, :]
    out = {n: np.empty(len(coords)) for n in names}
    for ch in _chunks(len(coords), ng * ns * 4):
        w = kernel_windows(levels, coords[ch], radii)
        n = len(w)
        if w.ndim == 3:  # 2D images: add a unit axis
            w = w[:, None]
        stacked = np.zeros((n, w.shape[1] + 1) + w.shape[2:], dtype=w.dtype)
        stacked[:, :-1] = w  # a zero plane between kernels keeps their zones apart
        flat = stacked.reshape((-1,) + w.shape[2:])
        lab = label_zones(flat, flat.ndim).reshape(stacked.shape)
        lab_flat = lab.reshape(n, -1)
        sizes = np.bincount(lab_flat.ravel())
        zone_level = np.zeros(len(sizes), dtype=np.int64)
        zone_vox = np.zeros(len(sizes), dtype=np.int64)
        zone_level[lab_flat.ravel()] = stacked.reshape(n, -1).ravel()
        zone_vox[lab_flat.ravel()] = np.repeat(np.arange(n), lab_flat.shape[1])
        zl, zs, zv = zone_level[1:], sizes[1:], zone_vox[1:]
        P = np.bincount((zv * ng + lut[zl]) * ns + zs - 1, minlength=n * ng * ns).reshape(n, ng, ns).astype(float)
        res = _zone_features(P, iv, np.arange(1, ns + 1, dtype=float)[None, :], zones=True)
        for name in names:
            out[name][ch] = res[name]
    return out


def _zone_features(P: np.ndarray, iv: np.ndarray, jv: np.ndarray, zones: bool) -> dict[str, np.ndarray]:
    """GLSZM (``zones``) or GLDM features of stacked matrices ``P (n, Ng, Nj)``, PyRadiomics' formulas."""
    ps = P.sum(axis=1)
    pg = P.sum(axis=2)
    nz = P.sum(axis=(1, 2))
    nz[nz == 0] = 1
    out: dict[str, np.ndarray] = {}
    i3, j3 = iv[:, :, None], jv[:, None, :]
    small, large = ("SmallArea", "LargeArea") if zones else ("SmallDependence", "LargeDependence")
    out[small + "Emphasis"] = (ps / jv ** 2).sum(axis=1) / nz
    out[large + "Emphasis"] = (ps * jv ** 2).sum(axis=1) / nz
    out["GrayLevelNonUniformity"] = (pg ** 2).sum(axis=1) / nz
    pgn = pg / nz[:, None]
    out["GrayLevelVariance"] = (pgn * (iv - (pgn * iv).sum(axis=1, keepdims=True)) ** 2).sum(axis=1)
    psn = ps / nz[:, None]
    spread = (psn * (jv - (psn * jv).sum(axis=1, keepdims=True)) ** 2).sum(axis=1)
    pn = P / nz[:, None, None]
    entropy = -(pn * np.log2(pn + EPS)).sum(axis=(1, 2))
    low = (pg / iv ** 2).sum(axis=1) / nz
    high = (pg * iv ** 2).sum(axis=1) / nz
    sl = (P / (i3 ** 2 * j3 ** 2)).sum(axis=(1, 2)) / nz
    sh = (P * i3 ** 2 / j3 ** 2).sum(axis=(1, 2)) / nz
    ll = (P * j3 ** 2 / i3 ** 2).sum(axis=(1, 2)) / nz
    lh = (P * i3 ** 2 * j3 ** 2).sum(axis=(1, 2)) / nz
    if zones:
        npix = (ps * jv).sum(axis=1)
        npix[npix == 0] = 1
        out["GrayLevelNonUniformityNormalized"] = (pg ** 2).sum(axis=1) / nz ** 2
        out["SizeZoneNonUniformity"] = (ps ** 2).sum(axis=1) / nz
        out["SizeZoneNonUniformityNormalized"] = (ps ** 2).sum(axis=1) / nz ** 2
        out["ZonePercentage"] = nz / npix
        out["ZoneVariance"] = spread
        out["ZoneEntropy"] = entropy
        out["LowGrayLevelZoneEmphasis"] = low
        out["HighGrayLevelZoneEmphasis"] = high
        pre = "Area"
    else:
        out["DependenceNonUniformity"] = (ps ** 2).sum(axis=1) / nz
        out["DependenceNonUniformityNormalized"] = (ps ** 2).sum(axis=1) / nz ** 2
        out["DependenceVariance"] = spread
        out["DependenceEntropy"] = entropy
        out["LowGrayLevelEmphasis"] = low
        out["HighGrayLevelEmphasis"] = high
        pre = "Dependence"
    out[f"Small{pre}LowGrayLevelEmphasis"] = sl
    out[f"Small{pre}HighGrayLevelEmphasis"] = sh
    out[f"Large{pre}LowGrayLevelEmphasis"] = ll
    out[f"Large{pre}HighGrayLevelEmphasis"] = lh
    return out


# ----------------------------------------------------------------------------- dependence, NGTDM
def _neighbour_stats(w: np.ndarray, offsets: np.ndarray, alpha: int | None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Per window voxel: (number of kernel neighbours [within ``alpha`` levels], sum of their levels)."""
    roi = w > 0
    count = np.zeros(w.shape, dtype=np.int32)
    total = np.zeros(w.shape, dtype=np.int64)
    wi = w.astype(np.int64)
    for off in offsets:
        sl = _pairs(w.shape[1:], off)
        if sl is None:
            continue
        here, there = sl
        ok = roi[here] & roi[there]
        if alpha is not None:
            ok &= np.abs(wi[here] - wi[there]) <= alpha
        count[here] += ok
        total[here] += np.where(ok, wi[there], 0)
    return count, total


def gldm_maps(levels: np.ndarray, coords: np.ndarray, settings: dict[str, Any], spacing: np.ndarray,
              gray_levels: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """GLDM features of each voxel's kernel."""
    f2d, radii = _kernel_radii(levels, settings)
    offsets = angles(levels.shape, settings.get("distances", [1]), True, f2d)
    gl, lut = _level_lookup(gray_levels)
    ng, nd = len(gl), len(offsets) + 1
    alpha = int(settings.get("gldm_a", 0))
    iv = gl.astype(float)[None, :]
    jv = np.arange(1, nd + 1, dtype=float)[None, :]
    out = {n: np.empty(len(coords)) for n in names}
    for ch in _chunks(len(coords), ng * nd * 4):
        w = kernel_windows(levels, coords[ch], radii)
        n = len(w)
        dep, _ = _neighbour_stats(w, offsets, alpha)
        roi = w > 0
        vox = np.nonzero(roi)[0]
        idx = (vox * ng + lut[w[roi].astype(np.int64)]) * nd + dep[roi]
        P = np.bincount(idx, minlength=n * ng * nd).reshape(n, ng, nd).astype(float)
        res = _zone_features(P, iv, jv, zones=False)
        for name in names:
            out[name][ch] = res[name]
    return out


def ngtdm_maps(levels: np.ndarray, coords: np.ndarray, settings: dict[str, Any], spacing: np.ndarray,
               gray_levels: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """NGTDM features of each voxel's kernel."""
    f2d, radii = _kernel_radii(levels, settings)
    offsets = angles(levels.shape, settings.get("distances", [1]), True, f2d)
    gl, lut = _level_lookup(gray_levels)
    ng = len(gl)
    out = {n: np.empty(len(coords)) for n in names}
    for ch in _chunks(len(coords), ng * ng * 6):
        w = kernel_windows(levels, coords[ch], radii)
        n = len(w)
        count, total = _neighbour_stats(w, offsets, None)
        roi = w > 0
        vox = np.nonzero(roi)[0]
        lv = w[roi].astype(np.int64)
        c = count[roi]
        with np.errstate(invalid="ignore", divide="ignore"):
            diff = np.where(c > 0, np.abs(lv - total[roi] / np.where(c > 0, c, 1)), 0.0)
        idx = vox * ng + lut[lv]
        cnt = np.bincount(idx, minlength=n * ng).reshape(n, ng).astype(float)
        s = np.bincount(idx, weights=diff, minlength=n * ng).reshape(n, ng)
        res = _ngtdm_features(cnt, s, gl.astype(float))
        for name in names:
            out[name][ch] = res[name]
    return out


def _ngtdm_features(cnt: np.ndarray, s: np.ndarray, iv: np.ndarray) -> dict[str, np.ndarray]:
    nvp = cnt.sum(axis=1)
    p = cnt / nvp[:, None]
    present = p > 0
    pair = present[:, :, None] & present[:, None, :]
    ngp = present.sum(axis=1)
    i = iv[None, :]
    out: dict[str, np.ndarray] = {}
    coarse = (p * s).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["Coarseness"] = np.where(coarse != 0, 1 / np.where(coarse != 0, coarse, 1), 1e6)
        div = ngp * (ngp - 1)
        dif2 = (i[:, :, None] - i[:, None, :]) ** 2
        contrast = (p[:, :, None] * p[:, None, :] * dif2).sum(axis=(1, 2)) * s.sum(axis=1) / nvp
        out["Contrast"] = np.where(div != 0, contrast / np.where(div != 0, div, 1), 0.0)
        ip = i * p
        absdiff = np.where(pair, np.abs(ip[:, :, None] - ip[:, None, :]), 0).sum(axis=(1, 2))
        busy = (p * s).sum(axis=1)
        out["Busyness"] = np.where(absdiff != 0, busy / np.where(absdiff != 0, absdiff, 1), 0.0)
        ps = p * s
        num = np.where(pair, ps[:, :, None] + ps[:, None, :], 0)
        den = p[:, :, None] + p[:, None, :]
        den[den == 0] = 1
        out["Complexity"] = (np.abs(i[:, :, None] - i[:, None, :]) * num / den).sum(axis=(1, 2)) / nvp
        sum_s = s.sum(axis=1)
        strength = np.where(pair, (p[:, :, None] + p[:, None, :]) * dif2, 0).sum(axis=(1, 2))
        out["Strength"] = np.where(sum_s != 0, strength / np.where(sum_s != 0, sum_s, 1), 0.0)
    return out


# ------------------------------------------------------------------------------------------- GLCM
def glcm_maps(levels: np.ndarray, coords: np.ndarray, settings: dict[str, Any], spacing: np.ndarray,
              gray_levels: np.ndarray, names: list[str], device: str | None = None) -> dict[str, np.ndarray]:
    """GLCM features of each voxel's kernel; ``device`` (``"cpu"``, ``"cuda"``, ...) runs them in torch."""
    f2d, radii = _kernel_radii(levels, settings)
    offsets = angles(levels.shape, settings.get("distances", [1]), False, f2d)
    weights = None
    if settings.get("weightingNorm") is not None:
        weights = angle_weights(offsets, np.asarray(spacing), settings["weightingNorm"], "glcm")
    ng, na = len(gray_levels), len(offsets)
    out = {n: np.empty(len(coords)) for n in names}
    batch = int(settings.get("voxelBatch", -1))
    batch = len(coords) if batch <= 0 else batch
    for start in range(0, len(coords), batch):
        bcoords = coords[start:start + batch]
        kept = None
        if weights is None and na > 1:  # PyRadiomics drops angles empty for every voxel of the batch
            counts = np.zeros(na)
            for ch in _chunks(len(bcoords), na * 64):
                counts += glcm_angle_counts(kernel_windows(levels, bcoords[ch], radii), offsets).sum(axis=0)
            kept = counts > 0
        m = ng if device is not None else min(ng, int(np.prod(2 * radii + 1)))  # numpy: local levels
        per_voxel = m * m * na * 6
        if device is not None and str(device).startswith("cuda"):
            per_voxel = max(1, per_voxel // 32)  # a GPU takes far larger chunks (about 2 GB per array)
        for ch in _chunks(len(bcoords), per_voxel):
            w = kernel_windows(levels, bcoords[ch], radii)
            if device is None:  # numpy: each kernel's GLCM on its own levels (few), not the ROI's
                local, values = local_levels(w)
                P = glcm_matrices(local, offsets, np.arange(1, values.shape[1] + 1), settings, weights, kept)
                res = glcm_features(P, gray_levels, names, level_values=values)
            else:
                from ._voxel_torch import glcm_maps_torch

                res = glcm_maps_torch(w, offsets, gray_levels, settings, weights, kept, names, device)
            for name in names:
                out[name][start + ch.start:start + ch.stop] = res[name]
    return out


def class_maps(cls: str, values: np.ndarray, kernel_mask: np.ndarray, roi: np.ndarray,
               settings: dict[str, Any], spacing: np.ndarray, names: list[str], device: str | None = None
               ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Feature values of class ``cls`` for every ROI voxel: ``(coords (n, ndim), {name: (n,)})``.

    ``values`` is the (filtered) image on the ROI's box grown by ``kernelRadius``; ``kernel_mask``
    the voxels that kernels may use (the ROI, or all with ``maskedKernel: false``).
    """
    from .preprocessing import discretize

    if values.ndim == 2:  # a 2D image: one slice, in-plane kernels
        values, kernel_mask, roi = values[None], kernel_mask[None], roi[None]
        spacing = np.concatenate([[1.0], spacing])
        settings = {**settings, "force2D": True, "force2Ddimension": 0}
    levels = discretize(values, kernel_mask, settings)
    gray_levels = np.unique(levels[kernel_mask]).astype(np.int64)
    coords = np.argwhere(roi)
    if cls == "firstorder":
        maps = firstorder_maps(values, levels, kernel_mask, roi, coords, settings, spacing, gray_levels, names)
    elif cls == "glcm":
        maps = glcm_maps(levels, coords, settings, spacing, gray_levels, names, device)
    else:
        fn = {"glrlm": glrlm_maps, "glszm": glszm_maps, "gldm": gldm_maps, "ngtdm": ngtdm_maps}[cls]
        maps = fn(levels, coords, settings, spacing, gray_levels, names)
    return coords, maps
