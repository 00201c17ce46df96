"""LBP2D identical to PyRadiomics (whole-image filtering), and LBP3D against a brute-force definition."""
from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from biomedai.radiomics import extract


def flat_8bit_image() -> tuple[np.ndarray, np.ndarray]:
    """An 8-bit 2D image of flat 3x3 blocks (four grey levels) and a flat rectangle, and an ROI away from the origin.

    On flat regions scikit-image's bilinear sampling decides "neighbour >= centre" by rounding that
    depends on the absolute row and column, so a crop that does not start at (0, 0) changes pixels.
    """
    rng = np.random.default_rng(0)
    img = (np.kron(rng.integers(0, 4, (40, 47)), np.ones((3, 3), int)) * 60).astype(np.uint8)[:120, :140]
    img[10:60, 20:90] = 100
    mask = np.zeros(img.shape, np.uint8)
    mask[30:95, 35:120] = 1
    return img, mask


#: radius 2: the diagonal samples fall between pixels, where the rounding depends on the position
PARAMS = {"imageType": {"LBP2D": {}}, "featureClass": {"firstorder": [], "glcm": [], "glszm": []},
          "setting": {"binWidth": 1, "lbp2DRadius": 2}}


def test_lbp2d_filter_equals_whole_image():
    """The LBP box equals scikit-image on the whole image, pixel for pixel (2D and a volume's slices)."""
    import SimpleITK as sitk
    from skimage.feature import local_binary_pattern

    from biomedai.radiomics.filters import filtered_images
    from biomedai.radiomics.preprocessing import roi_bounds

    img, mask = flat_8bit_image()
    bb = roi_bounds(mask, 1)
    (box, name), = filtered_images(sitk.GetImageFromArray(img), "LBP2D", {"lbp2DRadius": 2}, bb)
    whole = local_binary_pattern(img, P=8, R=2, method="uniform")
    assert name == "lbp-2D"
    np.testing.assert_array_equal(box, whole[bb.slices()])

    vol = np.stack([img, np.roll(img, 7, axis=1), img[::-1]], axis=1)  # slices along axis 1
    vmask = np.zeros(vol.shape, np.uint8)
    vmask[40:90, 1:3, 30:100] = 1
    vbb = roi_bounds(vmask, 1)
    settings = {"force2D": True, "force2Ddimension": 1, "lbp2DRadius": 2, "lbp2DSamples": 16}
    (vbox, _), = filtered_images(sitk.GetImageFromArray(vol), "LBP2D", settings, vbb)
    expected = np.stack([local_binary_pattern(vol[:, i], P=16, R=2, method="uniform") for i in range(3)], axis=1)
    np.testing.assert_array_equal(vbox, expected.astype(vol.dtype)[vbb.slices()])


def test_lbp2d_features_equal_features_of_whole_image_lbp():
    """Brute force: features of LBP2D equal those of the Original pipeline on the whole image's LBP."""
    from skimage.feature import local_binary_pattern

    img, mask = flat_8bit_image()
    ours = extract(img, mask, PARAMS)
    lbp = local_binary_pattern(img, P=8, R=2, method="uniform")
    ref = extract(lbp, mask, {**PARAMS, "imageType": {"Original": {}}})
    names = [k for k in ours if k.startswith("lbp-2D_")]
    assert len(names) > 50
    for name in names:
        assert ours[name] == ref[name.replace("lbp-2D_", "original_")], name


def test_lbp2d_matches_pyradiomics_on_flat_8bit_image():
    pytest.importorskip("radiomics", reason="PyRadiomics is not installed (benchmarks/README-radiomics.md)")
    from radiomics import featureextractor, setVerbosity
    import SimpleITK as sitk

    setVerbosity(logging.CRITICAL)
    img, mask = flat_8bit_image()
    image, roi = sitk.GetImageFromArray(img), sitk.GetImageFromArray(mask)
    ref = featureextractor.RadiomicsFeatureExtractor(PARAMS).execute(image, roi)
    ours = extract(image, roi, PARAMS)
    names = [k for k in ref if k.startswith("lbp-2D_")]
    assert len(names) > 50
    bad = [(n, ours.get(n), float(ref[n])) for n in names
           if not math.isclose(ours.get(n, math.inf), float(ref[n]), rel_tol=1e-12, abs_tol=1e-12)]
    assert not bad, bad[:5]


