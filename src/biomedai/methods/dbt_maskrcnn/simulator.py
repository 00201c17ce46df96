"""A DBT simulator with a known answer (all its data are SIMULATED): breast phantom, masses, limited-angle
acquisition and SART reconstruction.

1. **Phantom** (:func:`breast_phantom`): a compressed breast (half-ellipse in-plane against the chest wall at
   ``x = 0``, filling the compression thickness along z) with a skin layer, fat/glandular texture from
   thresholding a power-law (``1 / f**beta``, beta = 3, Burgess et al. 2001) Gaussian random field at the
   glandular fraction of its ACR density category, linear attenuation coefficients of adipose, glandular and
   tumour tissue near 20 keV (Johns and Yaffe 1987: 0.46, 0.80 and 0.85 / cm).
2. **Masses** (:func:`mass_mask`) of the paper's three types: round/oval (smooth ellipsoid), irregular
   (lobulated union of ellipsoids with a rough margin) and spiculated (ellipsoid core with thin radiating
   spicules), of a given maximum diameter in mm.
3. **Acquisition** (:func:`project`): ``n_projections`` parallel-beam views over ``+/- half_angle`` degrees
   (the paper's 20 views over 20 degrees), the tube moving along y (parallel to the chest wall); each view
   integrates attenuation along slanted rays (slice shifted by ``z tan(theta)``), plus Gaussian quantum noise.
4. **Reconstruction** (:func:`sart_reconstruct`): SART (Andersen and Kak 1984; Zhang et al. 2006 for DBT), one
   update per view, non-negative, giving the out-of-plane (z) blur and ripple of limited-angle tomography.

Volumes are ``(z, y, x)`` with spacing ``(slice, row, column)`` in mm. The reconstruction is returned in units of
the glandular attenuation (fat about 0.58, gland and mass about 1).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> m = mass_mask("round", 8.0, (1.0, 0.5, 0.5), rng)
    >>> m.shape[0] < m.shape[1]        # the same 8 mm spans fewer 1 mm slices than 0.5 mm rows
    True
"""
from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage

from biomedai.errors import InvalidInputError

logger = logging.getLogger(__name__)

__all__ = ["SIMULATOR_VERSION", "MASS_TYPES", "ACR_GLANDULAR_FRACTION", "MU_PER_CM", "power_law_field",
           "breast_phantom", "mass_mask", "insert_mass", "project", "back_project", "sart_reconstruct",
           "SimulatedView", "simulate_view"]

#: recorded with every simulated cohort
SIMULATOR_VERSION = "dbt-sim 1.0"
MASS_TYPES: tuple[str, ...] = ("round_oval", "spiculated", "irregular")
#: glandular volume fraction drawn per ACR category (the middle of the BI-RADS ranges of spec 1.1)
ACR_GLANDULAR_FRACTION: dict[int, tuple[float, float]] = {1: (0.08, 0.25), 2: (0.26, 0.50), 3: (0.51, 0.75),
                                                          4: (0.76, 0.90)}
#: linear attenuation near 20 keV (Johns and Yaffe 1987), per cm
MU_PER_CM: dict[str, float] = {"adipose": 0.46, "glandular": 0.80, "tumour": 0.85, "skin": 0.80}

MassType = Literal["round_oval", "spiculated", "irregular"]


def power_law_field(shape: Sequence[int], spacing: Sequence[float], beta: float, rng: np.random.Generator) -> np.ndarray:
    """A zero-mean, unit-variance Gaussian random field with power spectrum ``|f|**-beta`` (f in cycles/mm)."""
    freqs = np.meshgrid(*[np.fft.fftfreq(int(n), d=float(d)) for n, d in zip(shape, spacing)], indexing="ij")
    radius = np.sqrt(sum(f**2 for f in freqs))
    radius.flat[0] = np.inf
    amplitude = radius ** (-beta / 2.0)
    noise = np.fft.fftn(rng.standard_normal(tuple(int(n) for n in shape)))
    field = np.real(np.fft.ifftn(noise * amplitude))
    return (field - field.mean()) / (field.std() + 1e-12)


