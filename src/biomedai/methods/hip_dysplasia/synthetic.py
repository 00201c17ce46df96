"""Synthetic hips with known answers: pelvis-like annotations and radiographs, and a simulated angle cohort.

No real hip radiographs are bundled with biomedai (the paper's data are private). Everything here is
simulated and labelled as such wherever it is shown.

* :func:`synthetic_film` builds one film from per-side angle targets: the landmarks ``H, L, T, S`` are
  placed so that the CE, Sharp and Tönnis angles are near the targets, the contours (head circle,
  acetabular arc, proximal femur outline with a concave head-neck junction) are drawn around them,
  and :func:`render_radiograph` paints a pelvis-like picture (bright bone, acetabular roof, teardrops,
  dark foramina, blur and noise) from the same geometry. Ground truth angles are what
  :func:`~.geometry.angles_from_landmarks` gives on the true landmarks.
* :func:`simulate_cohort` draws (CE, Sharp, Tönnis) triples for normal and dysplastic adult hips.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .geometry import SIDES, SideShapes

#: adult reference ranges used by the simulated cohort (degrees); normal CE 25-40, Sharp 33-42, Tönnis 0-10
#: (spec 1.4 clinical ranges); dysplastic hips: CE < 20, Sharp > 42, Tönnis > 10 (typical published values).
NORMAL_MEAN = (33.0, 38.0, 5.0)
NORMAL_SD = (5.5, 3.0, 3.5)
DYSPLASTIC_MEAN = (12.0, 46.0, 17.0)
DYSPLASTIC_SD = (6.0, 3.5, 5.0)
#: correlations (CE, Sharp), (CE, Tönnis), (Sharp, Tönnis) in both groups
CORRELATIONS = (-0.45, -0.55, 0.40)


def _cov(sd: tuple[float, float, float]) -> np.ndarray:
    r_cs, r_ct, r_st = CORRELATIONS
    corr = np.array([[1, r_cs, r_ct], [r_cs, 1, r_st], [r_ct, r_st, 1.0]])
    s = np.asarray(sd, float)
    return corr * np.outer(s, s)


def simulate_cohort(n_normal: int = 240, n_dysplastic: int = 40, n_outliers: int = 6,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Simulated (CE, Sharp, Tönnis) hips: ``(angles (n, 3), truth)`` with truth 0 normal, 1 dysplastic, 2 other.

    "Other" are scattered over-covered hips (high CE, low Sharp and Tönnis), the paper's
    "outliers to be further discussed". Example:
        >>> x, y = simulate_cohort(20, 5, 1, seed=1)
        >>> x.shape, np.bincount(y).tolist()
        ((26, 3), [20, 5, 1])
    """
    rng = np.random.default_rng(seed)
    normal = rng.multivariate_normal(NORMAL_MEAN, _cov(NORMAL_SD), n_normal)
    dysplastic = rng.multivariate_normal(DYSPLASTIC_MEAN, _cov(DYSPLASTIC_SD), n_dysplastic)
    other = np.c_[rng.uniform(45, 60, n_outliers), rng.uniform(25, 32, n_outliers), rng.uniform(-12, -4, n_outliers)]
    x = np.vstack([normal, dysplastic, other])
    y = np.r_[np.zeros(n_normal, int), np.ones(n_dysplastic, int), np.full(n_outliers, 2)]
    return x, y


@dataclass
class SyntheticFilm:
    """One simulated film: the drawn shapes per side, the true landmarks, and the geometry used to render it."""

    shapes: dict[str, SideShapes]
    landmarks: dict[str, dict[str, np.ndarray]]
    size: tuple[int, int]  # (height, width)
    image_left_side: str  # which patient side is on the image's left
    femur_masks: dict[str, np.ndarray] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


def _rot(v: np.ndarray, angle: float, centre: np.ndarray) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    m = np.array([[c, -s], [s, c]])
    return (np.asarray(v, float) - centre) @ m.T + centre


