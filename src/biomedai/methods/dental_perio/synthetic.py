"""Simulated panoramic films and ABL cohorts with known answers (the real set has no bone or stage labels).

Everything here is **simulated** and must be labelled as such wherever its numbers are shown.

* :func:`synthetic_panoramic` draws a panoramic-like film: 32 tooth positions in two arches with the
  FDI numbers of a standard display (patient right on the image left), upper crowns pointing down and
  lower crowns up, teeth slightly tilted, some missing, and an alveolar bone region whose crest meets
  every tooth on a line perpendicular to its axis at a chosen distance from the crown tip. With the
  crown tip at axial position 0 and the apex at ``L``, the true ratio is therefore exactly
  ``d = crest distance / L`` (stored in ``true_d``).
* :func:`simulate_abl_cohort` draws 32-value D vectors and periodontitis stages from the generative
  rule written in its docstring.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .abl import FDI_ORDER, LOWER_ARCH, UPPER_ARCH, abl_vector

__all__ = ["SyntheticPanoramic", "synthetic_panoramic", "simulate_abl_cohort", "COHORT_STAGE_SHARES",
           "STAGE_WORST_LOSS", "crown_fraction"]

#: relative mesio-distal widths per tooth type (position in the quadrant 1..8)
_WIDTH = {1: 0.95, 2: 0.8, 3: 0.9, 4: 0.9, 5: 0.9, 6: 1.25, 7: 1.15, 8: 1.05}
#: relative tooth lengths (crown tip to apex) per tooth type
_LENGTH = {1: 0.95, 2: 0.9, 3: 1.0, 4: 0.9, 5: 0.88, 6: 0.85, 7: 0.82, 8: 0.78}
#: crown height / tooth length per tooth type (anatomical averages: incisors ~0.43, canine ~0.37,
#: premolars ~0.39, molars ~0.36)
_CROWN = {1: 0.43, 2: 0.42, 3: 0.37, 4: 0.39, 5: 0.39, 6: 0.36, 7: 0.36, 8: 0.36}

#: the crest follows a tooth's own line this many pixels beyond its sides before bending to the next tooth
_CREST_MARGIN = 2.5
#: stage shares of the simulated cohort: the paper's Suzhou counts 52/189/43/14 of 298 (spec 4.2)
COHORT_STAGE_SHARES = (52 / 298, 189 / 298, 43 / 298, 14 / 298)
#: range of the worst tooth's clinical bone loss c per stage (2018 staging: <15 %, 15-33 %, >33 %)
STAGE_WORST_LOSS = ((0.0, 0.0), (0.05, 0.15), (0.15, 0.33), (0.33, 0.65))


def crown_fraction(fdi: int) -> float:
    """Typical crown height / tooth length of a tooth type (used by the simulations)."""
    return _CROWN[int(fdi) % 10]


@dataclass
class SyntheticPanoramic:
    """One simulated film. ``teeth`` holds FDI numbers (0 = no tooth); ``true_d`` the exact ratio per present tooth."""

    image: np.ndarray  # uint8 (H, W)
    teeth: np.ndarray  # int32 (H, W), FDI numbers
    bone_mask: np.ndarray  # bool (H, W), alveolar bone (tooth pixels excluded)
    true_d: dict[int, float]
    missing: list[int] = field(default_factory=list)
    tilt_deg: dict[int, float] = field(default_factory=dict)
    seed: int = 0

    def tooth_masks(self) -> dict[int, np.ndarray]:
        """FDI -> boolean mask of every present tooth."""
        return {f: self.teeth == f for f in np.unique(self.teeth) if f}


def _tooth_outline(length: float, width: float, crown: float) -> np.ndarray:
    """Tooth polygon in local (v lateral, u axial) coordinates: crown tip edge at u=0, apex at u=length."""
    r = 0.18 * width
    hc = crown * length
    pts = [(-width / 2 + r, 0.0), (width / 2 - r, 0.0), (width / 2, r), (width / 2, hc),
           (0.38 * width, hc + 0.12 * length), (0.1 * width, length), (-0.1 * width, length),
           (-0.38 * width, hc + 0.12 * length), (-width / 2, hc), (-width / 2, r)]
    return np.asarray(pts, float)


def _half_width(outline: np.ndarray, u: float) -> float:
    """Half width of the (symmetric, convex) outline at axial position u."""
    right = outline[outline[:, 0] >= 0]
    right = right[np.argsort(right[:, 1])]
    return float(np.interp(u, right[:, 1], right[:, 0]))


def _to_image(local: np.ndarray, tip: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Local (v, u) -> image (x, y); ``axis`` is the unit vector crown tip -> apex."""
    lateral = np.array([-axis[1], axis[0]])
    return tip + local[:, 1:2] * axis + local[:, 0:1] * lateral


def _fill(shape: tuple[int, int], polygon_xy: np.ndarray) -> np.ndarray:
    from skimage.draw import polygon

    rr, cc = polygon(polygon_xy[:, 1], polygon_xy[:, 0], shape)
    mask = np.zeros(shape, bool)
    mask[rr, cc] = True
    return mask


