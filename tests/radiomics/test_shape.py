"""Shape features of a cube, a box, a sphere and a square against analytic values."""
from __future__ import annotations

import math

import numpy as np
import pytest

from biomedai.radiomics.features.shape import features2d, features3d


def cube_mesh(n: int) -> tuple[float, float]:
    """Volume and area of the marching-cubes mesh of an n^3-voxel cube (unit spacing).

    The mesh is the box [-0.5, n-0.5]^3 with its 12 edges chamfered at 45 degrees (legs 0.5) and
    its 8 corners cut by equilateral triangles through the edge midpoints.
    """
    m = n - 1
    volume = m ** 3 + 3 * m ** 2 + 1.5 * m + 1 / 6
    area = 6 * m ** 2 + 6 * math.sqrt(2) * m + math.sqrt(3)
    return volume, area


@pytest.mark.parametrize("n", [2, 3, 7])
def test_cube_matches_analytic_mesh(n):
    f = features3d(np.ones((n, n, n), bool), np.ones(3))
    volume, area = cube_mesh(n)
    assert f["VoxelVolume"] == n ** 3
    assert f["MeshVolume"] == pytest.approx(volume, rel=1e-12)
    assert f["SurfaceArea"] == pytest.approx(area, rel=1e-12)
    assert f["Sphericity"] == pytest.approx((36 * math.pi * volume ** 2) ** (1 / 3) / area, rel=1e-12)
    assert f["Maximum3DDiameter"] == pytest.approx(math.sqrt(n ** 2 + 2 * (n - 1) ** 2), rel=1e-12)
    in_plane = math.sqrt(n ** 2 + (n - 1) ** 2)
    for name in ("Maximum2DDiameterSlice", "Maximum2DDiameterColumn", "Maximum2DDiameterRow"):
        assert f[name] == pytest.approx(in_plane, rel=1e-12)
    axis = 4 * math.sqrt((n ** 2 - 1) / 12)  # 4 * SD of a uniform 0..n-1 grid
    for name in ("MajorAxisLength", "MinorAxisLength", "LeastAxisLength"):
        assert f[name] == pytest.approx(axis, rel=1e-9)
    assert f["Elongation"] == pytest.approx(1.0) and f["Flatness"] == pytest.approx(1.0)


def test_spacing_scales_volume_and_area():
    f1 = features3d(np.ones((4, 4, 4), bool), np.ones(3))
    f2 = features3d(np.ones((4, 4, 4), bool), np.full(3, 2.0))
    assert f2["MeshVolume"] == pytest.approx(8 * f1["MeshVolume"])
    assert f2["SurfaceArea"] == pytest.approx(4 * f1["SurfaceArea"])
    assert f2["Maximum3DDiameter"] == pytest.approx(2 * f1["Maximum3DDiameter"])


def test_box_axis_lengths_follow_its_sides():
    f = features3d(np.ones((3, 5, 9), bool), np.ones(3))
    assert f["MajorAxisLength"] == pytest.approx(4 * math.sqrt((9 ** 2 - 1) / 12))
    assert f["MinorAxisLength"] == pytest.approx(4 * math.sqrt((5 ** 2 - 1) / 12))
    assert f["LeastAxisLength"] == pytest.approx(4 * math.sqrt((3 ** 2 - 1) / 12))


def test_sphere_close_to_analytic():
    r = 12
    z, y, x = np.indices((2 * r + 3,) * 3) - (r + 1)
    ball = x ** 2 + y ** 2 + z ** 2 <= r ** 2
    f = features3d(ball, np.ones(3))
    assert f["VoxelVolume"] == pytest.approx(4 / 3 * math.pi * r ** 3, rel=0.02)
    assert f["MeshVolume"] == pytest.approx(4 / 3 * math.pi * r ** 3, rel=0.03)
    # marching cubes on a digital sphere overestimates the area by a few per cent
    assert 1.0 < f["SurfaceArea"] / (4 * math.pi * r ** 2) < 1.1
    assert 0.9 < f["Sphericity"] < 1.0
    assert f["Maximum3DDiameter"] == pytest.approx(2 * r + 1, rel=0.02)
    assert f["MajorAxisLength"] == pytest.approx(4 * r / math.sqrt(5), rel=0.02)
    assert f["Elongation"] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("n", [2, 5])
def test_square_matches_analytic_contour(n):
    f = features2d(np.ones((n, n), bool), np.ones(2))
    m = n - 1
    assert f["PixelSurface"] == n * n
    assert f["MeshSurface"] == pytest.approx(m ** 2 + 2 * m + 0.5)
    assert f["Perimeter"] == pytest.approx(4 * m + 2 * math.sqrt(2))
    assert f["MaximumDiameter"] == pytest.approx(math.sqrt(n ** 2 + m ** 2))


def test_disk_close_to_analytic():
    r = 20
    y, x = np.indices((2 * r + 3,) * 2) - (r + 1)
    f = features2d(x ** 2 + y ** 2 <= r ** 2, np.ones(2))
    assert f["MeshSurface"] == pytest.approx(math.pi * r ** 2, rel=0.01)
    assert f["Perimeter"] == pytest.approx(2 * math.pi * r, rel=0.1)
    assert f["Sphericity"] > 0.9