def synthetic_film(targets: dict[str, tuple[float, float, float]] | None = None, *, size: int = 256,
                   rotation_deg: float = 0.0, mirror: bool = False, scale: float = 1.0,
                   shift: tuple[float, float] = (0.0, 0.0), seed: int = 0) -> SyntheticFilm:
    """A pelvis-like film whose hips have about the given (CE, Sharp, Tönnis) targets per patient side.

    ``mirror`` puts the patient's right on the image's right; ``rotation_deg`` turns the whole film
    about the image centre (counter-clockwise on screen for positive values).
    """
    rng = np.random.default_rng(seed)
    targets = targets or {"right": (32.0, 38.0, 6.0), "left": (30.0, 39.0, 7.0)}
    h = w = int(size)
    k = size / 256.0 * scale
    centre = np.array([w / 2.0, h / 2.0])
    mid = centre + np.asarray(shift, float)
    up = np.array([0.0, -1.0])
    tear_half, tear_y = 34.0 * k, 28.0 * k
    shapes, marks, masks = {}, {}, {}
    image_left = "left" if mirror else "right"
    radius = 22.0 * k * float(rng.uniform(0.92, 1.08))
    for side in SIDES:
        on_image_left = side == image_left
        lat = np.array([-1.0, 0.0]) if on_image_left else np.array([1.0, 0.0])
        ce, sharp, tonnis = (math.radians(v) for v in targets[side])
        t = mid + lat * tear_half + np.array([0.0, tear_y])
        a = 62.0 * k * float(rng.uniform(0.95, 1.05))  # teardrop to lateral edge
        L = t + a * (math.cos(sharp) * lat + math.sin(sharp) * up)
        b = 20.0 * k * float(rng.uniform(0.9, 1.1))  # sourcil length
        S = L - b * (math.cos(tonnis) * lat + math.sin(tonnis) * up)
        c = radius + 3.0 * k  # head centre to lateral edge: the head rim plus the joint space
        H = L - c * (math.sin(ce) * lat + math.cos(ce) * up)
        marks[side] = {"H": H, "L": L, "T": t, "S": S, "r": radius, "lat": lat}
    # one common head level (the paper's CE uses the line through both head centres)
    level = np.mean([marks[s]["H"][1] for s in SIDES])
    for side in SIDES:
        marks[side]["H"] = np.array([marks[side]["H"][0], level])
    out_marks = {}
    for side in SIDES:
        m = marks[side]
        lat, H, r = m["lat"], m["H"], m["r"]
        head = H + r * np.c_[np.cos(np.linspace(0, 2 * np.pi, 72, endpoint=False)),
                             np.sin(np.linspace(0, 2 * np.pi, 72, endpoint=False))]
        # acetabulum: from T around the cranial side of the head to L
        ang_t = math.atan2(m["T"][1] - H[1], m["T"][0] - H[0])
        ang_l = math.atan2(m["L"][1] - H[1], m["L"][0] - H[0])
        # sweep from T to L through the cranial direction (angle -pi/2 with y down)
        sweep = (ang_l - ang_t) % (2 * math.pi)
        if ((-math.pi / 2 - ang_t) % (2 * math.pi)) > sweep:
            sweep -= 2 * math.pi
        a0, a1 = ang_t, ang_t + sweep
        u = np.linspace(0.0, 1.0, 24)
        angs = a0 + (a1 - a0) * u
        rad = np.hypot(*(m["T"] - H)) * (1 - u) + np.hypot(*(m["L"] - H)) * u
        rad = np.maximum(rad, r + 2.5 * k)
        rad[0], rad[-1] = np.hypot(*(m["T"] - H)), np.hypot(*(m["L"] - H))
        acetabulum = H + rad[:, None] * np.c_[np.cos(angs), np.sin(angs)]
        femur_outline, femur_mask = _femur(H, r, lat, (h, w))
        transform = lambda p: _rot(p, -math.radians(rotation_deg), centre)  # noqa: E731
        shapes[side] = SideShapes(acetabulum=transform(acetabulum), femoral_head=transform(head),
                                  proximal_femur=transform(femur_outline) if femur_outline is not None else None,
                                  sourcil_medial=transform(m["S"][None]), lateral_edge=None, teardrop=None)
        out_marks[side] = {key: transform(np.asarray(m[key])[None])[0] for key in ("H", "L", "T", "S")}
        masks[side] = femur_mask
    params = {"targets": targets, "rotation_deg": rotation_deg, "mirror": mirror, "scale": scale,
              "shift": list(shift), "seed": seed, "radius": radius}
    return SyntheticFilm(shapes=shapes, landmarks=out_marks, size=(h, w), image_left_side=image_left,
                         femur_masks=masks, params=params)


