"""Hip geometry (Yang et al. 2020, Eqs. 1-3; spec ``xray-ct.md`` 1.3-1.4): landmarks and the CE, Sharp and Tönnis angles.

Coordinates are image pixels ``(x, y)`` (x to the right, y down). Every measurement is made in
physical units: x is multiplied by the column spacing and y by the row spacing, so films whose rows
and columns differ in spacing give the right angles. Landmark letters follow the spec's renamed
scheme: ``H`` head centre, ``D`` uppermost and ``E`` most lateral head point, ``F`` second crossing of
the line E->T with the head, ``T`` teardrop (acetabular lower edge), ``L`` lateral acetabular edge,
``S`` sourcil medial edge, ``C`` a point on the cranial perpendicular through ``H``.

"Uppermost" and "lateral" are measured in the film's own anatomical frame (the lateral direction of a
side points from the other side's teardrop to this side's, cranial is perpendicular to it, towards
the acetabulum and away from the femur), so mirrored and rotated films give the same angles.

Example:
    >>> marks = {"right": dict(H=(100, 200), L=(80, 160), T=(130, 230), S=(110, 166)),
    ...          "left": dict(H=(300, 200), L=(320, 160), T=(270, 230), S=(290, 166))}
    >>> a = angles_from_landmarks(marks)["right"]
    >>> round(a["ce"], 2), round(a["sharp"], 2), round(a["tonnis"], 2)
    (26.57, 54.46, 11.31)
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

SIDES = ("right", "left")
CONTOURS = ("acetabulum", "femoral_head", "proximal_femur")
POINTS = ("sourcil_medial", "lateral_edge", "teardrop")
REQUIRED = ("acetabulum", "femoral_head", "sourcil_medial")
#: clinical plausibility ranges (degrees) for QC flags; adult reference values in spec 1.4 widened generously
PLAUSIBLE = {"ce": (-40.0, 75.0), "sharp": (20.0, 65.0), "tonnis": (-25.0, 45.0)}


class GeometryError(InvalidInputError):
    """A landmark cannot be computed from the drawn shapes (the message names the side and the structure)."""


# --------------------------------------------------------------------------------------------- circles
def circle_through(p1: Any, p2: Any, p3: Any, tol: float = 1e-9) -> tuple[np.ndarray, float] | None:
    """Centre and radius of the circle through three points (the paper's head centre), or None if collinear.

    Example:
        >>> c, r = circle_through((1, 0), (0, 1), (-1, 0))
        >>> np.round(c, 6).tolist(), round(r, 6)
        ([0.0, 0.0], 1.0)
    """
    (x1, y1), (x2, y2), (x3, y3) = (np.asarray(p, float) for p in (p1, p2, p3))
    den = 2.0 * (x1 * (y2 - y3) + x2 * (y3 - y1) + x3 * (y1 - y2))
    scale = max(np.ptp([x1, x2, x3]), np.ptp([y1, y2, y3]), 1e-300) ** 2
    if abs(den) <= tol * scale:
        return None
    s1, s2, s3 = x1 * x1 + y1 * y1, x2 * x2 + y2 * y2, x3 * x3 + y3 * y3
    hx = (s1 * (y2 - y3) + s2 * (y3 - y1) + s3 * (y1 - y2)) / den
    hy = (s1 * (x3 - x2) + s2 * (x1 - x3) + s3 * (x2 - x1)) / den
    centre = np.array([hx, hy])
    return centre, float(np.hypot(x1 - hx, y1 - hy))


def fit_circle(points: Any) -> tuple[np.ndarray, float]:
    """Least-squares (Kåsa) circle fit to ``(n, 2)`` points: ``(centre, radius)``.

    Example:
        >>> t = np.linspace(0, np.pi, 20)
        >>> c, r = fit_circle(np.c_[5 + 2 * np.cos(t), -1 + 2 * np.sin(t)])
        >>> np.round(c, 6).tolist(), round(r, 6)
        ([5.0, -1.0], 2.0)
    """
    pts = np.asarray(points, float)
    if len(pts) < 3:
        raise GeometryError(f"a circle fit needs at least 3 points, got {len(pts)}")
    mean = pts.mean(axis=0)
    x, y = (pts - mean).T
    a = np.c_[x, y, np.ones_like(x)]
    b = x * x + y * y
    sol, _, rank, _ = np.linalg.lstsq(a, b, rcond=None)
    if rank < 3:
        raise GeometryError("the points are collinear; no circle fits them")
    cx, cy = sol[0] / 2, sol[1] / 2
    r = math.sqrt(max(sol[2] + cx * cx + cy * cy, 0.0))
    return np.array([cx, cy]) + mean, r


# --------------------------------------------------------------------------------------------- polylines
def polyline_segments(points: np.ndarray, closed: bool) -> np.ndarray:
    """``(m, 2, 2)`` segments of a polyline (closed adds the last->first segment)."""
    pts = np.asarray(points, float)
    ends = np.roll(pts, -1, axis=0)
    segs = np.stack([pts, ends], axis=1)
    return segs if closed else segs[:-1]


def is_self_intersecting(points: Any, closed: bool = True) -> bool:
    """True when two non-adjacent segments of the polyline cross.

    Example:
        >>> is_self_intersecting([(0, 0), (2, 2), (2, 0), (0, 2)])
        True
        >>> is_self_intersecting([(0, 0), (2, 0), (2, 2), (0, 2)])
        False
    """
    segs = polyline_segments(np.asarray(points, float), closed)
    m = len(segs)
    if m < 3:
        return False
    p, q = segs[:, 0], segs[:, 1]

    def orient(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
        return (b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0])

    i, j = np.triu_indices(m, k=2)
    if closed:
        keep = ~((i == 0) & (j == m - 1))
        i, j = i[keep], j[keep]
    d1 = orient(p[j], q[j], p[i])
    d2 = orient(p[j], q[j], q[i])
    d3 = orient(p[i], q[i], p[j])
    d4 = orient(p[i], q[i], q[j])
    return bool(np.any((d1 * d2 < 0) & (d3 * d4 < 0)))


def segment_polyline_crossings(a: np.ndarray, b: np.ndarray, points: np.ndarray, closed: bool) -> list[np.ndarray]:
    """Points where the segment a->b crosses the polyline (touching counts)."""
    out = []
    d = b - a
    for p, q in polyline_segments(points, closed):
        e = q - p
        den = d[0] * e[1] - d[1] * e[0]
        if abs(den) < 1e-12:
            continue
        w = p - a
        t = (w[0] * e[1] - w[1] * e[0]) / den
        u = (w[0] * d[1] - w[1] * d[0]) / den
        if -1e-9 <= t <= 1 + 1e-9 and -1e-9 <= u <= 1 + 1e-9:
            out.append(a + t * d)
    return out


def inflection_indices(points: np.ndarray, sigma: float = 2.5) -> np.ndarray:
    """Indices where the signed curvature of the (Gaussian-smoothed, open) polyline changes sign."""
    from scipy.ndimage import gaussian_filter1d

    pts = np.asarray(points, float)
    if len(pts) < 5:
        return np.zeros(0, int)
    sm = gaussian_filter1d(pts, sigma, axis=0, mode="nearest")
    d1 = np.gradient(sm, axis=0)
    d2 = np.gradient(d1, axis=0)
    k = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
    sign = np.sign(k)
    edge = max(int(round(2 * sigma)), 1)
    idx = np.flatnonzero(sign[:-1] * sign[1:] < 0)
    return idx[(idx >= edge) & (idx < len(pts) - edge)]


# --------------------------------------------------------------------------------------------- frames
def _unit(v: np.ndarray, what: str) -> np.ndarray:
    norm = float(np.hypot(*v))
    if norm < 1e-12:
        raise GeometryError(f"{what} has zero length (two landmarks coincide)")
    return v / norm


def _angle(u: np.ndarray, v: np.ndarray) -> float:
    c = float(np.dot(u, v) / (np.hypot(*u) * np.hypot(*v)))
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


def cranial_normal(axis: np.ndarray, cranial_hint: np.ndarray | None = None) -> np.ndarray:
    """Unit normal to ``axis``: towards ``cranial_hint`` when given, else with negative y (up in the image)."""
    n = np.array([axis[1], -axis[0]], float)
    n = _unit(n, "the reference line")
    if cranial_hint is not None and float(np.dot(cranial_hint, cranial_hint)) > 0:
        return n if float(np.dot(n, cranial_hint)) >= 0 else -n
    return n if n[1] <= 0 else -n


# --------------------------------------------------------------------------------------------- angles
def angles_from_landmarks(marks: Mapping[str, Mapping[str, Any]], spacing: tuple[float, float] = (1.0, 1.0), *,
                          ce_reference: str = "inter_head", cranial_hint: Any = None,
                          signed: bool = True) -> dict[str, dict[str, Any]]:
    """CE (Eq. 1), Sharp (Eq. 2) and Tönnis (Eq. 3) angles per side from the points ``H, L, T, S``.

    Args:
        marks: ``{"right": {"H": (x, y), "L": ..., "T": ..., "S": ...}, "left": {...}}`` in pixels.
        spacing: ``(row, column)`` pixel spacing; only its ratio matters for angles.
        ce_reference: ``"inter_head"`` (the paper: perpendicular to H1H2) or ``"inter_teardrop"``.
        cranial_hint: a vector pointing cranially in pixel coordinates (default: up in the image).
        signed: clinical signs (negative CE when L is medial to the vertical, negative Tönnis when
            the lateral sourcil is lower than the medial end); False gives the paper's arccos values.

    Returns:
        Per side: ``ce``, ``sharp``, ``tonnis`` in degrees, plus ``C`` (pixels) and the unsigned values.
    """
    sy, sx = float(spacing[0]), float(spacing[1])
    scale = np.array([sx, sy])
    pts = {}
    for side in SIDES:
        if side not in marks:
            raise GeometryError(f"{side} hip: landmarks are missing")
        pts[side] = {}
        for key in ("H", "L", "T", "S"):
            value = marks[side].get(key)
            if value is None:
                raise GeometryError(f"{side} hip: landmark {key} is missing")
            pts[side][key] = np.asarray(value, float) * scale
    hint = None if cranial_hint is None else np.asarray(cranial_hint, float) * scale
    out: dict[str, dict[str, Any]] = {}
    for side, other in (("right", "left"), ("left", "right")):
        p, q = pts[side], pts[other]
        lateral = _unit(p["T"] - q["T"], f"{side} hip: the inter-teardrop line")
        if ce_reference == "inter_head":
            n = cranial_normal(_unit(p["H"] - q["H"], f"{side} hip: the line joining the head centres"), hint)
        elif ce_reference == "inter_teardrop":
            n = cranial_normal(lateral, hint)
        else:
            raise GeometryError(f"ce_reference must be 'inter_head' or 'inter_teardrop', got {ce_reference!r}")
        n_tear = cranial_normal(lateral, hint)
        ce_u = _angle(n, p["L"] - p["H"])
        sharp_u = _angle(p["L"] - p["T"], lateral)
        tonnis_u = _angle(p["L"] - p["S"], lateral)
        ce_s = ce_u if float(np.dot(p["L"] - p["H"], lateral)) >= 0 else -ce_u
        sharp_s = sharp_u if float(np.dot(p["L"] - p["T"], n_tear)) >= 0 else -sharp_u
        tonnis_s = tonnis_u if float(np.dot(p["L"] - p["S"], n_tear)) >= 0 else -tonnis_u
        radius_ref = float(np.hypot(*(p["L"] - p["H"])))
        c_point = (p["H"] + n * radius_ref) / scale
        out[side] = {"ce": ce_s if signed else ce_u, "sharp": sharp_s if signed else sharp_u,
                     "tonnis": tonnis_s if signed else tonnis_u,
                     "ce_unsigned": ce_u, "sharp_unsigned": sharp_u, "tonnis_unsigned": tonnis_u,
                     "C": c_point.tolist()}
    return out


# --------------------------------------------------------------------------------------------- contours
@dataclass
class SideShapes:
    """What the user drew for one hip, in pixels."""

    acetabulum: np.ndarray | None = None
    femoral_head: np.ndarray | None = None
    proximal_femur: np.ndarray | None = None
    sourcil_medial: np.ndarray | None = None
    lateral_edge: np.ndarray | None = None
    teardrop: np.ndarray | None = None


@dataclass
class HipMeasurement:
    """Every landmark and angle of one film, with QC flags."""

    landmarks: dict[str, dict[str, Any]]
    angles: dict[str, dict[str, float]]
    flags: dict[str, list[str]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"angles": self.angles, "landmarks": self.landmarks, "flags": self.flags, "settings": self.settings}


def _endpoints_classify(acetabulum: np.ndarray, lateral0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, L) from the acetabulum polyline's two ends: the more lateral end is L, the other T."""
    a, b = acetabulum[0], acetabulum[-1]
    return (a, b) if float(np.dot(b - a, lateral0)) >= 0 else (b, a)


def derive_side(side: str, shapes: SideShapes, lateral: np.ndarray, cranial: np.ndarray, teardrop: np.ndarray,
                *, head_centre: str = "three_point", inflection_sigma: float = 2.5) -> tuple[dict[str, Any], list[str]]:
    """D, E, F and the head centre of one side (physical coordinates in, physical out).

    ``lateral`` and ``cranial`` are unit vectors of the film's frame; ``teardrop`` is T.
    """
    flags: list[str] = []
    head = shapes.femoral_head
    d_point = head[int(np.argmax(head @ cranial))]
    candidates = head
    if shapes.proximal_femur is not None and len(shapes.proximal_femur) >= 5:
        lsq_c, lsq_r = fit_circle(head)
        femur = shapes.proximal_femur
        idx = inflection_indices(femur, inflection_sigma)
        near = [i for i in idx if np.hypot(*(femur[i] - lsq_c)) < 1.6 * lsq_r]
        if near:
            level = min(float(femur[i] @ cranial) for i in near)
            kept = head[head @ cranial >= level]
            if len(kept) >= 3:
                candidates = kept
        else:
            flags.append("no_head_neck_junction")
    e_point = candidates[int(np.argmax(candidates @ lateral))]
    crossings = segment_polyline_crossings(e_point, teardrop, head, closed=True)
    tol = 1e-6 * max(np.ptp(head, axis=0).max(), 1.0)
    far = [c for c in crossings if np.hypot(*(c - e_point)) > tol]
    if far:
        f_point = min(far, key=lambda c: float(np.hypot(*(c - teardrop))))
    else:
        flags.append("no_second_crossing")
        d = teardrop - e_point
        d = d / max(np.hypot(*d), 1e-300)
        rel = head - e_point
        dist = np.abs(rel[:, 0] * d[1] - rel[:, 1] * d[0])
        dist[np.hypot(rel[:, 0], rel[:, 1]) <= tol] = np.inf
        f_point = head[int(np.argmin(dist))]
    three = circle_through(d_point, e_point, f_point)
    lsq_centre, lsq_radius = fit_circle(head)
    if three is None:
        flags.append("collinear_points")
    if head_centre == "three_point" and three is not None:
        centre, radius = three
    elif head_centre in ("three_point", "least_squares"):
        centre, radius = lsq_centre, lsq_radius
        if head_centre == "three_point":
            flags.append("head_centre_from_least_squares")
    else:
        raise GeometryError(f"head_centre must be 'three_point' or 'least_squares', got {head_centre!r}")
    out = {"D": d_point, "E": e_point, "F": f_point, "H": centre, "r": radius,
           "H_three_point": None if three is None else three[0], "r_three_point": None if three is None else three[1],
           "H_least_squares": lsq_centre, "r_least_squares": lsq_radius}
    return out, flags


def check_side_shapes(side: str, shapes: SideShapes) -> None:
    """Raise :class:`GeometryError` naming the side and the structure when a shape is missing or unusable."""
    for name in REQUIRED:
        if getattr(shapes, name) is None:
            kind = "point" if name in POINTS else "contour"
            raise GeometryError(f"{side} hip: the {name} {kind} is missing")
    for name in CONTOURS:
        pts = getattr(shapes, name)
        if pts is None:
            continue
        pts = np.asarray(pts, float).reshape(-1, 2)
        if len(pts) < 3:
            raise GeometryError(f"{side} hip: the {name} contour has {len(pts)} point{'s' * (len(pts) != 1)}; "
                                "at least 3 are needed")
        if not np.all(np.isfinite(pts)):
            raise GeometryError(f"{side} hip: the {name} contour has non-finite coordinates")
        if len(np.unique(pts.round(9), axis=0)) < 3:
            raise GeometryError(f"{side} hip: the {name} contour has fewer than 3 distinct points")
        centred = pts - pts.mean(axis=0)
        if np.linalg.svd(centred, compute_uv=False)[-1] <= 1e-9 * max(np.abs(centred).max(), 1.0):
            raise GeometryError(f"{side} hip: the {name} contour is degenerate (its points lie on one line)")
        if is_self_intersecting(pts, closed=name == "femoral_head"):
            raise GeometryError(f"{side} hip: the {name} contour intersects itself; redraw it as a simple outline")
    for name in POINTS:
        pt = getattr(shapes, name)
        if pt is not None and (np.asarray(pt).size != 2 or not np.all(np.isfinite(pt))):
            raise GeometryError(f"{side} hip: the {name} point must be one finite (x, y) pair")


def measure_hips(sides: Mapping[str, SideShapes], spacing: tuple[float, float] = (1.0, 1.0), *,
                 head_centre: str = "three_point", ce_reference: str = "inter_head", signed: bool = True,
                 inflection_sigma: float = 2.5) -> HipMeasurement:
    """Landmarks, angles and QC flags of a film from the drawn shapes of both hips.

    ``sides`` maps ``"right"``/``"left"`` (the patient's sides) to :class:`SideShapes`; ``spacing`` is
    ``(row, column)``. Raises :class:`GeometryError` naming the side and the structure when a shape
    needed for a landmark is missing or unusable.
    """
    sy, sx = float(spacing[0]), float(spacing[1])
    scale = np.array([sx, sy])
    phys: dict[str, SideShapes] = {}
    for side in SIDES:
        if side not in sides:
            raise GeometryError(f"{side} hip: no shapes were drawn for this side")
        check_side_shapes(side, sides[side])
        s = sides[side]
        phys[side] = SideShapes(**{k: (None if v is None else np.asarray(v, float).reshape(-1, 2) * scale)
                                   for k, v in vars(s).items()})
    flags: dict[str, list[str]] = {side: [] for side in SIDES}
    # a first frame from the head centroids, to tell the acetabulum's ends apart
    centroid = {side: phys[side].femoral_head.mean(axis=0) for side in SIDES}
    teardrop, lateral_edge = {}, {}
    for side, other in (("right", "left"), ("left", "right")):
        lat0 = _unit(centroid[side] - centroid[other], "the line joining the femoral heads")
        t_end, l_end = _endpoints_classify(phys[side].acetabulum, lat0)
        teardrop[side] = phys[side].teardrop[0] if phys[side].teardrop is not None else t_end
        lateral_edge[side] = phys[side].lateral_edge[0] if phys[side].lateral_edge is not None else l_end
        if phys[side].teardrop is None:
            flags[side].append("teardrop_from_acetabulum_end")
        if phys[side].lateral_edge is None:
            flags[side].append("lateral_edge_from_acetabulum_end")
    # cranial: away from the femur towards the acetabulum (anatomy), else up in the image
    hint = np.zeros(2)
    for side in SIDES:
        if phys[side].proximal_femur is not None:
            hint += centroid[side] - phys[side].proximal_femur.mean(axis=0)
        hint += phys[side].acetabulum.mean(axis=0) - centroid[side]
    landmarks: dict[str, dict[str, Any]] = {}
    for side, other in (("right", "left"), ("left", "right")):
        lateral = _unit(teardrop[side] - teardrop[other], f"{side} hip: the inter-teardrop line")
        cranial = cranial_normal(lateral, hint)
        derived, side_flags = derive_side(side, phys[side], lateral, cranial, teardrop[side],
                                          head_centre=head_centre, inflection_sigma=inflection_sigma)
        flags[side] += side_flags
        derived.update(T=teardrop[side], L=lateral_edge[side], S=phys[side].sourcil_medial[0])
        landmarks[side] = derived
    marks_px = {side: {k: landmarks[side][k] / scale for k in ("H", "L", "T", "S")} for side in SIDES}
    angles = angles_from_landmarks(marks_px, spacing, ce_reference=ce_reference, cranial_hint=hint / scale,
                                   signed=signed)
    for side in SIDES:
        for name, (low, high) in PLAUSIBLE.items():
            if not low <= angles[side][name] <= high:
                flags[side].append(f"implausible_{name}")
    out_marks = {side: _to_pixels(landmarks[side], scale) for side in SIDES}
    for side in SIDES:
        out_marks[side]["C"] = angles[side].pop("C")
    settings = {"spacing": [sy, sx], "head_centre": head_centre, "ce_reference": ce_reference, "signed": signed,
                "inflection_sigma": inflection_sigma}
    return HipMeasurement(landmarks=out_marks, angles=angles, flags=flags, settings=settings)


def _to_pixels(marks: dict[str, Any], scale: np.ndarray) -> dict[str, Any]:
    """Points back to pixel coordinates; radii stay in physical units (named ``*_phys``)."""
    out: dict[str, Any] = {}
    for key, value in marks.items():
        if value is None:
            out[key] = None
        elif key.startswith("r"):
            out[key + "_phys"] = float(value)
        else:
            out[key] = (np.asarray(value, float) / scale).tolist()
    return out
