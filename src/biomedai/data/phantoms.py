"""Synthetic phantoms with known answers, one per modality, for tests and demos.

Every phantom is seeded (``numpy.random.default_rng(seed)``): the same arguments give the same
arrays, different seeds give different ones. The known answers are returned next to the images:

* :func:`nuclei_phantom`: H&E-like RGB tile and its instance label map (exactly ``n_nuclei``
  labels ``1..n``, no two nuclei overlapping).
* :func:`vessel_phantom`: fundus-like image of smooth random curves, the binary vessel mask, and
  the vessel area fraction and centre-line length.
* :func:`lesion_volume_phantom`: CT-like volume (Hounsfield units) with ellipsoidal lesions, the
  lesion label volume and every lesion's volume in mm^3 (voxel count and analytic).
* :func:`disk_mask` / :func:`sphere_mask`: a disk/ball whose analytic area/volume is
  ``pi r^2`` / ``4/3 pi r^3``.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.io.image import Image

logger = logging.getLogger(__name__)

__all__ = [
    "NucleiPhantom",
    "VesselPhantom",
    "LesionPhantom",
    "nuclei_phantom",
    "vessel_phantom",
    "lesion_volume_phantom",
    "disk_mask",
    "sphere_mask",
]


class NucleiPhantom(NamedTuple):
    """``image`` RGB uint8 H&E-like tile; ``labels`` int32 instance map (0 = background)."""

    image: Image
    labels: Image


class VesselPhantom(NamedTuple):
    """A vessel phantom and what a perfect measurement of it gives.

    ``image`` float32 in [0, 1]; ``mask`` bool; ``area_fraction`` = ``mask.mean()``;
    ``length`` total centre-line length inside the image in ``spacing_unit``;
    ``widths`` each vessel's diameter in pixels.
    """

    image: Image
    mask: Image
    area_fraction: float
    length: float
    widths: tuple[float, ...]


class LesionPhantom(NamedTuple):
    """A lesion phantom volume and its true volumes.

    ``volume`` float32 HU; ``labels`` int32 (lesion ``i`` has label ``i + 1``);
    ``volumes_mm3`` voxel count x voxel volume per lesion (what a perfect segmentation measures);
    ``analytic_volumes_mm3`` ``4/3 pi a b c`` per lesion.
    """

    volume: Image
    labels: Image
    volumes_mm3: tuple[float, ...]
    analytic_volumes_mm3: tuple[float, ...]


# ----------------------------------------------------------------------------------------------
# Analytic shapes
# ----------------------------------------------------------------------------------------------

def _ball_mask(shape: Sequence[int], center: Sequence[float] | None, radius: float,
               spacing: Sequence[float] | None) -> np.ndarray:
    shape = tuple(int(s) for s in shape)
    spacing = (1.0,) * len(shape) if spacing is None else tuple(float(s) for s in spacing)
    if len(spacing) != len(shape):
        raise InvalidInputError(f"spacing needs {len(shape)} values, got {len(spacing)}")
    if radius <= 0:
        raise InvalidInputError(f"radius must be positive, got {radius}")
    if center is None:
        center = tuple((n - 1) / 2.0 for n in shape)
    if len(center) != len(shape):
        raise InvalidInputError(f"center needs {len(shape)} values, got {len(center)}")
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    dist2 = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, center, spacing))
    return np.asarray(dist2 <= radius**2)


def disk_mask(shape: Sequence[int], center: Sequence[float] | None = None, radius: float = 10.0,
              spacing: Sequence[float] | None = None) -> np.ndarray:
    """Boolean disk: pixels whose centre lies within ``radius`` (physical units) of ``center`` (pixels).

    Known answer: ``mask.sum() * prod(spacing)`` tends to ``pi * radius**2``; the error is of
    the order of the perimeter times one pixel's side (below 1 % for a radius of 50 pixels).

    Example:
        >>> m = disk_mask((101, 101), radius=40)
        >>> bool(abs(m.sum() - np.pi * 40**2) / (np.pi * 40**2) < 0.01)
        True
    """
    if len(shape) != 2:
        raise InvalidInputError(f"disk_mask needs a 2D shape, got {tuple(shape)}")
    return _ball_mask(shape, center, radius, spacing)


def sphere_mask(shape: Sequence[int], center: Sequence[float] | None = None, radius: float = 10.0,
                spacing: Sequence[float] | None = None) -> np.ndarray:
    """Boolean ball in a ``[z, y, x]`` volume; ``radius`` in physical units, ``center`` in voxels.

    Known answer: ``mask.sum() * prod(spacing)`` tends to ``4/3 * pi * radius**3``.

    Example:
        >>> m = sphere_mask((41, 41, 41), radius=15)
        >>> bool(abs(m.sum() - 4 / 3 * np.pi * 15**3) / (4 / 3 * np.pi * 15**3) < 0.01)
        True
    """
    if len(shape) != 3:
        raise InvalidInputError(f"sphere_mask needs a 3D shape, got {tuple(shape)}")
    return _ball_mask(shape, center, radius, spacing)


# ----------------------------------------------------------------------------------------------
# Histopathology: nuclei
# ----------------------------------------------------------------------------------------------

def _check_range(name: str, value: Sequence[float], low: float = 0.0) -> tuple[float, float]:
    if len(value) != 2 or not (low < value[0] <= value[1]):
        raise InvalidInputError(f"{name} must be (min, max) with {low} < min <= max, got {tuple(value)}")
    return float(value[0]), float(value[1])


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Zero-mean, unit-std smooth random field."""
    from scipy import ndimage

    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return (field - field.mean()) / (field.std() + 1e-12)


