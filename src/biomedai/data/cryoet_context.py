"""What surrounds a particle in a real subtomogram: neighbours cut by the box, membranes, gold fiducials.

Each is optional and seeded (``SimulationSettings.crowding``, ``membrane_probability``,
``fiducial_probability``). The densities are added to the rotated particle *before* imaging, so they go
through the same tilt series, CTF, missing wedge and noise; the ground-truth mask and label stay those of
the central particle. Scales are in voxels at the simulator's voxel size (10 A by default):

- **neighbours**: 0..``crowding`` other structures of the set, randomly rotated, their centres at the
  particle's radius plus 20-100 % of their own radius, so they overlap the box edge (as in crowded cytoplasm);
- **membrane**: a lipid bilayer, two Gaussian leaflets 40 A apart (sigma 6 A), gently curved, passing
  1-6 voxels outside the particle's radius, at 40-80 % of the particle's peak density;
- **fiducial**: a 10 nm gold bead (radius 50 A), 5x the particle's peak density, just outside the particle.
"""
from __future__ import annotations

import numpy as np

from .cryoet_geometry import rotate_volumes, uniform_random_rotations


def template_radii(stack: np.ndarray, mask_threshold: float) -> np.ndarray:
    """Radius (voxels) of each prepared template's mask about the box centre [n_templates]."""
    n = stack.shape[-1]
    centre = (n - 1) / 2.0
    radii = []
    for vol in stack:
        idx = np.argwhere(vol >= mask_threshold * max(float(vol.max()), 1e-12))
        radii.append(float(np.sqrt(((idx - centre) ** 2).sum(1)).max()) + 1.0 if len(idx) else 1.0)
    return np.asarray(radii)


def random_unit_vectors(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random unit vectors ``(n, 3)``, uniform on the sphere."""
    v = rng.standard_normal((n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def add_neighbours(particles: np.ndarray, labels: np.ndarray, stack: np.ndarray, radii: np.ndarray,
                   max_neighbours: int, rng: np.random.Generator) -> np.ndarray:
    """Add 0..``max_neighbours`` rotated, shifted templates to each particle volume [B, N, N, N]; counts [B]."""
    counts = rng.integers(0, max_neighbours + 1, len(particles))
    total = int(counts.sum())
    if total == 0:
        return counts
    owner = np.repeat(np.arange(len(particles)), counts)
    which = rng.integers(0, len(stack), total)
    distance = radii[labels[owner]] + radii[which] * rng.uniform(0.2, 1.0, total)
    shifts = random_unit_vectors(total, rng) * distance[:, None]
    rotated = rotate_volumes(stack[which], uniform_random_rotations(total, rng), shifts)
    np.add.at(particles, owner, rotated)
    return counts


def bilayer(shape: tuple[int, int, int], normal: np.ndarray, offset: float, curvature: float,
            amplitude: float, voxel_size_a: float) -> np.ndarray:
    """A gently curved lipid bilayer: two Gaussian leaflets 40 A apart (sigma 6 A) at ``offset`` voxels."""
    n = shape[0]
    c = (n - 1) / 2.0
    grid = np.stack(np.meshgrid(*(np.arange(s) - c for s in shape), indexing="ij"), -1)
    along = grid @ normal
    perp2 = (grid ** 2).sum(-1) - along ** 2
    s = along - offset + 0.5 * curvature * perp2
    half_gap, sigma = 20.0 / voxel_size_a, 6.0 / voxel_size_a
    return (amplitude * (np.exp(-(s - half_gap) ** 2 / (2 * sigma ** 2)) +
                         np.exp(-(s + half_gap) ** 2 / (2 * sigma ** 2)))).astype(np.float32)


def gold_bead(shape: tuple[int, int, int], centre_offset: np.ndarray, radius: float, amplitude: float) -> np.ndarray:
    """A solid sphere (soft edge of half a voxel) centred ``centre_offset`` voxels from the box centre."""
    c = (shape[0] - 1) / 2.0
    grid = np.stack(np.meshgrid(*(np.arange(s) - c for s in shape), indexing="ij"), -1)
    r = np.sqrt(((grid - centre_offset) ** 2).sum(-1))
    return (amplitude / (1.0 + np.exp((r - radius) / 0.5))).astype(np.float32)


def add_membranes_and_fiducials(particles: np.ndarray, labels: np.ndarray, radii: np.ndarray,
                                membrane_probability: float, fiducial_probability: float, voxel_size_a: float,
                                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Add a bilayer and/or a gold bead to each particle with the given probabilities; returns both flags [B]."""
    shape = particles.shape[1:]
    has_membrane = rng.random(len(particles)) < membrane_probability
    has_bead = rng.random(len(particles)) < fiducial_probability
    for b in np.flatnonzero(has_membrane | has_bead):
        r = radii[labels[b]]
        peak = max(float(particles[b].max()), 1e-6)
        if has_membrane[b]:
            particles[b] += bilayer(shape, random_unit_vectors(1, rng)[0], r + rng.uniform(1.0, 6.0),
                                    rng.uniform(0.0, 1.0 / 40.0), rng.uniform(0.4, 0.8) * peak, voxel_size_a)
        if has_bead[b]:
            bead_r = 50.0 / voxel_size_a
            offset = random_unit_vectors(1, rng)[0] * (r + bead_r + rng.uniform(0.0, 4.0))
            particles[b] += gold_bead(shape, offset, bead_r, 5.0 * peak)
    return has_membrane, has_bead
