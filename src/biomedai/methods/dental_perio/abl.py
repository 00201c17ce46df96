"""Per-tooth alveolar bone loss (ABL) ratio of Deetal-Perio (spec ``xray-ct.md`` 4.4-4.5).

For each numbered tooth mask and a bone mask:

1. **Bone line.** Deterministic (default): the line through the two *crest points*, where the bone
   meets the mesial and the distal side of the tooth. A crest point is the bone pixel touching the
   tooth (8-neighbourhood) that lies farthest towards the crown along the tooth's long axis (PCA of
   the mask), moved half a pixel crown-wards because a region's edge lies half a pixel beyond its
   outermost pixel centre. ``line="random"`` is the paper's version: two random points of the bone
   contour that faces soft tissue within a quarter tooth width of the tooth (one on each side of the
   axis, so that the line cannot be a one-pixel step) drawn from ``rng``; where one side has no such
   contour the deterministic line is used.
2. **Crown and root.** The tooth outline (sub-pixel, ``skimage.measure.find_contours`` at 0.5) is
   split by that line. Upper teeth (FDI quadrants 1, 2) have their crown *below* the line on a
   panoramic film, lower teeth (3, 4) *above* it.
3. ``d_c`` / ``d_r`` = the largest perpendicular distance ``|(q2-q1) x (p-q1)| / |q2-q1|`` of the
   crown-side / root-side outline points from the line (all points by default; ``subsample=0.5``
   draws the paper's random half), and ``d = d_c / (d_c + d_r)``.

``d`` is measured from the crown *tip*, not the cemento-enamel junction, so a healthy tooth already
has ``d`` near crown height / tooth length (spec 4.4 "mismatch"). :func:`abl_vector` builds the
32-value feature vector with the paper's imputation of missing teeth.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from biomedai.errors import InvalidInputError

logger = logging.getLogger(__name__)

__all__ = ["FDI_ORDER", "UPPER_ARCH", "LOWER_ARCH", "ToothABL", "measure_abl", "measure_tooth_abl",
           "abl_vector", "imputed_mask", "is_upper"]

#: feature order of the 32-value vector (spec 4.5 decision): 11-18, 21-28, 31-38, 41-48
FDI_ORDER: tuple[int, ...] = tuple(q * 10 + i for q in (1, 2, 3, 4) for i in range(1, 9))
#: teeth in their order along each arch (patient right to left), used to find a missing tooth's neighbours
UPPER_ARCH: tuple[int, ...] = (18, 17, 16, 15, 14, 13, 12, 11, 21, 22, 23, 24, 25, 26, 27, 28)
LOWER_ARCH: tuple[int, ...] = (48, 47, 46, 45, 44, 43, 42, 41, 31, 32, 33, 34, 35, 36, 37, 38)

Point = tuple[float, float]  # (x, y) in image pixels


@dataclass
class ToothABL:
    """The ABL measurement of one tooth; points are ``(x, y)`` image pixels (column, row).

    ``crown_point`` is the crown-side outline point farthest from the bone line (the crown tip; the
    paper has no CEJ landmark), ``apex`` the root-side one, ``bone_points`` the two points that define
    the bone line, ``bone_crossing`` where the tooth axis (crown_point -> apex) crosses the bone line.
    """

    fdi: int
    d_c: float
    d_r: float
    d: float
    crown_point: Point
    apex: Point
    bone_points: tuple[Point, Point]
    bone_crossing: Point
    axis: tuple[Point, Point]
    upper: bool
    line: str

    def to_dict(self) -> dict[str, object]:
        return {"fdi": self.fdi, "d_c": self.d_c, "d_r": self.d_r, "d": self.d, "crown_point": list(self.crown_point),
                "apex": list(self.apex), "bone_points": [list(p) for p in self.bone_points],
                "bone_crossing": list(self.bone_crossing), "axis": [list(p) for p in self.axis],
                "upper": self.upper, "line": self.line}


def is_upper(fdi: int) -> bool:
    """True for upper teeth (FDI quadrants 1 and 2); raises for numbers outside 11-18, 21-28, 31-38, 41-48."""
    if int(fdi) not in FDI_ORDER:
        raise InvalidInputError(f"tooth number {fdi!r} is not a permanent FDI tooth (11-18, 21-28, 31-38, 41-48)")
    return int(fdi) // 10 in (1, 2)


def _check_mask(mask: np.ndarray, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise InvalidInputError(f"{name}: expected a 2-D mask, got shape {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise InvalidInputError(f"{name}: shape {arr.shape} differs from the bone mask's {shape}")
    return arr.astype(bool)


def _axis(mask: np.ndarray, upper: bool) -> tuple[np.ndarray, np.ndarray]:
    """Centroid and unit long-axis vector (x, y) pointing from the root towards the crown."""
    rows, cols = np.nonzero(mask)
    pts = np.c_[cols, rows].astype(float)
    centre = pts.mean(axis=0)
    if len(pts) < 3:
        direction = np.array([0.0, 1.0])
    else:
        cov = np.cov((pts - centre).T)
        vals, vecs = np.linalg.eigh(cov)
        direction = vecs[:, int(np.argmax(vals))]
        if abs(direction[1]) < 1e-6:  # a lying blob: fall back to the film's vertical
            direction = np.array([0.0, 1.0])
    # crown is below (y grows) for upper teeth, above for lower teeth
    if (direction[1] > 0) != upper:
        direction = -direction
    return centre, direction / np.linalg.norm(direction)


def _outline(mask: np.ndarray) -> np.ndarray:
    """Sub-pixel outline points (x, y) of a mask: the 0.5 iso-line, so edges sit half a pixel out."""
    from skimage.measure import find_contours

    contours = find_contours(np.pad(mask.astype(float), 1), 0.5)
    pts = np.concatenate(contours) - 1.0
    return np.c_[pts[:, 1], pts[:, 0]]


def _bone_contact(tooth: np.ndarray, bone: np.ndarray, reach: int = 1) -> np.ndarray:
    """(x, y) of bone pixels within ``reach`` pixels of the tooth (chessboard distance; 1 = touching)."""
    from scipy.ndimage import binary_dilation

    ring = binary_dilation(tooth, structure=np.ones((3, 3), bool), iterations=reach) & ~tooth & bone
    rows, cols = np.nonzero(ring)
    return np.c_[cols, rows].astype(float)


def _crest_contour(tooth: np.ndarray, bone: np.ndarray, teeth_any: np.ndarray, reach: float) -> np.ndarray:
    """(x, y) of bone contour pixels facing soft tissue (not a tooth) within ``reach`` pixels of the tooth."""
    from scipy.ndimage import binary_dilation, distance_transform_edt

    background = ~bone & ~teeth_any
    edge = bone & binary_dilation(background, structure=np.ones((3, 3), bool))
    near = distance_transform_edt(~tooth) <= reach
    rows, cols = np.nonzero(edge & near)
    return np.c_[cols, rows].astype(float)


def _sides(pts: np.ndarray, centre: np.ndarray, direction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lateral = (pts - centre) @ np.array([-direction[1], direction[0]])
    return pts[lateral < 0], pts[lateral >= 0]


def _line_distance(q1: np.ndarray, q2: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Signed distance of points from the line q1 -> q2 (cross product / length)."""
    v = q2 - q1
    return (v[0] * (pts[:, 1] - q1[1]) - v[1] * (pts[:, 0] - q1[0])) / np.hypot(*v)