# ------------------------------------------------------------------------------------------ LBP3D
# PyRadiomics cannot be the reference here: its getLBP3DImage imports scipy.special.sph_harm (removed in
# scipy 1.17) and trimesh, so on this stack it logs a warning and yields no image. The reference is a
# voxel-by-voxel transcription of its definition, built from independent pieces: the icosphere from
# the icosahedron's edges (pairs at the smallest distance), closed-form spherical harmonics, numpy
# kurtosis, and map_coordinates on the whole image as PyRadiomics calls it.
def _icosphere_by_edges(radius: float) -> np.ndarray:
    g = (1 + 5 ** 0.5) / 2
    base = np.array([p for s1 in (-1, 1) for s2 in (-1, 1)
                     for p in ((s1, s2 * g, 0), (0, s1, s2 * g), (s2 * g, 0, s1))], dtype=float)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    d = np.linalg.norm(base[:, None] - base[None], axis=-1)
    edge = d[d > 0].min()
    mids = [(base[i] + base[j]) / 2 for i in range(12) for j in range(i + 1, 12) if abs(d[i, j] - edge) < 1e-9]
    assert len(mids) == 30
    pts = np.vstack([base, mids])
    return pts / np.linalg.norm(pts, axis=1, keepdims=True) * radius


def _y(n: int, m: int, az: float, polar: float) -> complex:
    """scipy's former sph_harm(m, n, az, polar) in closed form (Condon-Shortley phase), n <= 2."""
    x = math.cos(polar)
    s = math.sqrt(max(0.0, 1 - x * x))
    e = complex(math.cos(m * az), math.sin(m * az))
    table = {(0, 0): 0.5 / math.sqrt(math.pi),
             (1, 0): math.sqrt(3 / (4 * math.pi)) * x, (1, 1): -math.sqrt(3 / (8 * math.pi)) * s,
             (1, -1): math.sqrt(3 / (8 * math.pi)) * s,
             (2, 0): 0.25 * math.sqrt(5 / math.pi) * (3 * x * x - 1),
             (2, 1): -0.5 * math.sqrt(15 / (2 * math.pi)) * s * x, (2, -1): 0.5 * math.sqrt(15 / (2 * math.pi)) * s * x,
             (2, 2): 0.25 * math.sqrt(15 / (2 * math.pi)) * s * s, (2, -2): 0.25 * math.sqrt(15 / (2 * math.pi)) * s * s}
    return table[(n, m)] * e


def lbp3d_brute_force(image: np.ndarray, roi: np.ndarray, levels: int, radius: float) -> dict[tuple, list[float]]:
    from scipy import ndimage

    verts = _icosphere_by_edges(radius)
    theta = [math.acos(v[2] / radius) for v in verts]  # PyRadiomics' theta (polar) goes in sph_harm's azimuth slot
    phi = [math.atan2(v[1], v[0]) for v in verts]
    out = {}
    for voxel in zip(*np.nonzero(roi)):
        pts = np.array(voxel, float)[None, :] + verts  # vertex x on axis 0, as PyRadiomics adds them
        samples = ndimage.map_coordinates(image, pts.T, order=3)  # PyRadiomics' call, whole image
        x = samples.astype(float)
        m2 = np.mean((x - x.mean()) ** 2)
        flat = m2 <= (np.finfo(float).eps * x.mean()) ** 2  # scipy's test for no spread
        kurt = -3.0 if flat else np.mean((x - x.mean()) ** 4) / m2 ** 2 - 3
        bits = [1.0 if samples[v] >= image[voxel] else 0.0 for v in range(len(verts))]
        values = []
        for n in range(levels):
            coef = {m: sum(bits[v] * _y(n, m, theta[v], phi[v]) for v in range(len(verts))) for m in range(-n, n + 1)}
            total = sum(sum(coef[m] * _y(n, m, theta[v], phi[v]) for m in coef) ** 2 for v in range(len(verts)))
            values.append((total ** 0.5).real)
        out[voxel] = values + [kurt]
    return out


