"""3-class targets from instance masks, and instances from 3-class probability maps.

Classes: 0 background, 1 inside (the nucleus eroded), 2 boundary (the band between the dilated and the
eroded nucleus, which also separates touching nuclei), as FullNet / Han-Net.

Instances (He et al., spec 3.5): only the *inside* class is used. Its connected components (holes
filled, objects smaller than ``min_size`` removed) are the seeds; each seed is grown back by
``dilation_radius`` pixels (the morphological gradient band that the erosion took away), never into
another nucleus, and optionally only where the network says "not background". The alternative
``method="watershed"`` floods ``1 - p_inside`` from the same seeds, within ``dilation_radius`` of a seed
and inside the predicted foreground, so contested pixels go to the side the network favours.
``method="distance"`` splits seeds that hold several nuclei at the h-maxima of their distance transform
before growing them (our addition; see README, decision 7).
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import ndimage as ndi

from biomedai.errors import InvalidInputError

BACKGROUND, INSIDE, BOUNDARY = 0, 1, 2
CLASS_NAMES = ("background", "inside", "boundary")


def _disk(radius: int) -> np.ndarray:
    r = int(radius)
    yy, xx = np.mgrid[-r: r + 1, -r: r + 1]
    return (yy * yy + xx * xx) <= r * r


def check_instance_labels(labels: np.ndarray, name: str = "label map") -> np.ndarray:
    """A 2D non-negative integer label map (gaps in ids are fine); returns it as int64."""
    labels = np.asarray(labels)
    if labels.ndim == 3 and labels.shape[-1] in (3, 4):
        raise InvalidInputError(f"{name} is an RGB(A) image {labels.shape}; instance labels must be one "
                                "integer channel (0 = background, 1..N = nuclei, e.g. a 16-bit PNG)")
    if labels.ndim != 2:
        raise InvalidInputError(f"{name} must be 2D, got shape {labels.shape}")
    if labels.dtype.kind not in "iub":
        if labels.dtype.kind == "f" and np.all(np.mod(labels, 1) == 0):
            labels = labels.astype(np.int64)
        else:
            raise InvalidInputError(f"{name} must hold integer instance ids, got {labels.dtype}")
    if labels.dtype.kind == "i" and labels.size and labels.min() < 0:
        raise InvalidInputError(f"{name} has negative ids")
    return labels.astype(np.int64, copy=False)


def three_class_targets(labels: np.ndarray, radius: int = 1) -> np.ndarray:
    """uint8 map: 1 where a pixel and all its neighbours within ``radius`` belong to the same nucleus
    (inside), 2 on the band up to ``radius`` pixels around it (boundary), 0 elsewhere.

    Ids need not be consecutive; touching nuclei get a boundary between them.

    >>> lab = np.zeros((7, 9), int); lab[1:6, 1:4] = 1; lab[1:6, 4:8] = 5
    >>> three_class_targets(lab)[3].tolist()
    [2, 2, 1, 2, 2, 1, 1, 2, 2]
    """
    labels = check_instance_labels(labels)
    if radius < 1:
        raise InvalidInputError(f"boundary radius must be >= 1, got {radius}")
    foot = _disk(radius)
    lo = ndi.minimum_filter(labels, footprint=foot, mode="nearest")
    hi = ndi.maximum_filter(labels, footprint=foot, mode="nearest")
    inside = (labels > 0) & (lo == hi)
    near = ndi.binary_dilation(labels > 0, structure=foot)
    out = np.zeros(labels.shape, np.uint8)
    out[near] = BOUNDARY
    out[inside] = INSIDE
    return out


def _check_probs(probs: np.ndarray) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float32)
    if probs.ndim != 3 or probs.shape[0] != 3:
        raise InvalidInputError(f"probabilities must have shape (3, y, x), got {probs.shape}")
    return probs


def remove_small_objects(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Zero every label with fewer than ``min_size`` pixels (in place on a copy)."""
    if min_size <= 1 or not labels.any():
        return labels
    counts = np.bincount(labels.ravel())
    small = counts < min_size
    small[0] = False
    out = labels.copy()
    out[small[labels]] = 0
    return out