def _bone_line(contact: np.ndarray, crest: np.ndarray, centre: np.ndarray, direction: np.ndarray,
               line: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray] | None:
    half = 0.5 * direction  # region edges lie half a pixel beyond the outermost pixel centres
    if line == "deterministic":
        picks = []
        for side in _sides(contact, centre, direction):
            if len(side):
                picks.append(side[int(np.argmax(side @ direction))] + half)
        if not picks:
            return None
        if len(picks) == 1:  # bone on one side only: the line through that crest, across the axis
            q1 = picks[0]
            return q1, q1 + np.array([-direction[1], direction[0]])
        return picks[0], picks[1]
    left, right = _sides(crest, centre, direction)
    if not len(left) or not len(right):  # no contour on one side within reach: the deterministic line
        return _bone_line(contact, crest, centre, direction, "deterministic", rng)
    return left[rng.integers(len(left))] + half, right[rng.integers(len(right))] + half


def measure_tooth_abl(fdi: int, tooth_mask: np.ndarray, bone_mask: np.ndarray, *,
                      line: Literal["deterministic", "random"] = "deterministic",
                      rng: np.random.Generator | int | None = None, subsample: float = 1.0,
                      teeth_any: np.ndarray | None = None, contact_px: int = 1) -> ToothABL | None:
    """ABL of one tooth, or None when the mask is empty or no bone touches it (logged)."""
    upper = is_upper(fdi)
    bone = _check_mask(bone_mask, "bone_mask")
    tooth = _check_mask(tooth_mask, f"tooth {fdi} mask", bone.shape)
    if line not in ("deterministic", "random"):
        raise InvalidInputError(f"line must be 'deterministic' or 'random', got {line!r}")
    if not 0.0 < subsample <= 1.0:
        raise InvalidInputError(f"subsample must be in (0, 1], got {subsample!r}")
    if int(contact_px) != contact_px or contact_px < 1:
        raise InvalidInputError(f"contact_px must be a whole number >= 1, got {contact_px!r}")
    rng = np.random.default_rng(rng)
    if not tooth.any():
        logger.warning("tooth %d: empty mask, skipped", fdi)
        return None
    teeth_any = tooth if teeth_any is None else (_check_mask(teeth_any, "teeth_any", bone.shape) | tooth)
    # work in a window around the tooth: wide enough for the contact ring and the random line's reach
    rows, cols = np.nonzero(tooth)
    margin = int(np.ceil(0.3 * (np.ptp(rows) + np.ptp(cols) + 2))) + contact_px + 3
    r0, c0 = max(rows.min() - margin, 0), max(cols.min() - margin, 0)
    window = (slice(r0, rows.max() + margin + 1), slice(c0, cols.max() + margin + 1))
    return _measure_in_window(fdi, upper, tooth[window], bone[window], teeth_any[window], line, rng, subsample,
                              contact_px, np.array([c0, r0], float))


