"""Binary morphology in millimetres on anisotropic grids (Euclidean distance transforms, so a 10 mm
closing costs the same as a 1 mm one)."""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def dilate_mm(mask: np.ndarray, radius_mm: float, spacing: tuple[float, ...]) -> np.ndarray:
    """Voxels within ``radius_mm`` of ``mask`` (a ball dilation)."""
    if radius_mm <= 0 or not mask.any():
        return mask.copy()
    return ndi.distance_transform_edt(~mask, sampling=spacing) <= radius_mm


def erode_mm(mask: np.ndarray, radius_mm: float, spacing: tuple[float, ...]) -> np.ndarray:
    """Voxels of ``mask`` farther than ``radius_mm`` from its outside (a ball erosion; the array border
    counts as inside so that structures cut by the field of view are not eaten from the side)."""
    if radius_mm <= 0 or not mask.any():
        return mask.copy()
    padded = np.pad(mask, 1, mode="edge")
    eroded = ndi.distance_transform_edt(padded, sampling=spacing) > radius_mm
    return eroded[tuple(slice(1, -1) for _ in mask.shape)]


def close_mm(mask: np.ndarray, radius_mm: float, spacing: tuple[float, ...]) -> np.ndarray:
    """Ball closing of radius ``radius_mm`` (fills gaps and dents narrower than the ball)."""
    if radius_mm <= 0:
        return mask.copy()
    pad = [int(np.ceil(radius_mm / s)) + 1 for s in spacing]
    padded = np.pad(mask, [(p, p) for p in pad])
    closed = erode_mm(dilate_mm(padded, radius_mm, spacing), radius_mm, spacing)
    return closed[tuple(slice(p, -p) for p in pad)]


def open_mm(mask: np.ndarray, radius_mm: float, spacing: tuple[float, ...]) -> np.ndarray:
    """Ball opening of radius ``radius_mm`` (removes parts thinner than the ball, e.g. vessels)."""
    if radius_mm <= 0:
        return mask.copy()
    eroded = ndi.distance_transform_edt(np.pad(mask, 1), sampling=spacing) > radius_mm
    eroded = eroded[tuple(slice(1, -1) for _ in mask.shape)]
    return dilate_mm(eroded, radius_mm, spacing) & mask


def fill_holes_per_slice(mask: np.ndarray) -> np.ndarray:
    """2-D hole filling on each axial slice ``mask[z]``."""
    out = np.empty_like(mask)
    for z in range(mask.shape[0]):
        out[z] = ndi.binary_fill_holes(mask[z])
    return out


def components_by_size(mask: np.ndarray) -> tuple[np.ndarray, list[int], np.ndarray]:
    """``(labels, label ids from largest to smallest, sizes indexed by label)``; 26/8-connectivity."""
    labels, n = ndi.label(mask, structure=np.ones((3,) * mask.ndim, bool))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[0] = 0
    order = [int(i) for i in np.argsort(sizes)[::-1] if sizes[i] > 0]
    return labels, order, sizes


def bounding_slices(mask: np.ndarray, margin: int | tuple[int, ...] = 0) -> tuple[slice, ...]:
    """The bounding box of ``mask`` grown by ``margin`` voxels (clipped to the array)."""
    margins = (margin,) * mask.ndim if isinstance(margin, int) else margin
    out = []
    for axis, m in enumerate(margins):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        idx = np.flatnonzero(mask.any(axis=other))
        if idx.size == 0:
            return tuple(slice(0, 0) for _ in mask.shape)
        out.append(slice(max(int(idx[0]) - m, 0), min(int(idx[-1]) + m + 1, mask.shape[axis])))
    return tuple(out)
