"""Density-peak clustering (Rodriguez & Laio 2014), visited in descending density order, with automatic peaks.

This is the reconstruction used by the hip-dysplasia method (spec ``xray-ct.md`` 1.5.3) of "clustering by
search in descending order and automatic find of density peaks" (Liu et al. 2019): the paper cites it but
does not describe it, so every step below is the standard density-peaks recipe and is labelled a
reconstruction in the method's documentation.

1. Pairwise Euclidean distances ``d_ij`` (optionally after z-scoring each feature).
2. The cut-off distance ``d_c``: the ``dc_percentile``-th percentile of all ``d_ij`` (Rodriguez-Laio's
   rule of thumb: on average about 2 % of the points are neighbours).
3. Local density: Gaussian kernel ``rho_i = sum_{j != i} exp(-(d_ij / d_c)^2)`` or the cut-off kernel
   ``rho_i = #{j : d_ij < d_c}``.
4. Points sorted by density, highest first (ties broken by index, so the order is total).
5. ``delta_i``: distance to the nearest point earlier in that order (``nearest_denser``); the densest
   point gets the largest distance to any point.
6. Peaks: ``gamma = rho_norm * delta_norm`` (min-max normalised) above ``mean + n_sd * sd``; the densest
   point is always a peak.
7. Assignment in descending-density order: every other point takes the label of its nearest denser point.
8. Noise and halo (optional): points with ``rho < min_density`` are labelled -1 before assignment (no
   denser point ever descends from them), and Rodriguez-Laio's border rule marks a cluster's halo.

Example:
    >>> rng = np.random.default_rng(0)
    >>> x = np.vstack([rng.normal(0, 1, (60, 2)), rng.normal(8, 1, (40, 2))])
    >>> result = density_peaks(x)
    >>> result.n_clusters, int((result.labels[:60] == result.labels[0]).all())
    (2, 1)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from biomedai.errors import InvalidInputError

__all__ = ["DensityPeaksResult", "density_peaks", "cutoff_distance", "local_density", "nearest_denser"]


@dataclass
class DensityPeaksResult:
    """What :func:`density_peaks` found.

    Attributes
    ----------
        labels: cluster index per point (0 is the cluster of the densest point), -1 for noise.
        rho: local density per point.
        delta: distance to the nearest denser point (the densest point: its largest distance).
        nearest_denser: index of that point (-1 for the densest point).
        order: point indices from the densest to the sparsest.
        peaks: indices of the cluster centres, densest first (``labels[peaks[k]] == k``).
        gamma: ``rho_norm * delta_norm``, the peak score.
        gamma_threshold: the automatic peak threshold that was used.
        dc: the cut-off distance.
        halo: True where a point lies in its cluster's halo (border rule), all False if not asked for.
    """

    labels: np.ndarray
    rho: np.ndarray
    delta: np.ndarray
    nearest_denser: np.ndarray
    order: np.ndarray
    peaks: np.ndarray
    gamma: np.ndarray
    gamma_threshold: float
    dc: float
    halo: np.ndarray

    @property
    def n_clusters(self) -> int:
        """Number of clusters found."""
        return int(len(self.peaks))

    @property
    def densest_cluster(self) -> np.ndarray:
        """Boolean mask of the members of cluster 0 (the densest point's cluster), halo excluded."""
        return (self.labels == 0) & ~self.halo


def _points(x: np.ndarray) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise InvalidInputError(f"density_peaks needs an (n, d) array of points, got shape {arr.shape}")
    if len(arr) < 3:
        raise InvalidInputError(f"density_peaks needs at least 3 points, got {len(arr)}")
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError("density_peaks: points must be finite (no NaN or inf)")
    return arr


def cutoff_distance(distances: np.ndarray, percentile: float = 2.0) -> float:
    """The ``percentile``-th percentile of the off-diagonal pairwise distances (a square matrix).

    Example:
        >>> d = np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0.0]])
        >>> cutoff_distance(d, 50.0)
        2.0
    """
    if not 0 < percentile < 100:
        raise InvalidInputError(f"dc_percentile must be in (0, 100), got {percentile}")
    upper = distances[np.triu_indices(len(distances), k=1)]
    dc = float(np.percentile(upper, percentile))
    if dc <= 0:  # many duplicates: fall back to the smallest positive distance
        positive = upper[upper > 0]
        if not positive.size:
            raise InvalidInputError("density_peaks: all points are identical")
        dc = float(positive.min())
    return dc


def local_density(distances: np.ndarray, dc: float, kernel: Literal["gaussian", "cutoff"] = "gaussian") -> np.ndarray:
    """Local density of each point from a square distance matrix (the point itself not counted).

    Example:
        >>> d = np.array([[0, 1, 5], [1, 0, 5], [5, 5, 0.0]])
        >>> local_density(d, 2.0, "cutoff").tolist()
        [1.0, 1.0, 0.0]
    """
    if kernel == "gaussian":
        rho = np.exp(-((distances / dc) ** 2)).sum(axis=1) - 1.0
    elif kernel == "cutoff":
        rho = (distances < dc).sum(axis=1).astype(float) - 1.0
    else:
        raise InvalidInputError(f"kernel must be 'gaussian' or 'cutoff', got {kernel!r}")
    return rho


def nearest_denser(distances: np.ndarray, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(order, delta, nearest)``: descending-density order, distance to and index of the nearest denser point.

    "Denser" means earlier in the order (density descending, ties by index), so every point but the
    first has one. The first point gets ``delta = max_j d_ij`` and ``nearest = -1``.
    """
    n = len(rho)
    order = np.lexsort((np.arange(n), -rho))
    delta = np.empty(n)
    nearest = np.full(n, -1, dtype=int)
    first = order[0]
    delta[first] = distances[first].max()
    for rank in range(1, n):
        i = order[rank]
        earlier = order[:rank]
        k = int(np.argmin(distances[i, earlier]))
        nearest[i] = earlier[k]
        delta[i] = distances[i, earlier[k]]
    return order, delta, nearest


def _normalise(v: np.ndarray) -> np.ndarray:
    span = v.max() - v.min()
    return (v - v.min()) / span if span > 0 else np.zeros_like(v)


def density_peaks(x: np.ndarray, *, dc_percentile: float = 2.0, dc: float | None = None,
                  kernel: Literal["gaussian", "cutoff"] = "gaussian", n_sd: float = 2.0,
                  n_peaks: int | None = None, min_density: float | None = None, halo: bool = False,
                  standardise: bool = False) -> DensityPeaksResult:
    """Cluster points by density peaks, visiting them in descending density order.

    Args:
        x: ``(n, d)`` points.
        dc_percentile: percentile of the pairwise distances used as ``d_c`` (ignored if ``dc`` is given).
        dc: a fixed cut-off distance.
        kernel: ``"gaussian"`` or ``"cutoff"`` local density.
        n_sd: automatic peaks are points with ``gamma > mean(gamma) + n_sd * sd(gamma)``.
        n_peaks: take exactly this many peaks (highest gamma) instead of the automatic rule.
        min_density: points with ``rho`` below this are noise (label -1) and never become peaks.
        halo: mark each cluster's halo with Rodriguez-Laio's border-density rule.
        standardise: z-score each feature before measuring distances.

    Returns
    -------
        A :class:`DensityPeaksResult`; cluster 0 holds the densest point.

    Memory and time grow as ``n**2`` (a full distance matrix): fine for thousands of points.
    """
    from scipy.spatial.distance import pdist, squareform

    pts = _points(x)
    if standardise:
        sd = pts.std(axis=0)
        pts = (pts - pts.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    distances = squareform(pdist(pts))
    if dc is None:
        dc = cutoff_distance(distances, dc_percentile)
    elif not dc > 0:
        raise InvalidInputError(f"dc must be > 0, got {dc}")
    rho = local_density(distances, dc, kernel)
    order, delta, nearest = nearest_denser(distances, rho)
    gamma = _normalise(rho) * _normalise(delta)
    noise = rho < min_density if min_density is not None else np.zeros(len(rho), bool)
    candidates = np.flatnonzero(~noise)
    if n_peaks is not None:
        if n_peaks < 1:
            raise InvalidInputError(f"n_peaks must be >= 1, got {n_peaks}")
        threshold = float("nan")
        ranked = candidates[np.argsort(-gamma[candidates], kind="stable")]
        peak_set = set(ranked[:n_peaks].tolist())
    else:
        threshold = float(gamma.mean() + n_sd * gamma.std())
        peak_set = set(candidates[gamma[candidates] > threshold].tolist())
    peak_set.add(int(order[0]))
    peaks = np.array([i for i in order if i in peak_set], dtype=int)  # densest first
    labels = np.full(len(rho), -1, dtype=int)
    labels[peaks] = np.arange(len(peaks))
    for i in order:
        if labels[i] < 0 and not noise[i]:
            labels[i] = labels[nearest[i]]
    halo_mask = _halo(distances, rho, labels, dc) if halo else np.zeros(len(rho), bool)
    return DensityPeaksResult(labels=labels, rho=rho, delta=delta, nearest_denser=nearest, order=order,
                              peaks=peaks, gamma=gamma, gamma_threshold=threshold, dc=float(dc), halo=halo_mask)


def _halo(distances: np.ndarray, rho: np.ndarray, labels: np.ndarray, dc: float) -> np.ndarray:
    """Halo points by the Rodriguez-Laio border rule.

    Rodriguez-Laio border rule: a cluster's border density is the highest mean density of a pair of
    points closer than ``d_c`` that belong to it and to another cluster; members below it are halo.
    """
    n_clusters = labels.max() + 1
    border = np.zeros(max(n_clusters, 0))
    close = (distances < dc) & (labels[:, None] != labels[None, :]) & (labels[:, None] >= 0) & (labels[None, :] >= 0)
    for i, j in zip(*np.nonzero(close)):
        mean_rho = 0.5 * (rho[i] + rho[j])
        border[labels[i]] = max(border[labels[i]], mean_rho)
    halo = np.zeros(len(rho), bool)
    member = labels >= 0
    halo[member] = rho[member] < border[labels[member]]
    return halo
