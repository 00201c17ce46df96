"""Contact mechanics of a tactile probe pressed into soft tissue that holds a stiffer spherical inclusion.

Two models with one interface, units mm, N and N/mm^2 (= MPa; 1 kPa = 1e-3 N/mm^2):

* :func:`fe_indentation`: a linear-elastic finite-element solve (scikit-fem, trilinear hexahedra on a
  tensor-product mesh) of the whole block; the probe is a rigid plate with an elastic skin
  (Winkler layer of stiffness ``k_skin`` per area) pushed ``delta`` into the top face, bottom fixed.
* :class:`HalfSpaceModel`: the fast approximation. Boussinesq's half-space compliance integrated
  exactly over each taxel square gives the taxel-to-taxel compliance; the block's finite depth and
  the inclusion scale each taxel's compliance by the depth-weighted inverse modulus below it (the
  vertical-strain weight of a circular load of radius ``influence_radius``). Checked against the FE
  result in the tests and benchmark.

In both, the taxel pressures solve ``p = k_skin (delta - u(p))`` with ``u`` the tissue surface
settlement, and the taxel force is the pressure integrated over the taxel.
"""
from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np

logger = logging.getLogger(__name__)

MODEL_VERSION = "tactile_mis.mechanics 1"


@dataclasses.dataclass(frozen=True)
class Tissue:
    """A soft block (top face at z = 0, thickness ``thickness``) with a spherical inclusion.

    ``depth`` is the depth of the inclusion centre below the surface; ``modulus`` values are in kPa.
    """

    modulus_kpa: float = 20.0
    poisson: float = 0.45
    thickness: float = 30.0
    size: float = 60.0
    inclusion_diameter: float = 0.0
    inclusion_depth: float = 6.0
    inclusion_modulus_kpa: float = 120.0
    inclusion_xy: tuple[float, float] = (0.0, 0.0)

    @property
    def has_inclusion(self) -> bool:
        return self.inclusion_diameter > 0 and self.inclusion_modulus_kpa != self.modulus_kpa

    def modulus_at(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Young's modulus (N/mm^2) at points; z is negative inside the block."""
        e0 = self.modulus_kpa * 1e-3
        if not self.has_inclusion:
            return np.full(np.broadcast(x, y, z).shape, e0)
        cx, cy = self.inclusion_xy
        inside = (x - cx) ** 2 + (y - cy) ** 2 + (z + self.inclusion_depth) ** 2 <= (self.inclusion_diameter / 2) ** 2
        return np.where(inside, self.inclusion_modulus_kpa * 1e-3, e0)


@dataclasses.dataclass(frozen=True)
class Probe:
    """A rigid rows x cols taxel array of square taxels (side ``pitch``) centred at ``center``."""

    rows: int = 12
    cols: int = 12
    pitch: float = 2.0
    k_skin: float = 0.02
    center: tuple[float, float] = (0.0, 0.0)

    def taxel_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) x and y of the taxel centres; row i runs along +y, column j along +x."""
        xs = (np.arange(self.cols) - (self.cols - 1) / 2) * self.pitch + self.center[0]
        ys = (np.arange(self.rows) - (self.rows - 1) / 2) * self.pitch + self.center[1]
        gx, gy = np.meshgrid(xs, ys)
        return gx, gy

    def moved(self, center: tuple[float, float]) -> Probe:
        return dataclasses.replace(self, center=(float(center[0]), float(center[1])))


# ------------------------------------------------------------------------------ Boussinesq
def boussinesq_displacement(force: float, r: np.ndarray, z: np.ndarray | float, modulus: float,
                            poisson: float) -> np.ndarray:
    """Vertical displacement (mm) at radius ``r`` and depth ``z`` >= 0 under a point force on a half-space.

    Boussinesq (1885): ``u_z = F (1 + nu) / (2 pi E R) [2 (1 - nu) + z^2 / R^2]``, ``R^2 = r^2 + z^2``;
    on the surface it is ``F (1 - nu^2) / (pi E r)``. ``modulus`` in N/mm^2.
    """
    r = np.asarray(r, float)
    z = np.asarray(z, float)
    big_r = np.sqrt(r ** 2 + z ** 2)
    return force * (1 + poisson) / (2 * math.pi * modulus * big_r) * (2 * (1 - poisson) + z ** 2 / big_r ** 2)


def _inverse_distance_corner(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The integral of 1/r over the rectangle [0, x] x [0, y] (signed in x and y)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ax, ay = np.abs(x), np.abs(y)
        part_x = np.where(ax > 0, x * np.arcsinh(np.divide(y, ax, where=ax > 0, out=np.zeros_like(y))), 0.0)
        part_y = np.where(ay > 0, y * np.arcsinh(np.divide(x, ay, where=ay > 0, out=np.zeros_like(x))), 0.0)
    return part_x + part_y


def rectangle_inverse_distance(dx: np.ndarray, dy: np.ndarray, half: float) -> np.ndarray:
    """The integral of 1/r over a square of half-side ``half`` whose centre is at (dx, dy) from the point."""
    dx, dy = np.asarray(dx, float), np.asarray(dy, float)
    x1, x2, y1, y2 = dx - half, dx + half, dy - half, dy + half
    f = _inverse_distance_corner
    return f(x2, y2) - f(x1, y2) - f(x2, y1) + f(x1, y1)


def strain_depth_weight(z: np.ndarray, radius: float, poisson: float) -> np.ndarray:
    """Share of the surface settlement under a uniform circular load (radius ``radius``) made at depth z.

    The on-axis vertical strain of the Boussinesq solution for a circular load (Poulos & Davis),
    normalised so that its integral over z in [0, inf) is 1.
    """
    z = np.asarray(z, float)
    c = z / np.sqrt(radius ** 2 + z ** 2)
    sigma_z = 1 - c ** 3
    sigma_r = 0.5 * ((1 + 2 * poisson) - 2 * (1 + poisson) * c + c ** 3)
    strain = sigma_z - 2 * poisson * sigma_r
    settlement = 2 * radius * (1 - poisson ** 2)   # E * u(0) / p for the same load
    return strain / settlement


def circle_overlap(distance: np.ndarray, r1: np.ndarray, r2: np.ndarray) -> np.ndarray:
    """Area shared by two discs of radii ``r1`` and ``r2`` whose centres are ``distance`` apart."""
    d, r1, r2 = np.broadcast_arrays(np.asarray(distance, float), np.asarray(r1, float), np.asarray(r2, float))
    small, large = np.minimum(r1, r2), np.maximum(r1, r2)
    out = np.where(d <= large - small, math.pi * small ** 2, 0.0)
    lens = (d < r1 + r2) & (d > large - small)
    if lens.any():
        dd, a, b = d[lens], r1[lens], r2[lens]
        alpha = np.arccos(np.clip((dd ** 2 + a ** 2 - b ** 2) / (2 * dd * a), -1, 1))
        beta = np.arccos(np.clip((dd ** 2 + b ** 2 - a ** 2) / (2 * dd * b), -1, 1))
        out[lens] = a ** 2 * (alpha - np.sin(2 * alpha) / 2) + b ** 2 * (beta - np.sin(2 * beta) / 2)
    return out


class HalfSpaceModel:
    """Fast probe-indentation model: Boussinesq taxel compliance scaled by the tissue below each taxel.

    The taxel-to-taxel compliance depends only on taxel offsets, so it is built once per probe
    geometry; each press costs one K x K solve.
    """

    def __init__(self, tissue: Tissue, probe: Probe, influence_radius: float = 16.0, depth_samples: int = 4001,
                 inclusion_slices: int = 48):
        self.tissue, self.probe, self.influence_radius = tissue, probe, influence_radius
        self.inclusion_slices = inclusion_slices
        gx, gy = probe.taxel_centres()
        dx = gx.ravel()[:, None] - gx.ravel()[None, :]
        dy = gy.ravel()[:, None] - gy.ravel()[None, :]
        # compliance (mm per N/mm^2 of pressure) of a homogeneous half-space of unit modulus
        self._unit_compliance = (1 - tissue.poisson ** 2) / math.pi * rectangle_inverse_distance(dx, dy,
                                                                                                  probe.pitch / 2)
        # W(z): share of the half-space settlement made above depth z (analytically W(inf) = 1)
        zmax = max(tissue.thickness, 200 * influence_radius)
        self._z = np.concatenate([[0.0], np.geomspace(1e-3 * influence_radius, zmax, depth_samples)])
        w = strain_depth_weight(self._z, influence_radius, tissue.poisson)
        self._cumulative = np.concatenate([[0.0], np.cumsum((w[1:] + w[:-1]) / 2 * np.diff(self._z))])

    def _weight_between(self, z0: np.ndarray, z1: np.ndarray) -> np.ndarray:
        w0 = np.interp(z0, self._z, self._cumulative)
        w1 = np.interp(z1, self._z, self._cumulative)
        return w1 - w0

    def compliance_factor(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Depth-weighted E0/E(z) below (x, y), down to the rigid base (1 = homogeneous half-space).

        At depth z a surface point feels the material within a cone of half-angle atan(1/2) (the
        2:1 load-spread rule; never narrower than a taxel): the inclusion counts with the share of
        that disc it covers.
        """
        t = self.tissue
        x, y = np.asarray(x, float), np.asarray(y, float)
        factor = np.full(x.shape, float(np.interp(t.thickness, self._z, self._cumulative)))
        if t.has_inclusion:
            radius = t.inclusion_diameter / 2
            z_edges = np.linspace(max(t.inclusion_depth - radius, 0.0), min(t.inclusion_depth + radius, t.thickness),
                                  self.inclusion_slices + 1)
            z_mid = (z_edges[1:] + z_edges[:-1]) / 2
            weight = self._weight_between(z_edges[:-1], z_edges[1:])                     # (S,)
            section = np.sqrt(np.clip(radius ** 2 - (z_mid - t.inclusion_depth) ** 2, 0, None))
            spread = np.maximum(0.5 * z_mid, self.probe.pitch / 2)
            distance = np.hypot(x - t.inclusion_xy[0], y - t.inclusion_xy[1])[..., None]
            share = circle_overlap(distance, spread, section) / (math.pi * spread ** 2)
            softer = 1 - t.modulus_kpa / t.inclusion_modulus_kpa
            factor = factor - softer * (share * weight).sum(-1)
        return factor

    def press(self, center: tuple[float, float], delta: float) -> np.ndarray:
        """(rows, cols) taxel forces (N) with the probe centred at ``center`` and pushed ``delta`` mm in."""
        probe = self.probe.moved(center)
        gx, gy = probe.taxel_centres()
        scale = np.sqrt(self.compliance_factor(gx.ravel(), gy.ravel()))
        e0 = self.tissue.modulus_kpa * 1e-3
        compliance = scale[:, None] * self._unit_compliance * scale[None, :] / e0
        k = probe.k_skin
        system = np.eye(len(scale)) + k * compliance
        pressure = np.linalg.solve(system, np.full(len(scale), k * delta))
        return (pressure * probe.pitch ** 2).reshape(probe.rows, probe.cols)