def _measure_in_window(fdi: int, upper: bool, tooth: np.ndarray, bone: np.ndarray, teeth_any: np.ndarray, line: str,
                       rng: np.random.Generator, subsample: float, contact_px: int,
                       offset: np.ndarray) -> ToothABL | None:
    bone = bone & ~teeth_any
    centre, direction = _axis(tooth, upper)
    contact = _bone_contact(tooth, bone, contact_px)
    if not len(contact):
        logger.warning("tooth %d: no bone touches the tooth, skipped", fdi)
        return None
    crest = np.empty((0, 2))
    if line == "random":
        lateral = (np.c_[np.nonzero(tooth)[::-1]] - centre) @ np.array([-direction[1], direction[0]])
        width = 2.0 * np.abs(lateral).max()
        crest = _crest_contour(tooth, bone, teeth_any, reach=max(3.0, 0.25 * width))
    q = _bone_line(contact, crest, centre, direction, line, rng)
    if q is None:
        return None
    q1, q2 = q
    outline = _outline(tooth)
    if subsample < 1.0:
        keep = rng.random(len(outline)) < subsample
        outline = outline[keep] if keep.any() else outline
    signed = _line_distance(q1, q2, outline)
    # orient the sign so that positive means "towards the crown" (down on the film for upper teeth)
    normal = np.array([-(q2 - q1)[1], (q2 - q1)[0]])
    if (normal @ direction) < 0:
        signed = -signed
    crown, root = signed > 0, signed <= 0
    d_c = float(signed[crown].max()) if crown.any() else 0.0
    d_r = float(-signed[root].min()) if root.any() else 0.0
    if d_c + d_r <= 0:
        return None
    tip = outline[crown][int(np.argmax(signed[crown]))] if crown.any() else centre
    apex = outline[root][int(np.argmin(signed[root]))] if root.any() else centre
    crossing = _intersection(tip, apex, q1, q2)
    pt = lambda a: (float(a[0] + offset[0]), float(a[1] + offset[1]))  # noqa: E731
    return ToothABL(fdi=int(fdi), d_c=d_c, d_r=d_r, d=d_c / (d_c + d_r), crown_point=pt(tip), apex=pt(apex),
                    bone_points=(pt(q1), pt(q2)), bone_crossing=pt(crossing), axis=(pt(tip), pt(apex)),
                    upper=upper, line=line)


def _intersection(a1: np.ndarray, a2: np.ndarray, b1: np.ndarray, b2: np.ndarray) -> np.ndarray:
    da, db = a2 - a1, b2 - b1
    den = da[0] * db[1] - da[1] * db[0]
    if abs(den) < 1e-12:
        return (a1 + a2) / 2
    t = ((b1[0] - a1[0]) * db[1] - (b1[1] - a1[1]) * db[0]) / den
    return a1 + t * da


