"""From detected boxes to polylines (spec 4.3 inference post-processing):

1. neighbour linking: box centres closer than ``link_radius`` box sides become candidate edges;
2. contour check: an edge survives only if the straight segment between the centres stays on the vessel
   foreground (an adaptive threshold of the preprocessed plane, i.e. inside the same contour) for at least
   ``min_fraction`` of its samples; this removes links suggested by proximity alone;
3. Kruskal minimum spanning tree (``scipy.sparse.csgraph.minimum_spanning_tree``) on the Euclidean edge
   lengths removes the cycles that linking created;
4. optional gap bridging (beyond the paper): an end of a tree is joined to the nearest node of another tree
   within ``end_link_radius`` box sides (Kruskal again, so no cycles), if the segment passes the contour check
   at ``end_min_fraction``; detections of thin vessels are sparse, and their trees break into pieces;
5. the forest is cut at its end and branch nodes into polylines, whose lengths sum to the vessel length.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .polylines import Polyline, PolylineSet


def vessel_foreground(x: np.ndarray, sigma: float = 8.0, offset: float = 0.02) -> np.ndarray:
    """Adaptive-threshold foreground of a plane whose vessels are bright (the contour check's image)."""
    x = np.asarray(x, np.float32)
    return x > ndi.gaussian_filter(x, sigma) + offset


def neighbour_edges(centres: np.ndarray, radius: float) -> np.ndarray:
    """Index pairs ``(i, j)``, i < j, of centres within ``radius`` of each other."""
    from scipy.spatial import cKDTree

    if len(centres) < 2:
        return np.zeros((0, 2), int)
    pairs = cKDTree(centres).query_pairs(radius, output_type="ndarray")
    return np.asarray(pairs, int).reshape(-1, 2)


def contour_check(centres: np.ndarray, edges: np.ndarray, foreground: np.ndarray, min_fraction: float = 0.8,
                  samples: int = 16) -> np.ndarray:
    """Keep the edges whose segment lies on ``foreground`` for at least ``min_fraction`` of ``samples`` points
    strictly between its ends."""
    if len(edges) == 0:
        return edges
    h, w = foreground.shape
    t = (np.arange(1, samples + 1) / (samples + 1))[None, :, None]
    a, b = centres[edges[:, 0]][:, None, :], centres[edges[:, 1]][:, None, :]
    pts = a + t * (b - a)
    xs = np.clip(np.round(pts[..., 0]).astype(int), 0, w - 1)
    ys = np.clip(np.round(pts[..., 1]).astype(int), 0, h - 1)
    return edges[foreground[ys, xs].mean(axis=1) >= min_fraction]


def spanning_forest(centres: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Edges of the minimum spanning forest (Kruskal, Euclidean weights) of the linked graph."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import minimum_spanning_tree

    n = len(centres)
    if len(edges) == 0:
        return np.zeros((0, 2), int)
    weights = np.hypot(*(centres[edges[:, 0]] - centres[edges[:, 1]]).T) + 1e-9
    graph = coo_matrix((weights, (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
    tree = minimum_spanning_tree(graph).tocoo()
    return np.stack([tree.row, tree.col], axis=1).astype(int)


def bridge_ends(centres: np.ndarray, tree: np.ndarray, radius: float, foreground: np.ndarray | None = None,
                min_fraction: float = 0.0) -> np.ndarray:
    """Edges that join end nodes (degree <= 1) of the forest ``tree`` to the nearest nodes of other trees.

    Candidates are the pairs (end, node) closer than ``radius`` whose segment passes :func:`contour_check`
    at ``min_fraction`` (no check without ``foreground``); they are added shortest first while they join two
    different trees, so the result stays a forest.

    Example:
        >>> c = np.array([[0.0, 0], [10, 0], [30, 0], [40, 0]])
        >>> bridge_ends(c, np.array([[0, 1], [2, 3]]), radius=25).tolist()
        [[1, 2]]
    """
    from scipy.spatial import cKDTree

    n = len(centres)
    if n < 2 or radius <= 0:
        return np.zeros((0, 2), int)
    tree = np.asarray(tree, int).reshape(-1, 2)
    degree = np.bincount(tree.ravel(), minlength=n)
    ends = np.flatnonzero(degree <= 1)
    if ends.size == 0:
        return np.zeros((0, 2), int)
    neighbours = cKDTree(centres).query_ball_point(centres[ends], radius)
    pairs = np.array([(min(e, j), max(e, j)) for e, near in zip(ends, neighbours) for j in near if j != e], int)
    if pairs.size == 0:
        return np.zeros((0, 2), int)
    pairs = np.unique(pairs, axis=0)
    if foreground is not None:
        pairs = contour_check(centres, pairs, foreground, min_fraction)
    parent = np.arange(n)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in tree:
        parent[root(i)] = root(j)
    added = []
    for k in np.argsort(np.hypot(*(centres[pairs[:, 0]] - centres[pairs[:, 1]]).T), kind="stable"):
        i, j = pairs[k]
        ri, rj = root(int(i)), root(int(j))
        if ri != rj:
            parent[ri] = rj
            added.append((int(i), int(j)))
    return np.asarray(added, int).reshape(-1, 2)


def forest_to_polylines(centres: np.ndarray, edges: np.ndarray) -> list[np.ndarray]:
    """Cut a forest into chains between nodes of degree != 2; each chain is an ``(n, 2)`` array of centres."""
    n = len(centres)
    adj: list[list[int]] = [[] for _ in range(n)]
    for i, j in edges:
        adj[i].append(int(j))
        adj[j].append(int(i))
    used: set[tuple[int, int]] = set()
    chains = []
    starts = [v for v in range(n) if len(adj[v]) not in (0, 2)]
    for s in starts:
        for nxt in adj[s]:
            if (s, nxt) in used:
                continue
            chain, prev, cur = [s], s, nxt
            used.update({(s, nxt), (nxt, s)})
            while len(adj[cur]) == 2:
                chain.append(cur)
                step = adj[cur][0] if adj[cur][0] != prev else adj[cur][1]
                used.update({(cur, step), (step, cur)})
                prev, cur = cur, step
            chain.append(cur)
            chains.append(centres[chain])
    return chains


def link_detections(boxes: np.ndarray, plane_bright: np.ndarray, *, box_size: float, link_radius: float = 1.5,
                    min_fraction: float = 0.8, image: str = "", foreground: np.ndarray | None = None,
                    end_link_radius: float = 0.0, end_min_fraction: float = 0.0
                    ) -> tuple[PolylineSet, dict[str, int]]:
    """Boxes ``(x0, y0, x1, y1[, score])`` -> polylines by linking, contour check and MST (then, with
    ``end_link_radius`` > 0 box sides, :func:`bridge_ends`); plus edge counts.

    Example:
        >>> xs = np.arange(4, 60, 6.0)
        >>> boxes = np.stack([xs - 4, np.full_like(xs, 16), xs + 4, np.full_like(xs, 24)], axis=1)
        >>> img = np.zeros((40, 64), np.float32); img[18:23, :] = 1
        >>> lines, counts = link_detections(boxes, img, box_size=8, link_radius=1.6)
        >>> round(lines.vessel_length_px(), 1), counts["mst_edges"]
        (54.0, 9)
    """
    centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1) \
        if len(boxes) else np.zeros((0, 2))
    candidates = neighbour_edges(centres, link_radius * box_size)
    fg = vessel_foreground(plane_bright) if foreground is None else foreground
    checked = contour_check(centres, candidates, fg, min_fraction)
    tree = spanning_forest(centres, checked)
    bridges = bridge_ends(centres, tree, end_link_radius * box_size, fg, end_min_fraction)
    lines = [Polyline(c) for c in forest_to_polylines(centres, np.concatenate([tree, bridges]))]
    counts = {"detections": int(len(centres)), "candidate_edges": int(len(candidates)),
              "edges_after_contour_check": int(len(checked)), "mst_edges": int(len(tree)),
              "bridged_ends": int(len(bridges))}
    return PolylineSet(image, tuple(plane_bright.shape), lines), counts
