"""Forward model: Boussinesq against its closed form, FE convergence, FE vs the fast model, map peaks."""
from __future__ import annotations

import math

import numpy as np
import pytest

from biomedai.methods.tactile_mis.maps import subtraction_stiffness_map
from biomedai.methods.tactile_mis.mechanics import (HalfSpaceModel, Probe, Tissue, boussinesq_displacement,
                                                    circle_overlap, fe_indentation, rectangle_inverse_distance,
                                                    strain_depth_weight)


def test_boussinesq_surface_closed_form_and_far_patch():
    e, nu, force = 0.06, 0.45, 0.3
    r = np.array([1.0, 2.0, 5.0])
    assert np.allclose(boussinesq_displacement(force, r, 0.0, e, nu), force * (1 - nu ** 2) / (math.pi * e * r))
    # a uniform patch far away acts as the point load of the same total force
    half, dist = 0.5, 30.0
    patch = (1 - nu ** 2) / (math.pi * e) * rectangle_inverse_distance(dist, 0.0, half) * force / (2 * half) ** 2
    assert patch == pytest.approx(float(boussinesq_displacement(force, dist, 0.0, e, nu)), rel=1e-3)


def test_rectangle_integral_matches_quadrature():
    grid = (np.arange(2000) + 0.5) / 2000 * 2 - 1          # midpoints on [-1, 1]
    x, y = np.meshgrid(grid, grid)
    for dx, dy in [(0.0, 0.0), (1.5, 0.7), (-3.0, 2.0)]:
        numeric = (1 / np.hypot(x + dx, y + dy)).sum() * (2 / 2000) ** 2
        assert float(rectangle_inverse_distance(dx, dy, 1.0)) == pytest.approx(numeric, rel=2e-3)
    assert float(rectangle_inverse_distance(0.0, 0.0, 1.0)) == pytest.approx(8 * math.log(1 + math.sqrt(2)))


def test_depth_weight_integrates_to_one_and_overlap_limits():
    z = np.concatenate([[0], np.geomspace(1e-4, 1e5, 200001)])
    w = strain_depth_weight(z, 2.0, 0.45)
    assert np.trapezoid(w, z) == pytest.approx(1.0, abs=2e-3)
    assert circle_overlap(np.array(0.0), 1.0, 2.0) == pytest.approx(math.pi)
    assert circle_overlap(np.array(3.1), 1.0, 2.0) == 0.0


SMALL_PROBE = Probe(2, 2, 4.0, 0.05)
SMALL_BLOCK = Tissue(modulus_kpa=60, size=24.0, thickness=12.0)


def test_fe_symmetric_and_close_to_the_fast_model():
    forces, facts = fe_indentation(SMALL_BLOCK, SMALL_PROBE, 1.0, elements_per_taxel=2)
    assert np.allclose(forces, forces[0, 0], rtol=1e-6) and facts["dofs"] > 0
    fast = HalfSpaceModel(SMALL_BLOCK, SMALL_PROBE, influence_radius=4.0).press((0.0, 0.0), 1.0)
    assert fast.sum() == pytest.approx(forces.sum(), rel=0.3)


@pytest.mark.slow
def test_fe_converges_under_mesh_refinement():
    block = Tissue(modulus_kpa=60, size=48.0, thickness=24.0)
    totals = np.array([fe_indentation(block, Probe(4, 4, 4.0, 0.05), 1.0, n)[0].sum() for n in (1, 2, 3, 4)])
    error = np.abs(totals[:-1] - totals[-1])            # against the finest mesh
    assert error[0] > error[1] > error[2] and error[2] < 0.01 * totals[-1]


def test_stiffness_map_peaks_over_the_inclusion_fast_and_fe():
    probe = Probe(4, 4, 4.0, 0.05)
    block = Tissue(modulus_kpa=60, size=32.0, thickness=16.0)
    stiff = Tissue(modulus_kpa=60, size=32.0, thickness=16.0, inclusion_diameter=6.0, inclusion_depth=4.5,
                   inclusion_modulus_kpa=600.0, inclusion_xy=(2.0, 2.0))   # over taxel (2, 2)
    fast = subtraction_stiffness_map(HalfSpaceModel(stiff, probe, 8.0).press((0, 0), 1.0),
                                     HalfSpaceModel(block, probe, 8.0).press((0, 0), 1.0))
    fe = subtraction_stiffness_map(fe_indentation(stiff, probe, 1.0, 1)[0], fe_indentation(block, probe, 1.0, 1)[0])
    for excess in (fast, fe):
        assert np.unravel_index(int(np.argmax(excess)), excess.shape) == (2, 2)
        assert excess.max() > 0.01