def _femur(H: np.ndarray, r: float, lat: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray | None, np.ndarray]:
    """Outline (open, head first) of a proximal femur: head disk, neck, greater trochanter and shaft."""
    from skimage.measure import find_contours

    hh, ww = shape
    up_sample = 4 if max(hh, ww) <= 160 else 2
    yy, xx = np.mgrid[0:hh * up_sample, 0:ww * up_sample] / up_sample
    mask = (xx - H[0]) ** 2 + (yy - H[1]) ** 2 <= r * r
    neck_dir = np.array([lat[0] * math.cos(math.radians(50)), math.sin(math.radians(50))])  # infero-lateral
    neck_end = H + neck_dir * 2.2 * r
    mask |= _capsule(xx, yy, H, neck_end, 0.62 * r)
    shaft_end = neck_end + np.array([lat[0] * 0.35 * r, 5.0 * r])
    mask |= _capsule(xx, yy, neck_end, shaft_end, 0.85 * r)
    troch = neck_end + lat * 0.7 * r + np.array([0.0, -0.3 * r])
    mask |= (xx - troch[0]) ** 2 + (yy - troch[1]) ** 2 <= (0.6 * r) ** 2
    small = mask[::up_sample, ::up_sample]
    contours = find_contours(np.pad(mask, 1).astype(float), 0.5)
    if not contours:
        return None, small
    ring = max(contours, key=len)[:, ::-1] - 1  # (x, y) in up-sampled pixels
    ring = ring / up_sample
    cut = H[1] + 3.0 * r  # keep the proximal part only
    keep = ring[:, 1] <= cut
    if keep.all() or not keep.any():
        return ring[::6], small
    start = int(np.flatnonzero(~keep)[-1]) + 1  # roll so the kept run is contiguous
    ring = np.roll(ring, -start, axis=0)
    keep = np.roll(keep, -start)
    run = ring[keep[: len(ring)]]
    return run[::6], small


def _capsule(xx: np.ndarray, yy: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float) -> np.ndarray:
    d = b - a
    t = np.clip(((xx - a[0]) * d[0] + (yy - a[1]) * d[1]) / float(d @ d), 0, 1)
    px, py = a[0] + t * d[0], a[1] + t * d[1]
    return (xx - px) ** 2 + (yy - py) ** 2 <= radius * radius