def _draw_arch(arch: tuple[int, ...], upper: bool, shape: tuple[int, int], rng: np.random.Generator,
               missing: set[int], loss: dict[int, float], teeth: np.ndarray,
               tilt: dict[int, float]) -> tuple[np.ndarray, dict[int, float]]:
    """Draw one arch's teeth into ``teeth``; return its bone region (teeth not yet removed) and true d.

    Bone: a crest height per image column. Within a tooth's width at its crest level, widened by
    ``_CREST_MARGIN`` px on both sides, the crest is the tooth's own line perpendicular to its axis at
    ``d L`` from the crown tip; between teeth (and across a missing tooth: a healed ridge) it runs
    straight from one tooth's crest end to the next. Bone is everything beyond the crest (up for the
    upper arch, down for the lower) in the arch's half of the film.
    """
    h, w = shape
    occlusal = h / 2
    margin, gap = 0.03 * w, 0.012 * h
    rel = np.array([_WIDTH[f % 10] for f in arch])
    slot = (w - 2 * margin) * rel / rel.sum()
    centres = margin + np.r_[0, np.cumsum(slot)[:-1]] + slot / 2
    # tilts vary smoothly along the arch (neighbours lean alike) plus a little noise, within +-6 degrees
    phase = rng.uniform(0, 2 * math.pi)
    angles = np.clip(4 * np.sin(phase + np.arange(16) * 2 * math.pi / 16) + rng.normal(0, 0.7, 16), -6, 6)
    columns = np.arange(w, dtype=float)
    crest_y = np.full(w, np.nan)
    owner_dist = np.full(w, np.inf)
    true_d: dict[int, float] = {}
    for fdi, centre_x, s, deg in zip(arch, centres, slot, angles):
        width = 0.7 * s
        length = 0.36 * h * _LENGTH[fdi % 10]
        crown = crown_fraction(fdi) * rng.uniform(0.95, 1.05)
        angle = math.radians(deg)
        axis = np.array([math.sin(angle), -math.cos(angle) if upper else math.cos(angle)])
        tip = np.array([centre_x, occlusal + (-gap if upper else gap)])
        outline = _tooth_outline(length, width, crown)
        # true d: crown height plus a share c of the rest (clinical bone loss); crest perpendicular to the axis
        d = crown + loss[fdi] * (1 - crown)
        if fdi in missing:
            continue
        half = _half_width(outline, d * length)
        ends = _to_image(np.array([[-half, d * length], [half, d * length]]), tip, axis)
        (x0, y0), (x1, y1) = ends[np.argsort(ends[:, 0])]
        zone = (columns >= x0 - _CREST_MARGIN) & (columns <= x1 + _CREST_MARGIN)
        dist = np.abs(columns - (x0 + x1) / 2) / max(x1 - x0, 1.0)
        take = zone & (dist < owner_dist)
        crest_y[take] = y0 + (y1 - y0) * (columns[take] - x0) / (x1 - x0)
        owner_dist[take] = dist[take]
        teeth[_fill(shape, _to_image(outline, tip, axis))] = fdi
        true_d[fdi] = float(d)
        tilt[fdi] = float(deg)
    known = np.isfinite(crest_y)
    if not known.any():
        crest_y[:] = occlusal - 0.15 * h if upper else occlusal + 0.15 * h
    else:
        crest_y = np.interp(columns, columns[known], crest_y[known])
    yy = np.arange(h, dtype=float)[:, None]
    if upper:
        return (yy < crest_y[None, :]) & (yy < occlusal), true_d
    return (yy > crest_y[None, :]) & (yy >= occlusal), true_d