def nuclei_phantom(shape: tuple[int, int] = (256, 256), n_nuclei: int = 20,
                   radius_range: tuple[float, float] = (5.0, 10.0), seed: int = 0, *,
                   axis_ratio_range: tuple[float, float] = (0.6, 1.0), min_gap: int = 1,
                   mpp: float = 0.5, noise_std: float = 4.0) -> NucleiPhantom:
    """An H&E-like RGB tile with ``n_nuclei`` elliptical nuclei and their instance labels.

    Nuclei are ellipses with semi-major axis drawn from ``radius_range`` (pixels), minor/major
    ratio from ``axis_ratio_range`` and a random orientation, placed entirely inside the tile and
    at least ``min_gap`` pixels apart (``0`` lets them touch, never overlap). Colour is made with
    scikit-image's haematoxylin-eosin-DAB model: haematoxylin-rich purple nuclei with chromatin
    texture on pink eosin stroma, plus Gaussian noise of ``noise_std`` grey levels.

    Known answers: ``labels`` holds exactly the labels ``1..n_nuclei``, each one connected
    ellipse; ``labels.array.max() == n_nuclei``; pixels are ``mpp`` microns wide.
    Raises :class:`InvalidInputError` when the nuclei do not fit.

    Example:
        >>> image, labels = nuclei_phantom((128, 128), n_nuclei=8, seed=1)
        >>> image.array.shape, image.array.dtype.name, int(labels.array.max())
        ((128, 128, 3), 'uint8', 8)
    """
    from scipy import ndimage
    from skimage.color import hed2rgb
    from skimage.draw import ellipse

    shape = (int(shape[0]), int(shape[1]))
    rmin, rmax = _check_range("radius_range", radius_range)
    amin, amax = _check_range("axis_ratio_range", axis_ratio_range)
    if amax > 1:
        raise InvalidInputError(f"axis_ratio_range must lie in (0, 1], got {tuple(axis_ratio_range)}")
    if n_nuclei < 0 or min_gap < 0:
        raise InvalidInputError("n_nuclei and min_gap must be >= 0")
    if min(shape) <= 2 * rmax + 2:
        raise InvalidInputError(f"shape {shape} is too small for nuclei of radius up to {rmax}")
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, dtype=np.int32)
    placed = 0
    for _ in range(100 * n_nuclei + 200):
        if placed == n_nuclei:
            break
        major = rng.uniform(rmin, rmax)
        minor = major * rng.uniform(amin, amax)
        angle = rng.uniform(-np.pi, np.pi)
        cy = rng.uniform(major + 1, shape[0] - major - 2)
        cx = rng.uniform(major + 1, shape[1] - major - 2)
        # the footprint grown by the gap must be free: no overlap, at least min_gap apart
        ry, rx = ellipse(cy, cx, major + min_gap, minor + min_gap, shape=shape, rotation=angle)
        if labels[ry, rx].any():
            continue
        ry, rx = ellipse(cy, cx, major, minor, shape=shape, rotation=angle)
        if ry.size == 0:
            continue
        placed += 1
        labels[ry, rx] = placed
    if placed < n_nuclei:
        raise InvalidInputError(
            f"could place only {placed} of {n_nuclei} nuclei of radius {rmin}-{rmax} px in {shape}; "
            "use a larger shape, fewer or smaller nuclei")

    # stain concentrations (optical density units of skimage's HED model)
    nucleus_level = np.concatenate([[0.0], rng.uniform(0.10, 0.16, n_nuclei)])
    chromatin = 1.0 + 0.15 * _smooth_noise(rng, shape, 1.0)
    haem = nucleus_level[labels] * chromatin
    haem = ndimage.gaussian_filter(haem, 0.7) + 0.012 + 0.004 * _smooth_noise(rng, shape, 8.0)
    eosin = 0.035 + 0.008 * _smooth_noise(rng, shape, 6.0) - 0.015 * (labels > 0)
    hed = np.stack([np.clip(haem, 0, None), np.clip(eosin, 0, None), np.zeros(shape)], axis=-1)
    rgb = hed2rgb(hed) * 255.0 + rng.normal(0.0, noise_std, shape + (3,))
    rgb = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)

    meta = {"phantom": "nuclei", "seed": seed, "n_nuclei": n_nuclei, "radius_range": [rmin, rmax],
            "mpp": mpp, "modality": "histopathology (synthetic H&E)"}
    image = Image(rgb, spacing=(mpp, mpp), channel_axis=-1, spacing_unit="um", metadata=meta)
    return NucleiPhantom(image, image.with_array(labels, channel_axis=None))