def render_radiograph(film: SyntheticFilm, seed: int = 0, noise: float = 0.05) -> np.ndarray:
    """A float32 picture in [0, 1] of the film: bone bright on a darker body, with blur and noise."""
    from scipy.ndimage import gaussian_filter
    from skimage.draw import line_aa
    from skimage.draw import polygon as fill_polygon

    rng = np.random.default_rng(seed)
    h, w = film.size
    rotation = math.radians(film.params["rotation_deg"])
    centre = np.array([w / 2.0, h / 2.0])
    yy, xx = np.mgrid[0:h, 0:w]
    img = 0.18 + 0.08 * np.exp(-(((xx - w / 2) / (0.45 * w)) ** 2 + ((yy - h / 2) / (0.6 * h)) ** 2))
    ilium = np.zeros((h, w), bool)
    for side in SIDES:
        shp = film.shapes[side]
        # ilium: a wing above the acetabular arc, rising towards the sacro-iliac joint
        arc = shp.acetabulum
        up = _rot(np.array([0.0, -1.0]), -rotation, np.zeros(2))
        t_pt, l_pt = film.landmarks[side]["T"], film.landmarks[side]["L"]
        lat = (l_pt - t_pt) - up * float((l_pt - t_pt) @ up)
        lat = lat / max(np.hypot(*lat), 1e-9)
        mid_pt = (film.landmarks["right"]["T"] + film.landmarks["left"]["T"]) / 2
        poly = np.vstack([arc, l_pt + up * 0.3 * h + lat * 0.08 * w, l_pt + up * 0.6 * h,
                          t_pt + (mid_pt - t_pt) * 0.55 + up * 0.45 * h, t_pt + (mid_pt - t_pt) * 0.5])
        rr, cc = fill_polygon(poly[:, 1], poly[:, 0], shape=(h, w))
        ilium[rr, cc] = True
    img = img + 0.22 * ilium
    # sacrum / pubis band between the teardrops, and dark obturator foramina
    tr, tl = film.landmarks["right"]["T"], film.landmarks["left"]["T"]
    mid = (tr + tl) / 2
    down = _rot(np.array([0.0, 1.0]), -rotation, np.zeros(2))
    for side in SIDES:
        t = film.landmarks[side]["T"]
        fo = t + (mid - t) * 0.15 + down * 0.22 * h
        ry, rx = 0.07 * h, 0.045 * w
        img -= 0.12 * np.exp(-(((xx - fo[0]) / rx) ** 2 + ((yy - fo[1]) / ry) ** 2) ** 2)
        # teardrop: a small bright U
        img += 0.35 * np.exp(-(((xx - t[0]) ** 2 + (yy - t[1]) ** 2) / (2 * (0.012 * w) ** 2)))
    roof = np.zeros((h, w))
    for side in SIDES:
        mask = film.femur_masks[side].astype(float)
        if film.params["rotation_deg"]:
            from scipy.ndimage import map_coordinates

            src = _rot(np.c_[xx.ravel(), yy.ravel()].astype(float), rotation, centre)
            mask = map_coordinates(mask, [src[:, 1], src[:, 0]], order=1).reshape(h, w)
        img += 0.33 * mask
        head = film.shapes[side].femoral_head
        rr, cc = fill_polygon(head[:, 1], head[:, 0], shape=(h, w))
        img[rr, cc] += 0.08
        # acetabular roof (sourcil): a bright line along the arc, blurred below
        arc = film.shapes[side].acetabulum
        sourcil = np.linspace(film.landmarks[side]["S"], film.landmarks[side]["L"], 4)
        for (x0, y0), (x1, y1) in list(zip(arc[:-1], arc[1:])) + list(zip(sourcil[:-1], sourcil[1:])):
            rr, cc, val = line_aa(int(round(y0)), int(round(x0)), int(round(y1)), int(round(x1)))
            ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
            roof[rr[ok], cc[ok]] = np.maximum(roof[rr[ok], cc[ok]], val[ok])
    img += 0.45 * gaussian_filter(roof, 0.008 * w + 0.5) * (2 * math.pi * (0.008 * w + 0.5) ** 2) ** 0.5
    img = gaussian_filter(img, 0.6 + rng.uniform(0, 0.8))
    contrast = rng.uniform(0.8, 1.2)
    img = (img - img.mean()) * contrast + img.mean() + rng.uniform(-0.05, 0.05)
    img += rng.normal(0, noise, img.shape)
    return np.clip(img, 0, 1).astype(np.float32)


def random_targets(rng: np.random.Generator, dysplastic_fraction: float = 0.3) -> dict[str, tuple[float, float, float]]:
    """Per-side (CE, Sharp, Tönnis) targets drawn from the simulated cohort's normal or dysplastic group."""
    out = {}
    for side in SIDES:
        dys = rng.random() < dysplastic_fraction
        mean, sd = (DYSPLASTIC_MEAN, DYSPLASTIC_SD) if dys else (NORMAL_MEAN, NORMAL_SD)
        x = rng.multivariate_normal(mean, _cov(sd))
        out[side] = (float(np.clip(x[0], -5, 50)), float(np.clip(x[1], 30, 55)), float(np.clip(x[2], -8, 28)))
    return out