def relabel_sequential(labels: np.ndarray) -> np.ndarray:
    """Ids 1..N in order of first appearance (row-major); dtype uint16 when N < 65536, else uint32."""
    ids = np.unique(labels)
    ids = ids[ids > 0]
    lut = np.zeros(int(labels.max()) + 1 if labels.size else 1, dtype=np.uint32)
    lut[ids] = np.arange(1, ids.size + 1, dtype=np.uint32)
    out = lut[labels]
    return out.astype(np.uint16) if ids.size < 65536 else out


def split_touching_seeds(seeds: np.ndarray, h: float = 1.0, sigma: float = 1.0) -> np.ndarray:
    """Split seed components that hold several nuclei: a marker watershed of the (Gaussian-smoothed)
    distance transform of the seed mask, markers at its ``h``-maxima (the classical baseline's rule,
    applied to the network's inside class). Returns new labels; a convex seed stays one object.

    >>> m = np.zeros((20, 40), int); yy, xx = np.ogrid[:20, :40]
    >>> m[((yy - 10) ** 2 + (xx - 12) ** 2 <= 49) | ((yy - 10) ** 2 + (xx - 26) ** 2 <= 49)] = 1
    >>> int(split_touching_seeds(m).max())
    2
    """
    from skimage.morphology import h_maxima
    from skimage.segmentation import watershed

    mask = seeds > 0
    if not mask.any():
        return seeds
    dist = ndi.distance_transform_edt(mask)
    if sigma > 0:
        dist = ndi.gaussian_filter(dist, sigma)
    markers, _ = ndi.label(h_maxima(dist, h) & mask)
    return watershed(-dist, markers, mask=mask)


def instances_from_probabilities(probs: np.ndarray,
                                 method: Literal["morphological", "watershed", "distance"] = "morphological",
                                 min_size: int = 20, dilation_radius: int = 1, threshold: float = 0.5,
                                 clip_to_foreground: bool = True, split_h: float = 1.0,
                                 split_sigma: float = 1.0) -> np.ndarray:
    """Instance labels (uint16/uint32, 0 = background) from a ``(3, y, x)`` probability map.

    ``method="distance"`` first splits seed components that hold several nuclei (a network that has not
    learnt every thin boundary merges touching nuclei) with :func:`split_touching_seeds` (``split_h``,
    ``split_sigma``), then grows them as ``"morphological"`` does.

    ``min_size`` (pixels) applies to the inside seeds and to the final objects. ``dilation_radius`` should
    equal the ``radius`` of :func:`three_class_targets` (the width the erosion took away); a larger value
    inflates every nucleus.

    >>> p = np.zeros((3, 20, 20), np.float32); p[0] = 1
    >>> p[:, 4:12, 4:12] = 0; p[1, 5:11, 5:11] = 1; p[2, 4:12, 4:12] += 1 - p[1, 4:12, 4:12]
    >>> lab = instances_from_probabilities(p, min_size=5, dilation_radius=2)
    >>> int(lab.max()), int((lab == 1).sum())
    (1, 64)
    """
    probs = _check_probs(probs)
    inside = probs[INSIDE] > threshold
    inside = ndi.binary_fill_holes(inside)
    seeds, _ = ndi.label(inside)
    seeds = remove_small_objects(seeds, min_size)
    foreground = probs[BACKGROUND] < threshold if clip_to_foreground else None
    if method == "distance":
        seeds = split_touching_seeds(seeds, split_h, split_sigma)
    if method in ("morphological", "distance"):
        from skimage.segmentation import expand_labels

        grown = expand_labels(seeds, distance=dilation_radius) if dilation_radius > 0 else seeds
        if foreground is not None:
            grown = np.where(foreground | (seeds > 0), grown, 0)
    elif method == "watershed":
        from skimage.segmentation import expand_labels, watershed

        mask = expand_labels(seeds, distance=max(dilation_radius, 1)) > 0
        if foreground is not None:
            mask &= foreground | (seeds > 0)
        grown = watershed(1.0 - probs[INSIDE], markers=seeds, mask=mask)
    else:
        raise InvalidInputError("post-processing method must be 'morphological', 'watershed' or 'distance', "
                                f"got {method!r}")
    grown = remove_small_objects(grown, min_size)
    return relabel_sequential(grown)
