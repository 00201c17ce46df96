"""3D local binary patterns with spherical harmonics (PyRadiomics' ``LBP3D`` image type).

PyRadiomics' definition (``imageoperations.getLBP3DImage``, after Banerjee et al. 2013):

1. sample the image on an icosphere around each voxel: the vertices of trimesh's
   ``icosphere(subdivision, radius)`` (in voxel units, no spacing), vertex component x added to
   numpy axis 0, y to axis 1, z to axis 2, values by cubic-spline interpolation
   (``scipy.ndimage.map_coordinates(image, ..., order=3)``: constant 0 outside the image,
   output in the image's dtype);
2. the kurtosis of those samples (``scipy.stats.kurtosis``, Fisher, biased) is the image ``k``;
3. the samples become 1 where >= the centre voxel, 0 elsewhere; their spherical-harmonic
   coefficients ``c_mn = sum_v s_v Y_mn(v)`` for degrees n < ``lbp3DLevels``, then for each
   degree the function ``F_n(v) = sum_m c_mn Y_mn(v)`` and the image
   ``m<n+1> = Re(sqrt(sum_v F_n(v)**2))`` (the complex square, as PyRadiomics writes it).

PyRadiomics calls ``scipy.special.sph_harm(m, n, theta, phi)`` with ``theta`` the polar angle
``arccos(z / r)`` and ``phi`` the azimuth ``arctan2(y, x)``, i.e. in the argument slots of the
azimuth and the polar angle respectively (swapped relative to scipy's convention). That is kept:
it is the definition, and it is what PyRadiomics returned. scipy 1.17 removed ``sph_harm``; its
documented replacement ``sph_harm_y(n, m, phi, theta)`` is the same function.

Choices where the definition leaves a gap (see the radiomics README):

- kurtosis of samples with no spread (a flat neighbourhood): scipy >= 1.9 returns NaN, which
  would make the ``k`` image unusable (and PyRadiomics fail on it); scipy of PyRadiomics' time
  returned -3 (m4 / m2**2 taken as 0). We use -3.
- ``lbp3DIcosphereSubdivision: 0``: recent trimesh scales the icosahedron to the radius; so do we.
- Values are computed at every voxel of the ROI's box (PyRadiomics: ROI voxels only, the rest
  uninitialised); features use ROI voxels only, so results are the same.
"""
from __future__ import annotations

import logging
import warnings

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["icosphere_vertices", "spherical_harmonics", "lbp3d_images"]

_GOLDEN = (1.0 + 5.0 ** 0.5) / 2.0
#: trimesh's icosahedron: vertices (before scaling to radius 1) and faces.
_ICO_VERTICES = np.array([[-1, _GOLDEN, 0], [1, _GOLDEN, 0], [-1, -_GOLDEN, 0], [1, -_GOLDEN, 0],
                          [0, -1, _GOLDEN], [0, 1, _GOLDEN], [0, -1, -_GOLDEN], [0, 1, -_GOLDEN],
                          [_GOLDEN, 0, -1], [_GOLDEN, 0, 1], [-_GOLDEN, 0, -1], [-_GOLDEN, 0, 1]],
                         dtype=float) / np.sqrt(2.0 + _GOLDEN)
_ICO_FACES = np.array([[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4],
                       [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8],
                       [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]])
#: Samples per chunk of voxels (bounds the (voxels x vertices) temporaries).
_CHUNK = 20000
#: The cubic B-spline prefilter's pole is sqrt(3) - 2 (|z| = 0.268): 32 voxels of margin change a
#: value by less than 0.268**32 = 5e-19 of the image's range, so a crop equals the whole image.
SPLINE_MARGIN = 32


def _project(vertices: np.ndarray, radius: float) -> np.ndarray:
    """Trimesh's step: move each vertex along its direction onto the sphere of ``radius``."""
    scalar = np.sqrt(np.dot(vertices ** 2, [1, 1, 1]))
    unit = vertices / scalar.reshape((-1, 1))
    return vertices + unit * (radius - scalar).reshape((-1, 1))


