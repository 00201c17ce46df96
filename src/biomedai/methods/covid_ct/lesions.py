"""Lesion (infection) mask inside the lung by HU, with vessel suppression, and the HU bins.

HU bins are right-closed, ``(lo, hi]`` (:meth:`CovidCTConfig.hu_bins`); :func:`hu_bin_index` returns
0 for ``hu <= edges[0]``, ``i`` for ``edges[i-1] < hu <= edges[i]`` and ``len(edges)`` above the last.
A lesion voxel has ``lesion_min_hu < hu <= lesion_max_hu`` after a Gaussian smoothing of
``lesion_smoothing_mm`` (CT noise would otherwise scatter single voxels across the edges) and survives a ball opening of radius
``vessel_radius_mm`` (vessels and fissures thinner than the ball are removed, patches of ground glass
and consolidation wider than it are kept exactly); components below ``min_lesion_ml`` are dropped.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .config import CovidCTConfig
from .morphology import bounding_slices, components_by_size, open_mm


def hu_bin_index(hu: np.ndarray, edges: tuple[float, ...] | list[float]) -> np.ndarray:
    """Bin of each value for right-closed bins (see the module docstring).

    >>> hu_bin_index(np.array([-1000, -750, -749.9, -300, 50, 50.1]), (-750, -300, 50)).tolist()
    [0, 0, 1, 1, 2, 3]
    """
    return np.digitize(hu, np.asarray(edges, float), right=True)


def lesion_mask(hu: np.ndarray, lung: np.ndarray, spacing: tuple[float, ...],
                config: CovidCTConfig | None = None) -> np.ndarray:
    """Boolean lesion mask ``[z, y, x]`` inside ``lung``."""
    config = config or CovidCTConfig()
    margin = tuple(int(np.ceil(max(config.vessel_radius_mm, 3 * config.lesion_smoothing_mm) / s)) + 1
                   for s in spacing)
    box = bounding_slices(lung, margin)
    values = hu[box]
    if config.lesion_smoothing_mm > 0:
        sigma = [config.lesion_smoothing_mm / s for s in spacing]
        if hu.shape[0] == 1:
            sigma[0] = 0.0
        values = ndi.gaussian_filter(values.astype(np.float32), sigma)
    sub = lung[box] & (values > config.lesion_min_hu) & (values <= config.lesion_max_hu)
    candidate = np.zeros_like(lung)
    if not sub.any():
        return candidate
    if hu.shape[0] == 1:
        opened = open_mm(sub[0], config.vessel_radius_mm, spacing[1:])[None]
    else:
        opened = open_mm(sub, config.vessel_radius_mm, spacing)
    labels, order, sizes = components_by_size(opened)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    min_voxels = config.min_lesion_ml / voxel_ml if hu.shape[0] > 1 else \
        config.min_lesion_ml / voxel_ml * spacing[0] / 10.0  # a slice: the same area as a 1 cm slab would
    keep = [k for k in order if sizes[k] >= min_voxels]
    out = np.zeros_like(candidate)
    out[box] = np.isin(labels, keep)
    return out