def _breast_region(shape: Sequence[int], spacing: Sequence[float], skin_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """In-plane half-ellipse against the chest wall (x = 0) over all slices, and its skin shell."""
    _, ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
    half_height, depth = ny / 2.0 * 0.92, nx * 0.9
    inside = ((yy + 0.5 - ny / 2) / half_height) ** 2 + ((xx + 0.5) / depth) ** 2 <= 1.0
    distance = ndimage.distance_transform_edt(inside, sampling=spacing[1:])
    distance[:, 0] = np.where(inside[:, 0], np.inf, 0)  # the chest wall side has no skin
    distance = ndimage.minimum_filter(distance, size=1)
    skin2d = inside & (distance < skin_mm)
    region = np.broadcast_to(inside, tuple(shape)).copy()
    skin = np.broadcast_to(skin2d, tuple(shape)).copy()
    thickness = max(int(round(skin_mm / spacing[0])), 1)
    skin[:thickness] |= region[:thickness]
    skin[-thickness:] |= region[-thickness:]
    return region, skin


def breast_phantom(shape: Sequence[int], spacing: Sequence[float], acr_density: int, rng: np.random.Generator,
                   beta: float = 3.0, skin_mm: float = 1.5) -> tuple[np.ndarray, np.ndarray, float]:
    """Attenuation volume (per mm), the breast mask and the realised glandular fraction of one phantom."""
    if acr_density not in ACR_GLANDULAR_FRACTION:
        raise InvalidInputError(f"acr_density: 1-4, got {acr_density}")
    if len(shape) != 3 or len(spacing) != 3:
        raise InvalidInputError("breast_phantom: shape and spacing need three values (z, y, x)")
    region, skin = _breast_region(shape, spacing, skin_mm)
    fraction = float(rng.uniform(*ACR_GLANDULAR_FRACTION[acr_density]))
    field = power_law_field(shape, spacing, beta, rng)
    threshold = np.quantile(field[region], 1.0 - fraction)
    glandular = ndimage.gaussian_filter((field >= threshold).astype(float), 0.6)  # partial-volume edges
    mu = (MU_PER_CM["adipose"] + (MU_PER_CM["glandular"] - MU_PER_CM["adipose"]) * glandular) / 10.0
    mu = np.where(skin, MU_PER_CM["skin"] / 10.0, mu)
    return np.where(region, mu, 0.0).astype(np.float32), region, fraction


def _grid_mm(radius_mm: float, spacing: Sequence[float]) -> tuple[np.ndarray, ...]:
    half = [int(math.ceil(radius_mm / s)) + 1 for s in spacing]
    axes = [(np.arange(-h, h + 1)) * s for h, s in zip(half, spacing)]
    return tuple(np.meshgrid(*axes, indexing="ij"))


def _ellipsoid(grid: tuple[np.ndarray, ...], centre: np.ndarray, semi_axes: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    pts = np.stack([g - c for g, c in zip(grid, centre)], -1) @ rotation
    return np.sum((pts / semi_axes) ** 2, -1) <= 1.0


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    return q * np.sign(np.diag(r))


def mass_mask(mass_type: MassType, diameter_mm: float, spacing: Sequence[float], rng: np.random.Generator) -> np.ndarray:
    """Binary mass of ``mass_type`` whose largest extent is about ``diameter_mm``, on a grid of ``spacing``."""
    if mass_type not in MASS_TYPES:
        raise InvalidInputError(f"mass_type: one of {MASS_TYPES}, got {mass_type!r}")
    if diameter_mm <= 0:
        raise InvalidInputError(f"diameter_mm: must be > 0, got {diameter_mm}")
    radius = diameter_mm / 2.0
    grid = _grid_mm(radius * 1.05, spacing)
    zero = np.zeros(3)
    if mass_type == "round_oval":
        axes = radius * np.array([1.0, rng.uniform(0.7, 1.0), rng.uniform(0.6, 1.0)])
        return _ellipsoid(grid, zero, axes, _random_rotation(rng))
    core_axes = radius * np.array([0.5, rng.uniform(0.35, 0.5), rng.uniform(0.35, 0.5)])
    mask = _ellipsoid(grid, zero, core_axes, _random_rotation(rng))
    if mass_type == "irregular":
        for _ in range(int(rng.integers(3, 6))):
            direction = rng.standard_normal(3)
            direction /= np.linalg.norm(direction)
            lobe = radius * rng.uniform(0.25, 0.45)
            centre = direction * (radius - lobe)
            mask |= _ellipsoid(grid, centre, lobe * rng.uniform(0.7, 1.0, 3), _random_rotation(rng))
        rough = ndimage.gaussian_filter(rng.standard_normal(mask.shape), 1.0)
        return ndimage.binary_opening(mask & (rough > -0.25) | ndimage.binary_erosion(mask, iterations=2))
    for _ in range(int(rng.integers(8, 16))):  # spiculated: thin spicules out to the full radius
        direction = rng.standard_normal(3)
        direction /= np.linalg.norm(direction)
        length = radius * rng.uniform(0.75, 1.0)
        pts = np.stack(grid, -1)
        along = pts @ direction
        across = np.linalg.norm(pts - along[..., None] * direction, axis=-1)
        width = max(0.4, 0.06 * radius) * np.clip(1.0 - along / length, 0.0, 1.0)
        mask |= (along > 0) & (along <= length) & (across <= width + 0.2)
    return mask


def insert_mass(mu: np.ndarray, region: np.ndarray, mask: np.ndarray, corner: Sequence[int],
                rng: np.random.Generator) -> np.ndarray:
    """Write a mass (tumour attenuation with faint internal texture) into ``mu`` at ``corner``; its full mask."""
    full = np.zeros(mu.shape, bool)
    sl = tuple(slice(c, c + n) for c, n in zip(corner, mask.shape))
    full[sl] = mask
    full &= region
    soft = ndimage.gaussian_filter(full.astype(float), 0.7)
    texture = 1.0 + 0.03 * rng.standard_normal(mu.shape)
    tumour = MU_PER_CM["tumour"] / 10.0 * texture
    mu[...] = np.where(region, (1 - soft) * mu + soft * tumour, mu).astype(mu.dtype)
    return full


def _shift_rows(volume: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Shift every z-slice of ``volume`` along y by ``shifts[z]`` voxels (linear interpolation, zero fill)."""
    out = np.zeros_like(volume)
    ny = volume.shape[1]
    for z, s in enumerate(shifts):
        base = int(math.floor(s))
        frac = s - base
        for offset, weight in ((base, 1.0 - frac), (base + 1, frac)):
            if weight == 0.0 or abs(offset) >= ny:
                continue
            if offset >= 0:
                out[z, offset:] += weight * volume[z, :ny - offset]
            else:
                out[z, :ny + offset] += weight * volume[z, -offset:]
    return out


def _view_shifts(angle_deg: float, nz: int, spacing: Sequence[float]) -> np.ndarray:
    """Row shift of each slice for a ray at ``angle_deg`` from z, about the central slice."""
    dz = (np.arange(nz) - (nz - 1) / 2.0) * spacing[0]
    return dz * math.tan(math.radians(angle_deg)) / spacing[1]


def project(mu: np.ndarray, spacing: Sequence[float], angles_deg: Sequence[float]) -> np.ndarray:
    """Line integrals ``(n_views, y, x)`` of ``mu`` (per mm) along parallel rays tilted in the z-y plane."""
    out = np.empty((len(angles_deg),) + mu.shape[1:], np.float64)
    for k, a in enumerate(angles_deg):
        path = spacing[0] / math.cos(math.radians(a))
        out[k] = _shift_rows(mu, _view_shifts(a, mu.shape[0], spacing)).sum(0) * path
    return out


def back_project(view: np.ndarray, nz: int, spacing: Sequence[float], angle_deg: float) -> np.ndarray:
    """Adjoint of one view of :func:`project` (up to the path length): smear ``view`` back along its rays."""
    stack = np.broadcast_to(view, (nz,) + view.shape).copy()
    return _shift_rows(stack, -_view_shifts(angle_deg, nz, spacing))


def sart_reconstruct(projections: np.ndarray, nz: int, spacing: Sequence[float], angles_deg: Sequence[float],
                     n_iter: int = 2, relaxation: float = 0.5, support: np.ndarray | None = None) -> np.ndarray:
    """SART: for each view, ``f += lambda * BP((p - A f) / A 1) / BP(1)``, clipped at 0 (and to ``support``)."""
    shape = (nz,) + projections.shape[1:]
    f = np.zeros(shape, np.float64)
    ray_sums = np.maximum(project(np.ones(shape), spacing, angles_deg), 1e-6)
    weights = [np.maximum(back_project(np.ones(shape[1:]), nz, spacing, a), 1e-6) for a in angles_deg]
    for _ in range(int(n_iter)):
        for k, a in enumerate(angles_deg):
            residual = (projections[k] - project(f, spacing, [a])[0]) / ray_sums[k]
            f += relaxation * back_project(residual, nz, spacing, a) / weights[k]
            np.clip(f, 0.0, None, out=f)
            if support is not None:
                f *= support
    return f


@dataclass
class SimulatedView:
    """One simulated DBT view and its known answer."""

    volume: np.ndarray       # reconstructed, in glandular-attenuation units, float32 (z, y, x)
    mask: np.ndarray         # true mass voxels (bool)
    box: np.ndarray          # [z0, y0, x0, z1, y1, x1] of the mask, voxels
    breast_mask: np.ndarray  # breast region (bool)
    spacing: tuple[float, float, float]
    glandular_fraction: float
    diameter_mm: float


def simulate_view(shape: Sequence[int], spacing: Sequence[float], acr_density: int, mass_type: MassType,
                  diameter_mm: float, rng: np.random.Generator, n_projections: int = 20, half_angle_deg: float = 10.0,
                  noise: float = 0.01, n_iter: int = 2) -> SimulatedView:
    """Phantom, mass, limited-angle acquisition (``n_projections`` over ``+/- half_angle_deg``) and SART."""
    mu, region, fraction = breast_phantom(shape, spacing, acr_density, rng)
    mass = mass_mask(mass_type, diameter_mm, spacing, rng)
    depth = ndimage.distance_transform_edt(region[shape[0] // 2], sampling=spacing[1:])
    depth[:, 0] = 0.0  # keep the mass off the chest wall edge
    inside = np.argwhere(depth > diameter_mm / 2.0 + 2.0)
    if inside.size == 0:
        inside = np.argwhere(depth == depth.max())
    centre_yx = inside[rng.integers(len(inside))]
    corner = [max((shape[0] - mass.shape[0]) // 2, 0) + int(rng.integers(-1, 2)),
              int(centre_yx[0]) - mass.shape[1] // 2, int(centre_yx[1]) - mass.shape[2] // 2]
    pad = [max(0, -c) for c in corner]
    mass = mass[pad[0]:, pad[1]:, pad[2]:]
    corner = [max(c, 0) for c in corner]
    mass = mass[:shape[0] - corner[0], :shape[1] - corner[1], :shape[2] - corner[2]]
    truth = insert_mass(mu, region, mass, corner, rng)
    angles = np.linspace(-half_angle_deg, half_angle_deg, int(n_projections))
    views = project(mu, spacing, angles)
    views += rng.normal(0.0, noise * float(views.max()), views.shape)
    support = np.broadcast_to(region[shape[0] // 2], tuple(shape))
    recon = sart_reconstruct(views, int(shape[0]), spacing, angles, n_iter=n_iter, support=support)
    volume = (recon * 10.0 / MU_PER_CM["glandular"]).astype(np.float32)
    idx = np.argwhere(truth)
    box = np.concatenate([idx.min(0), idx.max(0) + 1]).astype(float) if idx.size else np.zeros(6)
    measured = float(max((box[3:] - box[:3]) * np.asarray(spacing))) if idx.size else 0.0
    return SimulatedView(volume, truth, box, region, tuple(float(s) for s in spacing), fraction, measured)
