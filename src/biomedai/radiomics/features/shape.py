"""Shape features of the ROI (3D mesh-based and 2D), PyRadiomics definitions.

The mesh is marching cubes on the binary mask with vertices at edge midpoints. Its per-cube
triangles come from scikit-image's classic (Lorensen) marching cubes, built once for the 128
cube configurations without the (1, 1, 0) corner; the others use the complement with the
orientation flipped, which is the convention PyRadiomics uses. Surface area, mesh volume
(signed tetrahedra) and diameters are then computed for all cubes at once.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

_CORNERS = np.array([(z, y, x) for z in (0, 1) for y in (0, 1) for x in (0, 1)])
_FLIP_BIT = 6  # index of corner (1, 1, 0) in _CORNERS


@lru_cache(maxsize=1)
def _cube_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per configuration: triangles (padded, with counts), for the 128 configurations without the flip corner."""
    from skimage.measure import marching_cubes

    tris = []
    for c in range(256):
        if c == 0 or (c >> _FLIP_BIT) & 1:
            tris.append(np.zeros((0, 3, 3)))
            continue
        cube = np.zeros((2, 2, 2), dtype=np.float32)
        for k in range(8):
            if (c >> k) & 1:
                cube[tuple(_CORNERS[k])] = 1
        verts, faces, _, _ = marching_cubes(cube, 0.5, method="lorensen", allow_degenerate=True)
        tris.append(verts[faces].astype(float))
    n = np.array([len(t) for t in tris])
    table = np.zeros((256, max(n.max(), 1), 3, 3))
    for c, t in enumerate(tris):
        table[c, : len(t)] = t
    return table, n, np.array([(c >> _FLIP_BIT) & 1 for c in range(256)], dtype=bool)


def _cube_index(mask: np.ndarray) -> np.ndarray:
    z, y, x = (s - 1 for s in mask.shape)
    idx = np.zeros((z, y, x), dtype=np.int64)
    for k, (dz, dy, dx) in enumerate(_CORNERS):
        idx |= mask[dz:dz + z, dy:dy + y, dx:dx + x].astype(np.int64) << k
    return idx


def mesh_area_volume(mask: np.ndarray, spacing: np.ndarray) -> tuple[float, float]:
    """Surface area and enclosed volume of the marching-cubes mesh of a (zero-padded) binary mask."""
    table, n, flip = _cube_table()
    cidx = _cube_index(mask)
    area = 0.0
    volume = 0.0
    flat = cidx.ravel()
    surface_cubes = np.flatnonzero((flat != 0) & (flat != 255))
    order = surface_cubes[np.argsort(flat[surface_cubes], kind="stable")]
    present, starts, counts = np.unique(flat[order], return_index=True, return_counts=True)
    coords = np.stack(np.unravel_index(order, cidx.shape), axis=1).astype(float) * spacing
    for c, b, cnt in zip(present, starts, counts):
        base = 255 - c if flip[c] else c
        T = table[base, : n[base]] * spacing  # the configuration's triangles, in mm
        a, bb, cc = T[:, 0], T[:, 1], T[:, 2]
        cross = np.cross(bb - a, cc - a)
        area += 0.5 * np.linalg.norm(cross, axis=1).sum() * cnt
        # signed tetrahedra from the origin; a cube at offset p adds p . (sum of triangle normals)
        det = np.einsum("ij,ij->i", np.cross(a, bb), cc).sum()
        p_sum = coords[b:b + cnt].sum(axis=0)
        volume += (-1.0 if flip[c] else 1.0) * (det * cnt + p_sum @ cross.sum(axis=0))
    return float(area), float(abs(volume) / 6.0)


def _boundary_vertices(mask: np.ndarray) -> np.ndarray:
    """Midpoints of the edges between ROI and background voxels, in half-voxel units (2 * index)."""
    pts = []
    for axis in range(mask.ndim):
        lo = [slice(None)] * mask.ndim
        hi = [slice(None)] * mask.ndim
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        idx = np.argwhere(mask[tuple(lo)] != mask[tuple(hi)]) * 2
        idx[:, axis] += 1
        pts.append(idx)
    return np.concatenate(pts, axis=0)


def _max_distance(points: np.ndarray) -> float:
    """Largest pairwise Euclidean distance (convex hull first when there are many points)."""
    if len(points) < 2:
        return 0.0
    from scipy.spatial.distance import pdist

    if len(points) > 200:
        from scipy.spatial import ConvexHull, QhullError

        try:
            points = points[ConvexHull(points).vertices]
        except (QhullError, ValueError):
            pass
    if len(points) > 20000:  # degenerate hull of a huge set: fall back on a coarse but safe bound
        points = points[np.unique(np.concatenate([points.argmin(0), points.argmax(0)]))]
    return float(np.sqrt(pdist(points, "sqeuclidean").max()))


def diameters(mask: np.ndarray, spacing: np.ndarray) -> tuple[float, ...]:
    """Max 2D diameters in planes of equal z (slice), y (column), x (row), then the max 3D diameter."""
    half = _boundary_vertices(mask)
    phys = half * (np.asarray(spacing) / 2.0)
    out = []
    for axis in range(3):
        best = 0.0
        keys = half[:, axis]
        order = np.argsort(keys, kind="stable")
        splits = np.flatnonzero(np.diff(keys[order])) + 1
        for group in np.split(order, splits):
            if len(group) > 1:
                best = max(best, _max_distance(np.delete(phys[group], axis, axis=1)))
        out.append(best)
    out.append(_max_distance(phys))
    return tuple(out)