# ----------------------------------------------------------------------------------------------
# Vessels: smooth random curves
# ----------------------------------------------------------------------------------------------

def _random_curve(rng: np.random.Generator, shape: tuple[int, ...], step: float,
                  n_ctrl: int = 8, turn: float = 0.6) -> np.ndarray:
    """Densely sampled smooth curve (points ``[k, ndim]``, pixel units) crossing the image."""
    from scipy.interpolate import CubicSpline

    ndim = len(shape)
    size = np.asarray(shape, dtype=float)
    start = rng.uniform(0.1, 0.9, ndim) * size
    direction = rng.standard_normal(ndim)
    direction /= np.linalg.norm(direction)
    seg = 0.35 * float(size.min())
    # walk both ways from an inner point so the curve crosses the field of view
    pts = [start]
    for sign in (1.0, -1.0):
        d, p, branch = sign * direction, start.copy(), []
        for _ in range(n_ctrl // 2):
            d = d + turn * rng.standard_normal(ndim)
            d /= np.linalg.norm(d)
            p = p + seg * d
            branch.append(p)
        pts = pts + branch if sign > 0 else branch[::-1] + pts
    ctrl = np.asarray(pts)
    chord = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(ctrl, axis=0), axis=1))])
    spline = CubicSpline(chord, ctrl, axis=0)
    t = np.arange(0.0, chord[-1], step / 4.0)
    return spline(t)