@pytest.mark.parametrize("dtype, levels, radius", [(np.int16, 2, 1.0), (np.float64, 3, 1.5)])
def test_lbp3d_equals_brute_force(dtype, levels, radius):
    import SimpleITK as sitk
    from scipy import ndimage

    from biomedai.radiomics.filters import filtered_images
    from biomedai.radiomics.preprocessing import roi_bounds

    rng = np.random.default_rng(4)
    vol = ndimage.gaussian_filter(rng.normal(0, 1, (9, 11, 10)), 1.0) * 40
    vol[:4, :5, :5] = 7  # a flat corner: zero-spread samples (kurtosis -3)
    vol = vol.astype(dtype)
    roi = np.zeros(vol.shape, bool)
    roi[1:7, 2:9, 1:8] = rng.random((6, 7, 7)) < 0.5
    roi[2, 2, 2] = True
    settings = {"lbp3DLevels": levels, "lbp3DIcosphereRadius": radius}
    bb = roi_bounds(roi.astype(np.uint8), 1)
    images = dict((name, arr) for arr, name in filtered_images(sitk.GetImageFromArray(vol), "LBP3D", settings, bb))
    assert sorted(images) == sorted([f"lbp-3D-m{n + 1}" for n in range(levels)] + ["lbp-3D-k"])
    expected = lbp3d_brute_force(vol, roi, levels, radius)
    names = [f"lbp-3D-m{n + 1}" for n in range(levels)] + ["lbp-3D-k"]
    if dtype == np.int16:  # rounded samples: the flat corner gives exactly flat spheres
        assert any(v[-1] == -3.0 for v in expected.values())
    for voxel, values in expected.items():
        local = tuple(int(i - lo) for i, lo in zip(voxel, bb.lower))
        for name, value in zip(names, values):
            assert images[name][local] == pytest.approx(value, rel=1e-9, abs=1e-9), (name, voxel)


def test_lbp3d_features_through_extract():
    """The LBP3D image types reach the feature classes under PyRadiomics' names."""
    from scipy import ndimage

    rng = np.random.default_rng(5)
    vol = (ndimage.gaussian_filter(rng.normal(0, 1, (12, 14, 13)), 1.0) * 50).astype(np.int16)
    roi = np.zeros(vol.shape, np.uint8)
    roi[3:9, 3:11, 3:10] = 1
    params = {"imageType": {"LBP3D": {}}, "featureClass": {"firstorder": ["Mean", "Maximum"], "glcm": ["Contrast"]},
              "setting": {"binWidth": 0.5}}
    f = extract(vol, roi, params)
    for name in ("lbp-3D-m1", "lbp-3D-m2", "lbp-3D-k"):
        assert math.isfinite(f[f"{name}_firstorder_Mean"]) and f"{name}_glcm_Contrast" in f
    # m1 is the norm of the degree-0 part: |c_00 Y_00| * sqrt(42) = (number of 1-bits) * sqrt(42) / (4 pi)
    assert f["lbp-3D-m1_firstorder_Maximum"] <= 42 * math.sqrt(42) / (4 * math.pi) + 1e-9


def test_icosphere_matches_trimesh_when_installed():
    trimesh = pytest.importorskip("trimesh", reason="trimesh not installed (optional cross-check)")
    from biomedai.radiomics.lbp3d import icosphere_vertices

    for sub, radius in ((0, 1.0), (1, 1.0), (2, 2.5)):
        ours = np.array(sorted(map(tuple, np.round(icosphere_vertices(sub, radius), 12))))
        ref = np.array(sorted(map(tuple, np.round(trimesh.creation.icosphere(sub, radius).vertices, 12))))
        np.testing.assert_allclose(ours, ref, atol=1e-12)
