"""Tumour ROI by spatial fuzzy C-means (Chuang et al. 2006) inside a seed box (spec 4.4 step 3).

FCM memberships ``u`` are re-weighted by their neighbourhood sum ``h`` (a 3x3x3 box):
``u'_k ~ u_k^p h_k^q``; the tumour is the brightest cluster's hard assignment, kept as the connected component
nearest the box centre, holes filled.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from biomedai.errors import InvalidInputError

logger = logging.getLogger(__name__)


@dataclass
class SfcmResult:
    """Hard labels (0 = background of the box, 1 = tumour) on the full grid, memberships and centroids."""

    mask: np.ndarray
    membership: np.ndarray
    centroids: np.ndarray
    iterations: int


def _box_slices(shape: tuple[int, ...], box: tuple[tuple[int, int], ...]) -> tuple[slice, ...]:
    if len(box) != len(shape):
        raise InvalidInputError(f"the seed box needs {len(shape)} (start, stop) pairs, got {len(box)}")
    out = []
    for (lo, hi), n in zip(box, shape):
        if not 0 <= lo < hi <= n:
            raise InvalidInputError(f"seed box {box} lies outside the volume of shape {shape}")
        out.append(slice(int(lo), int(hi)))
    return tuple(out)


def spatial_fcm(image: np.ndarray, seed_box: tuple[tuple[int, int], ...] | None = None, *, n_clusters: int = 2,
                fuzziness: float = 2.0, p: float = 1.0, q: float = 1.0, neighbourhood: int = 3,
                max_iterations: int = 100, tolerance: float = 1e-5, seed: int = 0) -> SfcmResult:
    """Spatial FCM of the voxels in ``seed_box`` (whole image when None); returns the tumour mask.

    Args:
        image: a 2-D or 3-D array (e.g. the chosen post-contrast phase or the subtraction image).
        seed_box: ``((z0, z1), (y0, y1), (x0, x1))`` index ranges around the lesion.
        n_clusters: clusters inside the box (2: lesion vs the rest; 3 adds a partial-enhancement class).
        fuzziness: FCM exponent m; p, q: the weights of membership and spatial function (Chuang et al.).
    """
    img = np.asarray(image, float)
    if img.ndim not in (2, 3):
        raise InvalidInputError(f"SFCM needs a 2-D or 3-D image, got {img.ndim}-D")
    if not np.all(np.isfinite(img)):
        raise InvalidInputError("the image to segment contains NaN or infinity")
    sl = _box_slices(img.shape, seed_box) if seed_box is not None else tuple(slice(0, n) for n in img.shape)
    x = img[sl]
    if x.size < 2 * n_clusters or np.ptp(x) == 0:
        raise InvalidInputError("the seed box is empty or flat: nothing to segment")
    if n_clusters < 2 or fuzziness <= 1:
        raise InvalidInputError("SFCM needs n_clusters >= 2 and fuzziness > 1")
    v = np.quantile(x, np.linspace(0.1, 0.9, n_clusters))
    u = _memberships(x, v, fuzziness)
    it = 0
    for it in range(1, max_iterations + 1):
        um = u ** fuzziness
        v_new = (um * x).reshape(n_clusters, -1).sum(1) / um.reshape(n_clusters, -1).sum(1)
        u = _memberships(x, v_new, fuzziness)
        h = np.stack([ndimage.uniform_filter(uk, size=neighbourhood, mode="nearest") for uk in u])
        w = u ** p * h ** q
        u = w / np.maximum(w.sum(0, keepdims=True), 1e-300)
        shift = np.max(np.abs(v_new - v))
        v = v_new
        if shift < tolerance * max(np.ptp(x), 1e-12):
            break
    order = np.argsort(v)
    u, v = u[order], v[order]
    hard = np.argmax(u, axis=0) == n_clusters - 1
    hard = _component_near_centre(hard)
    mask = np.zeros(img.shape, np.uint8)
    mask[sl] = hard
    logger.info("SFCM: %d clusters, centroids %s, %d iterations, %d tumour voxels", n_clusters,
                np.round(v, 3).tolist(), it, int(hard.sum()))
    return SfcmResult(mask, u, v, it)


def _memberships(x: np.ndarray, v: np.ndarray, m: float) -> np.ndarray:
    d = np.abs(x[None] - v.reshape((-1,) + (1,) * x.ndim)) + 1e-12
    inv = d ** (-2.0 / (m - 1))
    return inv / inv.sum(0, keepdims=True)


def _component_near_centre(mask: np.ndarray) -> np.ndarray:
    labels, n = ndimage.label(mask)
    if n == 0:
        return mask
    centre = np.array(mask.shape) / 2.0
    coms = np.array(ndimage.center_of_mass(mask, labels, range(1, n + 1)))
    sizes = ndimage.sum(mask, labels, range(1, n + 1))
    # the largest component, unless a component at least half its size lies nearer the box centre
    dist = np.linalg.norm(coms - centre, axis=1)
    candidates = np.flatnonzero(sizes >= 0.5 * sizes.max())
    keep = candidates[np.argmin(dist[candidates])] + 1
    return ndimage.binary_fill_holes(labels == keep)