def _inside(points: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.all((points >= -0.5) & (points <= np.asarray(shape) - 0.5), axis=1)


def vessel_phantom(shape: tuple[int, ...] = (256, 256), n_vessels: int = 6,
                   width_range: tuple[float, float] = (2.0, 7.0), seed: int = 0, *,
                   spacing: Sequence[float] | None = None, contrast: float = 0.35,
                   noise_std: float = 0.03) -> VesselPhantom:
    """Smooth random tubes (2D curves or 3D tubes) on a fundus-like background.

    Each vessel is a cubic spline through a random walk of control points, of constant diameter
    drawn from ``width_range`` (pixels); a pixel is vessel when its centre lies within half the
    diameter of the centre line. The image is a bright, slowly varying background with darker
    vessels (darker the wider), blurred by half a pixel, plus Gaussian noise; float32 in [0, 1].

    Known answers: ``area_fraction == mask.mean()`` exactly; ``length`` is the summed length of
    the centre lines inside the image (physical units, i.e. ``spacing`` applied per axis), which a
    skeleton of ``mask`` reproduces within about 10 % when vessels do not cross much.

    Example:
        >>> ph = vessel_phantom((128, 128), n_vessels=2, seed=3)
        >>> ph.mask.array.dtype.name, 0 < ph.area_fraction < 1, ph.length > 100
        ('bool', True, True)
    """
    from scipy import ndimage
    from scipy.spatial import cKDTree

    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3):
        raise InvalidInputError(f"vessel_phantom needs a 2D or 3D shape, got {shape}")
    wmin, wmax = _check_range("width_range", width_range)
    if n_vessels < 1:
        raise InvalidInputError(f"n_vessels must be >= 1, got {n_vessels}")
    spacing_t = (1.0,) * len(shape) if spacing is None else tuple(float(s) for s in spacing)
    if len(spacing_t) != len(shape):
        raise InvalidInputError(f"spacing needs {len(shape)} values, got {len(spacing_t)}")
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij"), axis=-1)
    grid = grid.reshape(-1, len(shape))
    mask = np.zeros(shape, dtype=bool)
    darkness = np.zeros(shape, dtype=float)
    length, widths = 0.0, []
    for _ in range(n_vessels):
        width = float(rng.uniform(wmin, wmax))
        curve = _random_curve(rng, shape, step=1.0)
        inside = _inside(curve, shape)
        seg_ok = inside[1:] & inside[:-1]
        seg_len = np.linalg.norm(np.diff(curve, axis=0) * np.asarray(spacing_t), axis=1)
        length += float(seg_len[seg_ok].sum())
        dist, _ = cKDTree(curve).query(grid, distance_upper_bound=width / 2 + 1.0)
        vessel = (dist <= width / 2).reshape(shape)
        mask |= vessel
        darkness = np.maximum(darkness, vessel * (0.5 + 0.5 * width / wmax))
        widths.append(width)

    background = 0.7 + 0.08 * _smooth_noise(rng, shape, max(shape) / 6)
    image = background - contrast * ndimage.gaussian_filter(darkness, 0.5)
    image = image + rng.normal(0.0, noise_std, shape)
    image = np.clip(image, 0.0, 1.0).astype(np.float32)
    unit = "pixel" if spacing is None else "mm"
    meta = {"phantom": "vessels", "seed": seed, "n_vessels": n_vessels, "widths_px": widths,
            "modality": "fundus / angiography (synthetic)"}
    img = Image(image, spacing=spacing_t, spacing_unit=unit, metadata=meta)
    return VesselPhantom(img, img.with_array(mask), float(mask.mean()), length, tuple(widths))


# ----------------------------------------------------------------------------------------------
# Radiology: lesion volume
# ----------------------------------------------------------------------------------------------

