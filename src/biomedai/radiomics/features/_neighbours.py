"""Neighbour offsets ("angles") and shifted views shared by the texture matrices."""
from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

EPS = np.spacing(1)


def angles(size: Sequence[int], distances: Sequence[int], bidirectional: bool,
           force2d_dim: int | None = None) -> np.ndarray:
    """Offsets whose infinity norm is one of ``distances``, in PyRadiomics' order.

    Offsets are enumerated from ``(+d, +d, +d)`` downwards; an offset moving out of plane when
    ``force2d_dim`` is set, or at least as long as the ROI's extent in an axis, is dropped.
    Unidirectional sets keep the first half (one of each +/- pair).

    Example:
        >>> angles((5, 5, 5), [1], bidirectional=False).shape
        (13, 3)
    """
    nd = len(size)
    dmax = int(max(distances))
    steps = np.arange(dmax, -dmax - 1, -1)
    grid = np.array(list(itertools.product(steps, repeat=nd)), dtype=np.int64).reshape(-1, nd)
    ok = np.all(np.abs(grid) < np.asarray(size)[None, :], axis=1)
    if force2d_dim is not None:
        ok &= grid[:, force2d_dim] == 0
    norm = np.abs(grid).max(axis=1)
    ok &= np.isin(norm, np.asarray(distances)) & (norm >= 1)
    found = grid[ok]
    if not bidirectional:
        found = found[: len(found) // 2]
    return found


def pair_slices(shape: Sequence[int], offset: Sequence[int]) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Slices ``(here, there)`` so that ``array[there]`` is the neighbour at ``offset`` of ``array[here]``."""
    here, there = [], []
    for n, o in zip(shape, offset):
        o = int(o)
        here.append(slice(max(0, -o), n - max(0, o)))
        there.append(slice(max(0, o), n - max(0, -o)))
    return tuple(here), tuple(there)


def padded_flat(levels: np.ndarray, roi: np.ndarray, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """``levels`` inside ``roi`` (0 elsewhere) in a C-order box padded by ``pad`` zeros per side, flattened.

    Returns ``(flat, strides)``: the flat array and the padded box's element strides, so that the
    neighbour at offset ``o`` (every component at most ``pad`` in magnitude) of the ROI voxel at
    flat index ``p`` is at ``p + o @ strides``: stepping off the ROI's box lands on a zero, never on
    another row, and never outside ``flat``.

    Example:
        >>> flat, strides = padded_flat(np.array([[1, 2]]), np.array([[True, True]]), 1)
        >>> flat.reshape(3, 4).tolist(), strides.tolist()
        ([[0, 0, 0, 0], [0, 1, 2, 0], [0, 0, 0, 0]], [4, 1])
    """
    shape = tuple(int(n) + 2 * pad for n in levels.shape)
    size = int(np.prod(shape))
    flat = np.zeros(size, dtype=levels.dtype)
    box = flat.reshape(shape)
    np.copyto(box[tuple(slice(pad, n - pad) for n in shape)], levels, where=roi)
    strides = np.array([int(np.prod(shape[d + 1:])) for d in range(len(shape))], dtype=np.int64)
    return flat, strides


def angle_weights(offsets: np.ndarray, spacing: Sequence[float], norm: str, kind: str) -> np.ndarray:
    """Per-angle weights of ``weightingNorm`` (GLCM uses exp(-d^2), GLRLM the distance itself)."""
    scaled = np.abs(offsets) * np.asarray(spacing)[None, :]
    if norm == "infinity":
        dist = scaled.max(axis=1)
    elif norm == "euclidean":
        dist = np.sqrt((scaled ** 2).sum(axis=1))
    elif norm == "manhattan":
        dist = scaled.sum(axis=1)
    else:
        return np.ones(len(offsets))
    if kind == "glcm":
        return np.exp(-dist ** 2)
    return dist


def nanmean(values: np.ndarray) -> float:
    """Mean over the non-NaN entries (``np.nanmean`` without its overhead on tiny per-angle arrays)."""
    v = np.asarray(values, dtype=float).ravel()
    v = v[~np.isnan(v)]
    return float(v.sum() / len(v)) if len(v) else float("nan")


def force2d_dim(settings: dict) -> int | None:
    return settings.get("force2Ddimension", 0) if settings.get("force2D", False) else None


def label_zones(levels: np.ndarray, connectivity: int) -> np.ndarray:
    """Connected zones of equal non-zero value (scikit-image's ``measure.label``, background 0).

    Calls the Cython core of ``skimage.measure.label`` directly when it is there: the public
    function's module imports ``scipy.ndimage`` (about 0.2 s of start-up) only for boolean input.
    """
    try:
        from skimage.measure._ccomp import label_cython

        return label_cython(levels, 0, False, connectivity)
    except (ImportError, TypeError):  # pragma: no cover - a scikit-image that moved or changed its core
        from skimage.measure import label

        return label(levels, background=0, connectivity=connectivity)