# ------------------------------------------------------------------------------ finite elements
def _graded_axis(inner: float, outer: float, step: float, growth: float = 1.4) -> np.ndarray:
    """Coordinates from -outer to outer: uniform ``step`` within [-inner, inner], growing outside."""
    n_inner = max(1, int(round(2 * inner / step)))
    core = np.linspace(-inner, inner, n_inner + 1)
    ticks, x, h = [], inner, step
    while x < outer - 1e-9:
        h *= growth
        x = min(outer, x + h)
        if outer - x < 0.5 * h:
            x = outer
        ticks.append(x)
    ticks = np.array(ticks)
    return np.concatenate([-ticks[::-1], core, ticks])


def fe_indentation(tissue: Tissue, probe: Probe, delta: float, elements_per_taxel: int = 2,
                   growth: float = 1.4) -> tuple[np.ndarray, dict[str, float]]:
    """Finite-element taxel forces (rows, cols) in N, and solve facts (nodes, dofs, seconds).

    Trilinear hexahedra (scikit-fem) on a tensor-product mesh: uniform with ``elements_per_taxel``
    elements per taxel side under the probe and through the inclusion depth, growing by ``growth``
    towards the block edges and the fixed base. The probe (centred on the block) is a rigid plate
    with an elastic skin: traction ``-k_skin (u_z + delta)`` on the covered part of the top face.
    """
    import time

    from skfem import (Basis, BilinearForm, ElementHex1, ElementVector, FacetBasis, Functional, LinearForm,
                       MeshHex, condense)
    from skfem.helpers import ddot, sym_grad, trace

    start = time.perf_counter()
    step = probe.pitch / elements_per_taxel
    half_x, half_y = probe.cols * probe.pitch / 2, probe.rows * probe.pitch / 2
    xs = _graded_axis(half_x, tissue.size / 2, step, growth) + probe.center[0]
    ys = _graded_axis(half_y, tissue.size / 2, step, growth) + probe.center[1]
    fine_depth = min(tissue.thickness, max(tissue.inclusion_depth + tissue.inclusion_diameter, 2 * step))
    n_fine = max(1, int(round(fine_depth / step)))
    zs_fine = -np.linspace(0, n_fine * step, n_fine + 1)
    zs, z, h = list(zs_fine), n_fine * step, step
    while z < tissue.thickness - 1e-9:
        h *= growth
        z = min(tissue.thickness, z + h)
        if tissue.thickness - z < 0.5 * h:
            z = tissue.thickness
        zs.append(-z)
    mesh = MeshHex.init_tensor(xs, ys, np.sort(np.array(zs)))
    element = ElementVector(ElementHex1())
    basis = Basis(mesh, element, intorder=2)
    nu = tissue.poisson

    @BilinearForm
    def stiffness(u, v, w):
        modulus = tissue.modulus_at(w.x[0], w.x[1], w.x[2])
        lam = modulus * nu / ((1 + nu) * (1 - 2 * nu))
        mu = modulus / (2 * (1 + nu))
        eps_u, eps_v = sym_grad(u), sym_grad(v)
        return lam * trace(eps_u) * trace(eps_v) + 2 * mu * ddot(eps_u, eps_v)

    tol = 1e-6
    x0, y0 = probe.center

    def covered(x: np.ndarray) -> np.ndarray:
        return ((np.abs(x[2]) < tol) & (np.abs(x[0] - x0) <= half_x + tol) & (np.abs(x[1] - y0) <= half_y + tol))

    facets = mesh.facets_satisfying(covered, boundaries_only=True)
    skin_basis = FacetBasis(mesh, element, facets=facets, intorder=2)
    k = probe.k_skin

    @BilinearForm
    def skin(u, v, w):
        return k * u[2] * v[2]

    @LinearForm
    def push(v, w):
        return -k * delta * v[2]

    matrix = stiffness.assemble(basis) + skin.assemble(skin_basis)
    load = push.assemble(skin_basis)
    fixed = basis.get_dofs(lambda x: np.abs(x[2] + tissue.thickness) < tol).all()
    solution = np.zeros(basis.N)
    a_free, b_free, _, free = condense(matrix, load, D=fixed)
    solution[free] = _solve(a_free, b_free)

    @Functional
    def pressure(w):
        return k * (w["u"].value[2] + delta)

    per_facet = pressure.elemental(skin_basis, u=skin_basis.interpolate(solution))
    mid = mesh.p[:, mesh.facets[:, facets]].mean(axis=1)
    col = np.clip(np.floor((mid[0] - (x0 - half_x)) / probe.pitch).astype(int), 0, probe.cols - 1)
    row = np.clip(np.floor((mid[1] - (y0 - half_y)) / probe.pitch).astype(int), 0, probe.rows - 1)
    forces = np.zeros((probe.rows, probe.cols))
    np.add.at(forces, (row, col), per_facet)
    facts = {"nodes": int(mesh.p.shape[1]), "elements": int(mesh.t.shape[1]), "dofs": int(basis.N),
             "seconds": time.perf_counter() - start}
    logger.debug("FE indentation: %s", facts)
    return forces, facts


def _solve(matrix, rhs: np.ndarray) -> np.ndarray:
    """Sparse direct solve for small systems; algebraic multigrid + CG (pyamg) for large ones."""
    import scipy.sparse.linalg as spla

    if matrix.shape[0] > 25_000:
        try:
            import pyamg
        except ImportError:
            logger.info("pyamg is not installed; solving %d unknowns directly (slow)", matrix.shape[0])
        else:
            solver = pyamg.smoothed_aggregation_solver(matrix.tocsr(), max_coarse=500)
            return solver.solve(rhs, tol=1e-9, accel="cg", maxiter=500)
    return spla.spsolve(matrix.tocsc(), rhs)