def icosphere_vertices(subdivisions: int = 1, radius: float = 1.0) -> np.ndarray:
    """Vertices (x, y, z) of trimesh's ``icosphere(subdivisions, radius)``: edge midpoints added per step.

    Example:
        >>> icosphere_vertices(1, 2.0).shape, bool(np.allclose(np.linalg.norm(icosphere_vertices(1, 2.0), axis=1), 2))
        ((42, 3), True)
    """
    vertices, faces = _ICO_VERTICES.copy(), _ICO_FACES.copy()
    for _ in range(subdivisions):
        edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
        unique, inverse = np.unique(edges, axis=0, return_inverse=True)
        mid = len(vertices) + inverse.reshape(3, -1).T  # midpoint index of edges (01, 12, 20) of each face
        vertices = np.vstack([vertices, vertices[unique].mean(axis=1)])
        a, b, c = faces.T
        ab, bc, ca = mid.T
        faces = np.concatenate([np.stack(t, axis=1) for t in ((a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca))])
        vertices = _project(vertices, radius)
    if subdivisions <= 0:
        vertices = _project(vertices, radius)
    return vertices


def spherical_harmonics(vertices: np.ndarray, radius: float, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """``Y[v, j]`` for (n, m) in PyRadiomics' order (n = 0..levels-1, m = -n..n) and each column's n."""
    from scipy.special import sph_harm_y

    theta = np.arccos(np.true_divide(vertices[:, 2], radius))  # PyRadiomics' names, see the module docstring
    phi = np.arctan2(vertices[:, 1], vertices[:, 0])
    columns, degree = [], []
    for n in range(levels):
        for m in range(-n, n + 1):
            columns.append(sph_harm_y(n, m, phi, theta))  # == the removed sph_harm(m, n, theta, phi)
            degree.append(n)
    return np.stack(columns, axis=1), np.array(degree)


def _kurtosis(samples: np.ndarray) -> np.ndarray:
    """Scipy's Fisher kurtosis of each row; -3 where the samples have no spread (see the module docstring)."""
    from scipy.stats import kurtosis

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "precision loss" on flat rows: handled below
        k = kurtosis(samples, axis=1)
    return np.where(np.isnan(k), -3.0, k)


def lbp3d_images(array: np.ndarray, inner: tuple[slice, ...], levels: int = 2, radius: float = 1.0,
                 subdivisions: int = 1) -> list[tuple[np.ndarray, str]]:
    """LBP3D images (``lbp-3D-m1`` .. ``lbp-3D-m<levels>``, ``lbp-3D-k``) on the box ``array[inner]``.

    ``array`` is the image (or a crop of it reaching at least ``ceil(radius) + 2 +``
    :data:`SPLINE_MARGIN` voxels past the box, or to the image's border).
    """
    from scipy import ndimage

    vertices = icosphere_vertices(subdivisions, radius)
    Y, degree = spherical_harmonics(vertices, radius, levels)
    coefficients = ndimage.spline_filter(array, 3, output=np.float64, mode="constant")
    box_shape = tuple(s.stop - s.start for s in inner)
    offset = np.array([s.start for s in inner])
    n_vox = int(np.prod(box_shape))
    maps = np.zeros((levels, n_vox))
    kurt = np.zeros(n_vox)
    for start in range(0, n_vox, _CHUNK):
        idx = np.arange(start, min(start + _CHUNK, n_vox))
        centre = np.stack(np.unravel_index(idx, box_shape), axis=1) + offset  # (Np, 3) in the array
        coords = centre[None, :, :] + vertices[:, None, :]  # (Nv, Np, 3): vertex x on axis 0, as PyRadiomics
        samples = ndimage.map_coordinates(coefficients, coords.T, output=array.dtype, order=3, mode="constant",
                                          prefilter=False)  # (Np, Nv), rounded to the image's dtype
        kurt[idx] = _kurtosis(samples)
        signs = (samples >= array[tuple(centre.T)][:, None]).astype(float)
        c = signs @ Y  # (Np, n coefficients)
        for n in range(levels):
            cols = degree == n
            f = c[:, cols] @ Y[:, cols].T  # (Np, Nv): sum over m of c_mn Y_mn(v)
            maps[n, idx] = np.real(np.sqrt(np.sum(f ** 2, axis=1)))
    out = [(maps[n].reshape(box_shape), f"lbp-3D-m{n + 1}") for n in range(levels)]
    out.append((kurt.reshape(box_shape), "lbp-3D-k"))
    return out