def measure_abl(tooth_masks: Mapping[int, np.ndarray], bone_mask: np.ndarray,
                line: Literal["deterministic", "random"] = "deterministic",
                rng: np.random.Generator | int | None = None, subsample: float = 1.0,
                contact_px: int = 1) -> dict[int, ToothABL]:
    """Per-tooth ABL for every FDI-numbered tooth mask; teeth with no bone contact are left out (logged).

    ``tooth_masks`` maps FDI numbers to boolean masks the size of ``bone_mask``. Other teeth's pixels
    are never counted as bone. ``rng`` (a Generator or a seed) drives the random line and the subsample.
    ``contact_px`` is how far from the tooth a bone pixel may lie to count as touching it (1: adjacent;
    wider rings reach a neighbour's bone where teeth stand close).

    Example:
        >>> tooth = np.zeros((60, 30), bool); tooth[10:50, 10:20] = True     # a lower tooth, crown at the top
        >>> bone = np.zeros_like(tooth); bone[30:, :] = True                  # bone crest at row 30
        >>> r = measure_abl({36: tooth}, bone)[36]
        >>> round(r.d_c, 1), round(r.d_r, 1), round(r.d, 3)
        (20.0, 20.0, 0.5)
    """
    bone = _check_mask(bone_mask, "bone_mask")
    masks = {int(f): _check_mask(m, f"tooth {f} mask", bone.shape) for f, m in tooth_masks.items()}
    for fdi in masks:
        is_upper(fdi)
    teeth_any = np.zeros_like(bone)
    for m in masks.values():
        teeth_any |= m
    generator = np.random.default_rng(rng)
    out: dict[int, ToothABL] = {}
    for fdi in sorted(masks):
        result = measure_tooth_abl(fdi, masks[fdi], bone, line=line, rng=generator, subsample=subsample,
                                   teeth_any=teeth_any, contact_px=contact_px)
        if result is not None:
            out[fdi] = result
    return out


def _clean(d_by_fdi: Mapping[int, float]) -> dict[int, float]:
    clean: dict[int, float] = {}
    for fdi, value in d_by_fdi.items():
        is_upper(int(fdi))
        v = float(value)
        if not np.isfinite(v):
            continue  # unmeasured: treated as missing
        if not 0.0 <= v <= 1.0:
            raise InvalidInputError(f"tooth {fdi}: ABL ratio must be in [0, 1], got {v}")
        clean[int(fdi)] = v
    return clean


def abl_vector(d_by_fdi: Mapping[int, float], *,
               return_imputed: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The 32-value D vector in :data:`FDI_ORDER` with missing teeth imputed.

    Imputation (spec 4.5): the paper sets a missing tooth's ratio to "the mean value of its
    neighboring teeth' ratios". We read the neighbours along the arch (18..11 21..28, 48..41 31..38;
    11 and 21 are neighbours): the mean of the nearest present tooth on each side; if one side has
    none (arch end), that one tooth's value; if the whole arch is missing, the mean of all present
    teeth. Non-finite values count as missing. ``return_imputed=True`` also returns the boolean mask
    of imputed positions.

    Example:
        >>> v = abl_vector({11: 0.3, 13: 0.5, 21: 0.4, 31: 0.6})
        >>> float(v[FDI_ORDER.index(12)]), float(v[FDI_ORDER.index(18)]), float(v[FDI_ORDER.index(41)])
        (0.4, 0.5, 0.6)
    """
    d = _clean(d_by_fdi)
    if not d:
        raise InvalidInputError("abl_vector: no tooth has a measured ratio")
    image_mean = float(np.mean(list(d.values())))
    values: dict[int, float] = dict(d)
    for arch in (UPPER_ARCH, LOWER_ARCH):
        present = [i for i, f in enumerate(arch) if f in d]
        for i, fdi in enumerate(arch):
            if fdi in d:
                continue
            if not present:
                values[fdi] = image_mean
                continue
            left = [j for j in present if j < i]
            right = [j for j in present if j > i]
            near = ([d[arch[left[-1]]]] if left else []) + ([d[arch[right[0]]]] if right else [])
            values[fdi] = float(np.mean(near))
    vector = np.array([values[f] for f in FDI_ORDER], dtype=float)
    if return_imputed:
        return vector, imputed_mask(d_by_fdi)
    return vector


def imputed_mask(d_by_fdi: Mapping[int, float]) -> np.ndarray:
    """Boolean (32,) mask, in :data:`FDI_ORDER`, of the positions :func:`abl_vector` imputes."""
    d = _clean(d_by_fdi)
    return np.array([f not in d for f in FDI_ORDER], dtype=bool)
