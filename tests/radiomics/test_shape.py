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


def test_cube_triangle_table_equals_scikit_image():
    """The stored marching-cubes table is what scikit-image's Lorensen tables give."""
    from biomedai.radiomics.features import shape

    assert "".join(shape._CUBE_TRIANGLES) == shape.cube_triangles_from_skimage()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_max_distance_equals_all_pairs(seed):
    """Line-extreme pruning (and the hull above 128 points) keeps the exact largest distance."""
    from scipy.spatial.distance import pdist

    from biomedai.radiomics.features.shape import _boundary_vertices, _max_distance

    rng = np.random.default_rng(seed)
    roi = np.zeros((14, 18, 16), bool)
    roi[2:-2, 2:-2, 2:-2] = rng.random((10, 14, 12)) < 0.6
    points = _boundary_vertices(np.pad(roi, 1)) * (np.array([2.5, 0.7, 1.1]) / 2)
    expected = math.sqrt(pdist(points, "sqeuclidean").max())
    assert _max_distance(points) == expected
    assert _max_distance(points[:, 1:]) == math.sqrt(pdist(points[:, 1:], "sqeuclidean").max())


def test_max_distance_through_the_hull_on_many_points():
    from scipy.spatial.distance import pdist

    from biomedai.radiomics.features.shape import _boundary_vertices, _line_extremes, _max_distance

    zz, yy, xx = np.indices((44, 44, 44)) - 21.5
    roi = zz ** 2 + (yy * 0.9) ** 2 + xx ** 2 < 20 ** 2  # a ball: nearly every boundary point is extreme
    points = _boundary_vertices(np.pad(roi, 1)) * 0.5
    pruned = _line_extremes(points)
    assert len(pruned) > 128  # the convex-hull branch
    assert _max_distance(points) == math.sqrt(pdist(pruned, "sqeuclidean").max())


@pytest.mark.parametrize("seed", [0, 1])
def test_planar_diameters_equal_all_pairs_per_plane(seed):
    """Skipping planes whose centroid bound cannot beat the best keeps every 2D diameter exactly."""
    from scipy import ndimage
    from scipy.spatial.distance import pdist

    from biomedai.radiomics.features.shape import _boundary_vertices, diameters

    rng = np.random.default_rng(seed)
    for _ in range(6):
        shape = tuple(int(v) for v in rng.integers(4, 22, 3))
        roi = ndimage.gaussian_filter(rng.normal(size=shape), rng.uniform(0.7, 2.5)) > rng.uniform(-0.2, 0.4)
        if not roi.any():
            continue
        spacing = rng.uniform(0.4, 2.0, 3)
        mask = np.pad(roi, 1)
        half = _boundary_vertices(mask)
        phys = half * (spacing / 2)
        expected = []
        for axis in range(3):
            best = 0.0
            for key in np.unique(half[:, axis]):
                plane = np.delete(phys[half[:, axis] == key], axis, axis=1)
                if len(plane) > 1:
                    best = max(best, math.sqrt(pdist(plane, "sqeuclidean").max()))
            expected.append(best)
        assert diameters(mask, spacing)[:3] == tuple(expected)
