"""Skeleton-graph measures of a binary vessel mask (skan): length density and the AngioTool measures.

Lengths are summed along the skeleton's branches (``skan`` branch distances, so diagonal steps count
sqrt(2)); with a pixel size they are in mm and the density in mm/mm^2 (mm/mm^3 for a 3-D mask),
without one in pixels (px/px^2). The area is the field of view's.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage as ndi


def clean_mask(mask: np.ndarray, min_object_px: int = 30) -> np.ndarray:
    """Drop connected objects smaller than ``min_object_px`` (8-/26-connected)."""
    from skimage.morphology import remove_small_objects

    mask = np.asarray(mask, bool)
    if min_object_px <= 1 or not mask.any():
        return mask
    return remove_small_objects(mask, max_size=min_object_px - 1, connectivity=mask.ndim)


def skeleton_of(mask: np.ndarray) -> np.ndarray:
    """The one-pixel-wide centreline of a 2-D or 3-D mask."""
    from skimage.morphology import skeletonize

    return skeletonize(np.asarray(mask, bool)).astype(bool)


def prune_spurs(skeleton: np.ndarray, max_length: float, *, spacing: float | Sequence[float] | None = None,
                passes: int = 2) -> np.ndarray:
    """Remove terminal branches (junction to end point) shorter than ``max_length`` from a skeleton.

    Noisy masks, 3-D ones above all, skeletonise into many short side branches that add length no
    observer would trace. A branch whose one end is an end point and the other a junction is cut when
    its length (in the units of ``spacing``, pixels without it) is below ``max_length``; the junction
    pixel stays. Removing spurs can leave new short terminal branches, hence ``passes``. Isolated
    segments (end point to end point) are kept: small objects are :func:`clean_mask`'s job.

    Examples
    --------
    >>> s = np.zeros((20, 40), bool); s[10, 2:38] = True; s[4:10, 20] = True   # a line with a 6 px spur
    >>> int(s.sum()), int(prune_spurs(s, 8).sum())
    (42, 36)
    """
    from skan import Skeleton, summarize

    skel = np.asarray(skeleton, bool).copy()
    if max_length <= 0:
        return skel
    sp = 1.0 if spacing is None else np.broadcast_to(np.asarray(spacing, float), (skel.ndim,)).astype(float)
    for _ in range(max(int(passes), 1)):
        if (skel & (_degree_image(skel) > 0)).sum() < 3:
            break
        graph = Skeleton(skel & (_degree_image(skel) > 0), spacing=sp)
        table = summarize(graph, separator="_")
        spurs = np.flatnonzero((table["branch_type"].to_numpy() == 1)
                               & (table["branch_distance"].to_numpy(float) < max_length))
        if spurs.size == 0:
            break
        degree = _degree_image(skel)
        for index in spurs:
            coords = np.round(graph.path_coordinates(int(index))).astype(int)
            junction = coords[0] if degree[tuple(coords[0])] >= 3 else coords[-1]
            skel[tuple(coords.T)] = False
            if not _neighbours_connected(skel, junction):  # the junction pixel joins the rest: keep it
                skel[tuple(junction)] = True
    return skel


def _neighbours_connected(skel: np.ndarray, centre: np.ndarray) -> bool:
    """Whether the skeleton pixels around ``centre`` (its 3x3(x3) window, centre excluded) form one component."""
    window = tuple(slice(max(c - 1, 0), c + 2) for c in centre)
    local = skel[window].copy()
    local[tuple(c - w.start for c, w in zip(centre, window))] = False
    if not local.any():
        return True
    return int(ndi.label(local, structure=np.ones((3,) * skel.ndim))[1]) == 1


def lacunarity(mask: np.ndarray, box_sizes: Sequence[int] = (2, 4, 8, 16, 32, 64)) -> float:
    """Mean gliding-box lacunarity E[M^2]/E[M]^2 over ``box_sizes`` (AngioTool's 'mean E lacunarity').

    Example:
        >>> round(lacunarity(np.ones((64, 64), bool), (2, 4)), 6)
        1.0
    """
    m = np.asarray(mask, np.float64)
    values = []
    for r in box_sizes:
        if r > min(m.shape):
            break
        sums = ndi.uniform_filter(m, size=r, mode="constant") * r ** m.ndim
        crop = tuple(slice(r // 2, s - (r - 1 - r // 2)) for s in m.shape)  # boxes fully inside the image
        box = sums[crop]
        mean = box.mean()
        if mean > 0:
            values.append(float((box ** 2).mean() / mean ** 2))
    return float(np.mean(values)) if values else float("nan")


def _count_clusters(points: np.ndarray) -> int:
    return int(ndi.label(points, structure=np.ones((3,) * points.ndim))[1]) if points.any() else 0


def skeleton_measures(mask: np.ndarray, *, spacing: float | Sequence[float] | None = None,
                      area_mask: np.ndarray | None = None, skeleton: np.ndarray | None = None,
                      spur_length_px: float = 0.0) -> dict[str, Any]:
    """Length density and AngioTool-style measures of a binary vessel mask.

    Args:
        mask: 2-D or 3-D boolean vessel mask.
        spacing: pixel size in micrometres (scalar or per axis); None keeps pixels.
        area_mask: the field of view (default: the whole image) whose area is the denominator.
        skeleton: a precomputed centreline (default: skeletonise ``mask``).
        spur_length_px: terminal branches shorter than this many pixels are pruned first
            (:func:`prune_spurs`; 0 keeps every branch).

    Returns a dict: ``total_length``, ``length_density``, ``vessel_area_fraction``, ``junctions``,
    ``end_points``, ``branches``, ``mean_branch_length``, ``tortuosity``, ``lacunarity``, ``length_unit``,
    ``density_unit``.

    Example:
        >>> m = np.zeros((50, 50), bool); m[25, 5:45] = True
        >>> r = skeleton_measures(m)
        >>> r["total_length"], r["end_points"], r["junctions"]
        (39.0, 2, 0)
    """
    from skan import Skeleton, summarize

    mask = np.asarray(mask, bool)
    ndim = mask.ndim
    area = np.ones(mask.shape, bool) if area_mask is None else np.asarray(area_mask, bool)
    skel = skeleton_of(mask) if skeleton is None else np.asarray(skeleton, bool)
    skel &= area if area.shape == skel.shape else skel
    if spur_length_px > 0:
        skel = prune_spurs(skel, spur_length_px)
    if spacing is None:
        sp_um = np.ones(ndim)
        to_len, len_unit = 1.0, "px"
    else:
        sp_um = np.broadcast_to(np.asarray(spacing, float), (ndim,)).astype(float)
        to_len, len_unit = 1e-3, "mm"  # micrometres -> mm
    voxel = float(np.prod(sp_um)) * to_len ** ndim
    fov_size = float(area.sum()) * voxel
    result: dict[str, Any] = {
        "length_unit": len_unit, "density_unit": f"{len_unit}/{len_unit}^{ndim}",
        "fov_area": fov_size, "vessel_area_fraction": float((mask & area).sum()) / max(float(area.sum()), 1.0),
        "lacunarity": lacunarity(mask & area) if ndim == 2 else float("nan"),
        "total_length": 0.0, "length_density": 0.0, "junctions": 0, "end_points": 0, "branches": 0,
        "mean_branch_length": float("nan"), "tortuosity": float("nan")}
    skel = skel & (_degree_image(skel) > 0)   # isolated pixels have no length, and skan fails on them alone
    if skel.sum() < 2:
        return result
    graph = Skeleton(skel, spacing=sp_um * to_len)
    branches = summarize(graph, separator="_")
    lengths = branches["branch_distance"].to_numpy(float)
    chord = branches["euclidean_distance"].to_numpy(float)
    non_cycle = (branches["branch_type"].to_numpy() != 3) & (chord > 0)
    degree_image = _degree_image(skel)
    total = float(lengths.sum())
    result.update({
        "total_length": total, "length_density": total / fov_size if fov_size else float("nan"),
        "junctions": _count_clusters(degree_image >= 3), "end_points": int((degree_image == 1).sum()),
        "branches": int(len(lengths)), "mean_branch_length": float(lengths.mean()),
        "tortuosity": float(np.mean(lengths[non_cycle] / chord[non_cycle])) if non_cycle.any() else float("nan")})
    return result


def _degree_image(skel: np.ndarray) -> np.ndarray:
    """Number of skeleton neighbours of each skeleton pixel (full connectivity)."""
    kernel = np.ones((3,) * skel.ndim, np.int32)
    kernel[(1,) * skel.ndim] = 0
    return ndi.convolve(skel.astype(np.int32), kernel, mode="constant") * skel