def _render(teeth: np.ndarray, bone: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    h, w = teeth.shape
    yy, xx = np.mgrid[0:h, 0:w]
    picture = 45 + 15 * np.exp(-((xx - w / 2) / (0.6 * w)) ** 2)  # soft tissue, brighter in the middle
    texture = gaussian_filter(rng.normal(0, 1, (h, w)), 2.0)
    picture = np.where(bone, 125 + 25 * texture / (texture.std() + 1e-9), picture)
    tooth = teeth > 0
    # enamel brighter at the crown end (nearer the occlusal line)
    dist_occ = np.abs(yy - h / 2) / (0.36 * h)
    picture = np.where(tooth, 215 - 40 * np.clip(dist_occ, 0, 1), picture)
    picture = gaussian_filter(picture, 1.0) + rng.normal(0, 6, (h, w))
    return np.clip(picture, 0, 255).round().astype(np.uint8)


def synthetic_panoramic(seed: int, size: tuple[int, int] = (256, 512), *, missing_rate: float = 0.1,
                        max_loss: float = 0.5) -> SyntheticPanoramic:
    """A simulated panoramic film with known FDI teeth, bone region and per-tooth ABL ratio.

    Teeth are placed along two straight arches at the film's mid-height (upper crowns down, lower up),
    tilted by up to 6 degrees; each tooth is missing with probability ``missing_rate``. Each present
    tooth's clinical bone loss ``c`` is drawn in ``[0, max_loss]`` (a patient-level severity times a
    per-tooth factor) and its crest put at axial distance ``d L`` from the crown tip with
    ``d = crown_fraction + c (1 - crown_fraction)``.

    Example:
        >>> film = synthetic_panoramic(0, size=(128, 256))
        >>> film.image.dtype, film.teeth.shape, set(film.true_d) <= set(FDI_ORDER)
        (dtype('uint8'), (128, 256), True)
    """
    h, w = int(size[0]), int(size[1])
    if h < 64 or w < 128:
        from biomedai.errors import InvalidInputError

        raise InvalidInputError(f"synthetic_panoramic: size must be at least (64, 128), got {size}")
    rng = np.random.default_rng(seed)
    missing = {f for f in FDI_ORDER if rng.random() < missing_rate}
    severity = rng.uniform(0, max_loss)
    loss = {f: float(severity * rng.uniform(0, 1) ** 2) for f in FDI_ORDER}
    teeth = np.zeros((h, w), np.int32)
    tilt: dict[int, float] = {}
    bone_u, d_u = _draw_arch(UPPER_ARCH, True, (h, w), rng, missing, loss, teeth, tilt)
    bone_l, d_l = _draw_arch(LOWER_ARCH, False, (h, w), rng, missing, loss, teeth, tilt)
    bone = (bone_u | bone_l) & (teeth == 0)
    present = set(np.unique(teeth)) - {0}
    true_d = {f: v for f, v in {**d_u, **d_l}.items() if f in present}
    image = _render(teeth, bone, rng)
    return SyntheticPanoramic(image=image, teeth=teeth, bone_mask=bone, true_d=true_d,
                              missing=sorted(set(FDI_ORDER) - present), tilt_deg=tilt, seed=seed)


def _stage_counts(n: int, shares: tuple[float, ...]) -> np.ndarray:
    raw = np.asarray(shares) * n
    counts = np.floor(raw).astype(int)
    for i in np.argsort(raw - counts)[::-1][: n - counts.sum()]:
        counts[i] += 1
    return counts


def simulate_abl_cohort(n: int, seed: int, *, shares: tuple[float, float, float, float] = COHORT_STAGE_SHARES,
                        noise: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Simulated D vectors ``X (n, 32)`` and stages ``y`` (0 none, 1 mild, 2 moderate, 3 severe).

    Generative rule (simulated data, not the paper's):

    1. Stages in the proportions ``shares`` (default Suzhou: 52/189/43/14), exact counts, shuffled.
    2. Each tooth is missing with probability ``0.05 + 0.05 * stage`` (third molars +0.3).
    3. Clinical bone loss ``c`` (CEJ-based, spec 4.2): 0 for every tooth at stage 0. At stage s >= 1 a
       present tooth is the worst, with ``c ~ U(STAGE_WORST_LOSS[s])``; ``1 + Poisson(3 s)`` other present
       teeth get ``c_max * U(0.2, 1)``; the rest 0. The stage is then exactly the worst-tooth rule
       (none / <15 % / 15-33 % / >33 %).
    4. The measured ratio is taken from the crown tip, as Deetal-Perio does: ``d = h + c (1 - h) + e`` with
       ``h`` the tooth type's crown fraction plus patient (SD 0.015) and tooth (SD 0.01) variation and
       measurement noise ``e ~ N(0, noise)``; clipped to [0, 1].
    5. Missing teeth are imputed with :func:`~.abl.abl_vector` (the paper's neighbour mean).

    Example:
        >>> X, y = simulate_abl_cohort(100, seed=0)
        >>> X.shape, np.bincount(y).tolist()
        ((100, 32), [18, 63, 14, 5])
    """
    rng = np.random.default_rng(seed)
    stages = np.repeat(np.arange(4), _stage_counts(int(n), shares))
    rng.shuffle(stages)
    X = np.empty((len(stages), 32))
    base_h = np.array([crown_fraction(f) for f in FDI_ORDER])
    third = np.array([f % 10 == 8 for f in FDI_ORDER])
    for i, stage in enumerate(stages):
        present = rng.random(32) >= (0.05 + 0.05 * stage + 0.3 * third)
        if present.sum() < 2:
            present[rng.choice(32, 2, replace=False)] = True
        c = np.zeros(32)
        if stage > 0:
            low, high = STAGE_WORST_LOSS[stage]
            idx = np.flatnonzero(present)
            worst = rng.choice(idx)
            c_max = rng.uniform(low, high)
            others = rng.choice(idx[idx != worst], size=min(len(idx) - 1, 1 + rng.poisson(3 * stage)),
                                replace=False)
            c[others] = c_max * rng.uniform(0.2, 1.0, len(others))
            c[worst] = c_max
        h = base_h + rng.normal(0, 0.015) + rng.normal(0, 0.01, 32)
        d = np.clip(h + c * (1 - h) + rng.normal(0, noise, 32), 0.0, 1.0)
        X[i] = abl_vector({f: d[j] for j, f in enumerate(FDI_ORDER) if present[j]})
    return X, stages.astype(int)