def _eigenvalues(roi: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    coords = np.argwhere(roi).astype(float) * np.asarray(spacing)[None, :]
    coords -= coords.mean(axis=0)
    coords /= np.sqrt(len(coords))
    ev = np.linalg.eigvals(coords.T @ coords)
    ev = np.where((ev < 0) & (ev > -1e-10), 0, ev)
    return np.sort(ev)


def _axis(ev: float) -> float:
    return float(np.sqrt(ev) * 4) if ev >= 0 else float("nan")


def features3d(roi: np.ndarray, spacing: np.ndarray, deprecated: bool = False) -> dict[str, float]:
    """3D shape features of a boolean ROI (numpy order) with ``spacing`` (z, y, x) in mm.

    Example:
        >>> f = features3d(np.ones((2, 2, 2), bool), np.ones(3))
        >>> f["VoxelVolume"], round(f["Maximum3DDiameter"], 4)
        (8.0, 2.4495)
    """
    spacing = np.asarray(spacing, dtype=float)
    mask = np.pad(roi, 1)
    area, volume = mesh_area_volume(mask, spacing)
    d_slice, d_col, d_row, d_3d = diameters(mask, spacing)
    ev = _eigenvalues(mask, spacing)
    n = int(roi.sum())
    out = {
        "MeshVolume": volume,
        "VoxelVolume": n * float(np.prod(spacing)),
        "SurfaceArea": area,
        "SurfaceVolumeRatio": area / volume,
        "Sphericity": (36 * np.pi * volume ** 2) ** (1.0 / 3.0) / area,
        "Maximum3DDiameter": d_3d,
        "Maximum2DDiameterSlice": d_slice,
        "Maximum2DDiameterColumn": d_col,
        "Maximum2DDiameterRow": d_row,
        "MajorAxisLength": _axis(ev[2]),
        "MinorAxisLength": _axis(ev[1]),
        "LeastAxisLength": _axis(ev[0]),
        "Elongation": float(np.sqrt(ev[1] / ev[2])) if ev[1] >= 0 and ev[2] > 0 else float("nan"),
        "Flatness": float(np.sqrt(ev[0] / ev[2])) if ev[0] >= 0 and ev[2] > 0 else float("nan"),
    }
    if deprecated:
        out["Compactness1"] = volume / (area ** 1.5 * np.sqrt(np.pi))
        out["Compactness2"] = 36 * np.pi * volume ** 2 / area ** 3
        out["SphericalDisproportion"] = area / (36 * np.pi * volume ** 2) ** (1.0 / 3.0)
    return {k: float(v) for k, v in out.items()}


def features2d(roi: np.ndarray, spacing: np.ndarray, deprecated: bool = False) -> dict[str, float]:
    """2D shape features of a boolean ROI (``[y, x]``) with ``spacing`` (y, x).

    The contour is marching squares with vertices at edge midpoints; a square with two
    diagonal corners inside holds two separate corner pieces.

    Example:
        >>> f = features2d(np.ones((2, 2), bool), np.ones(2))
        >>> f["PixelSurface"], f["MeshSurface"], round(f["Perimeter"], 4)
        (4.0, 3.5, 6.8284)
    """
    sy, sx = (float(s) for s in spacing)
    mask = np.pad(roi, 1).astype(np.int64)
    p0, p1 = mask[:-1, :-1], mask[:-1, 1:]
    p3, p2 = mask[1:, :-1], mask[1:, 1:]
    k = p0 + p1 + p2 + p3
    diagonal = (k == 2) & (p0 == p2)
    adjacent = (k == 2) & ~diagonal
    inside = np.select([k == 1, adjacent, diagonal, k == 3, k == 4], [0.125, 0.5, 0.25, 0.875, 1.0], 0.0)
    surface = float(inside.sum()) * sx * sy
    d_len = np.hypot(sx / 2, sy / 2)
    horizontal = adjacent & (p0 == p1)  # top pair vs bottom pair: a horizontal segment of length sx
    vertical = adjacent & ~horizontal
    perimeter = float(((k == 1) | (k == 3)).sum() * d_len + 2 * diagonal.sum() * d_len
                      + horizontal.sum() * sx + vertical.sum() * sy)
    half = _boundary_vertices(mask.astype(bool))
    phys = half * (np.array([sy, sx]) / 2.0)
    diameter = _max_distance(phys)
    ev = _eigenvalues(mask.astype(bool), np.array([sy, sx]))
    n = int(roi.sum())
    out = {
        "MeshSurface": surface,
        "PixelSurface": n * sx * sy,
        "Perimeter": perimeter,
        "PerimeterSurfaceRatio": perimeter / surface,
        "Sphericity": 2 * np.sqrt(np.pi * surface) / perimeter,
        "MaximumDiameter": diameter,
        "MajorAxisLength": _axis(ev[1]),
        "MinorAxisLength": _axis(ev[0]),
        "Elongation": float(np.sqrt(ev[0] / ev[1])) if ev[0] >= 0 and ev[1] > 0 else float("nan"),
    }
    if deprecated:
        out["SphericalDisproportion"] = 1.0 / out["Sphericity"]
    return {k: float(v) for k, v in out.items()}