def lesion_volume_phantom(shape: tuple[int, int, int] = (64, 64, 64),
                          spacing: Sequence[float] = (2.0, 1.0, 1.0), n_lesions: int = 3,
                          radius_range: tuple[float, float] = (4.0, 9.0), seed: int = 0, *,
                          lesion_hu: tuple[float, float] = (70.0, 110.0), tissue_hu: float = 40.0,
                          noise_std: float = 10.0) -> LesionPhantom:
    """A CT-like volume: an elliptical body of soft tissue in air holding ellipsoidal lesions.

    Axes are ``[z, y, x]`` with ``spacing`` in mm. The body is an elliptic cylinder (``tissue_hu``,
    default 40 HU) in air (-1000 HU) with a fat rim (-100 HU); each lesion is a randomly rotated
    ellipsoid with semi-axes drawn from ``radius_range`` (mm) and a density from ``lesion_hu``,
    fully inside the body and not touching another lesion. A 0.5-voxel blur mimics the partial
    volume effect and Gaussian noise of ``noise_std`` HU is added.

    Known answers: ``labels`` holds exactly ``1..n_lesions``; ``volumes_mm3[i]`` is lesion
    ``i + 1``'s voxel count times the voxel volume and agrees with ``analytic_volumes_mm3[i]``
    (``4/3 pi a b c``) within pixelisation error (a few % for lesions over ~5 voxels across).

    Example:
        >>> ph = lesion_volume_phantom((32, 48, 48), spacing=(2, 1, 1), n_lesions=2, seed=0)
        >>> ph.volume.array.dtype.name, int(ph.labels.array.max()), len(ph.volumes_mm3)
        ('float32', 2, 2)
    """
    from scipy import ndimage
    from scipy.spatial.transform import Rotation

    shape = tuple(int(s) for s in shape)
    if len(shape) != 3:
        raise InvalidInputError(f"lesion_volume_phantom needs a 3D shape, got {shape}")
    sp = np.asarray([float(s) for s in spacing])
    if sp.shape != (3,) or np.any(sp <= 0):
        raise InvalidInputError(f"spacing needs 3 positive values, got {tuple(spacing)}")
    rmin, rmax = _check_range("radius_range", radius_range)
    if n_lesions < 0:
        raise InvalidInputError(f"n_lesions must be >= 0, got {n_lesions}")
    rng = np.random.default_rng(seed)
    extent = np.asarray(shape) * sp
    coords = np.stack(np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, sp)], indexing="ij"), -1)
    centre = (np.asarray(shape) - 1) * sp / 2
    body_axes = 0.45 * extent[1:]
    rel = (coords[..., 1:] - centre[1:]) / body_axes
    body_r = np.sqrt((rel**2).sum(-1))
    body = body_r <= 1.0

    labels = np.zeros(shape, dtype=np.int32)
    analytic, placed = [], 0
    margin = 1.5 * sp.max()  # lesions stay at least this far apart
    for _ in range(100 * n_lesions + 200):
        if placed == n_lesions:
            break
        axes = rng.uniform(rmin, rmax, 3)
        rot = Rotation.random(random_state=rng).as_matrix()
        reach = axes.max() + sp.max()
        low, high = centre - (extent / 2 - reach), centre + (extent / 2 - reach)
        if np.any(low >= high) or np.any(body_axes <= reach):
            continue  # this draw cannot fit
        c = rng.uniform(low, high)
        if np.sqrt((((c[1:] - centre[1:]) / (body_axes - reach)) ** 2).sum()) > 1.0:
            continue  # not fully inside the body
        # work in the bounding box of the grown ellipsoid only
        lo = np.maximum(np.floor((c - reach - margin) / sp).astype(int), 0)
        hi = np.minimum(np.ceil((c + reach + margin) / sp).astype(int) + 1, shape)
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        local = (coords[box] - c) @ rot  # coordinates in the ellipsoid's frame
        lesion = ((local / axes) ** 2).sum(-1) <= 1.0
        grown = ((local / (axes + margin)) ** 2).sum(-1) <= 1.0
        if not lesion.any() or labels[box][grown].any():
            continue
        placed += 1
        labels[box][lesion] = placed
        analytic.append(4.0 / 3.0 * math.pi * float(np.prod(axes)))
    if placed < n_lesions:
        raise InvalidInputError(
            f"could place only {placed} of {n_lesions} lesions of radius {rmin}-{rmax} mm in {shape} "
            f"voxels of {tuple(sp)} mm; use a larger shape, fewer or smaller lesions")

    hu = np.full(shape, -1000.0)
    hu[body_r <= 1.06] = -100.0  # subcutaneous fat rim
    hu[body] = tissue_hu + 8.0 * _smooth_noise(rng, shape, 3.0)[body]
    lesion_levels = rng.uniform(lesion_hu[0], lesion_hu[1], n_lesions)
    for k in range(n_lesions):
        hu[labels == k + 1] = lesion_levels[k]
    hu = ndimage.gaussian_filter(hu, 0.5) + rng.normal(0.0, noise_std, shape)
    voxel_mm3 = float(np.prod(sp))
    counts = np.bincount(labels.ravel(), minlength=n_lesions + 1)[1:]
    meta = {"phantom": "lesions", "seed": seed, "n_lesions": n_lesions, "modality": "CT",
            "units": "HU", "lesion_hu": lesion_levels.tolist()}
    volume = Image(hu.astype(np.float32), spacing=tuple(sp), spacing_unit="mm", metadata=meta)
    return LesionPhantom(volume, volume.with_array(labels), tuple(float(c) * voxel_mm3 for c in counts),
                         tuple(analytic))
