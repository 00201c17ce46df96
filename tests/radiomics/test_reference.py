"""Agreement with the installed PyRadiomics on random volumes and masks (varied spacing and settings).

PyRadiomics is not a dependency: these tests skip, with the recipe to install it, when it is not
importable (see benchmarks/README-radiomics.md). Tolerance: relative 1e-6 (absolute 1e-9 near 0).
"""
from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from biomedai.radiomics import extract

pytest.importorskip("radiomics", reason="PyRadiomics is not installed; build it from its sdist as in "
                                        "benchmarks/README-radiomics.md to run the reference tests")


def random_case(seed: int):
    """A smooth random int16 volume and a blobby mask with random anisotropic spacing."""
    import SimpleITK as sitk
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(14, 30, 3))
    vol = ndimage.gaussian_filter(rng.normal(0, 1, shape), 1.5)
    vol = (vol / vol.std() * rng.uniform(30, 300) + rng.uniform(-200, 800)).astype(np.int16)
    blob = ndimage.gaussian_filter(rng.normal(0, 1, shape), 2.0)
    mask = (blob > np.quantile(blob, rng.uniform(0.6, 0.85))).astype(np.uint8)
    mask[:2] = mask[-2:] = 0
    spacing = tuple(float(v) for v in rng.choice([0.5, 0.8, 1.0, 1.3, 2.5, 4.0], 3))
    origin = tuple(float(v) for v in rng.uniform(-50, 50, 3))
    img = sitk.GetImageFromArray(vol)
    msk = sitk.GetImageFromArray(mask)
    for im in (img, msk):
        im.SetSpacing(spacing)
        im.SetOrigin(origin)
    return img, msk


SETTINGS = [
    {},
    {"binWidth": 10, "distances": [1, 2], "symmetricalGLCM": False},
    {"binCount": 16, "force2D": True, "weightingNorm": "manhattan"},
    {"normalize": True, "normalizeScale": 100, "removeOutliers": 2.5, "binWidth": 5, "gldm_a": 2},
    {"resampledPixelSpacing": [1, 1, 1], "interpolator": "sitkLinear", "voxelArrayShift": 500},
    {"resegmentRange": [-1.5, 2], "resegmentMode": "sigma", "weightingNorm": "euclidean"},
    {"resampledPixelSpacing": [2, 0, 2], "force2D": True, "force2Ddimension": 1, "binWidth": 15},
    {"resegmentRange": [0.2], "resegmentMode": "relative", "weightingNorm": "infinity"},
]
IMAGE_TYPES = {"Original": {}, "LoG": {"sigma": [1.0, 2.5]}, "Wavelet": {}}
CLASSES = {c: [] for c in ("shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")}


def compare(seed: int, settings: dict, image_types: dict) -> int:
    from radiomics import featureextractor, setVerbosity

    setVerbosity(logging.CRITICAL)
    img, msk = random_case(seed)
    params = {"setting": dict(settings), "imageType": image_types, "featureClass": CLASSES}
    ref = featureextractor.RadiomicsFeatureExtractor(params).execute(img, msk)
    ours = extract(img, msk, params)
    bad, n = [], 0
    for name, value in ref.items():
        if name.startswith("diagnostics_"):
            continue
        n += 1
        got, exp = ours.get(name), float(value)
        if got is None:
            bad.append(f"{name} missing")
        elif not (math.isclose(got, exp, rel_tol=1e-6, abs_tol=1e-9) or (math.isnan(got) and math.isnan(exp))):
            bad.append(f"{name}: ours {got!r} PyRadiomics {exp!r}")
    extra = [k for k in ours if not k.startswith("diagnostics_") and k not in ref]
    assert not bad and not extra, f"seed {seed} {settings}: {bad[:10]} extra {extra[:5]}"
    return n


@pytest.mark.parametrize("seed", [0, 2])
def test_random_cases_all_image_types(seed):
    assert compare(seed, SETTINGS[seed], IMAGE_TYPES) > 600  # force2D: 4 wavelet images, not 8


@pytest.mark.parametrize("seed", [1, 3, 4, 5, 6, 7])
def test_random_cases_original(seed):
    assert compare(seed, SETTINGS[seed], {"Original": {}}) >= 100


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10, 34))
def test_random_cases_many(seed):
    settings = SETTINGS[seed % len(SETTINGS)]
    types = {**IMAGE_TYPES, "Square": {}, "SquareRoot": {}, "Logarithm": {}, "Exponential": {}, "Gradient": {}}
    assert compare(seed, settings, types) > 900


def test_shape2d_matches_pyradiomics():
    """shape2D on one-slice masks (the baseline's 2D label files are not distributed)."""
    from radiomics import featureextractor, setVerbosity

    setVerbosity(logging.CRITICAL)
    img, msk = random_case(5)
    import SimpleITK as sitk

    arr = sitk.GetArrayFromImage(msk)
    z = int(np.argmax(arr.sum(axis=(1, 2))))
    arr[:z] = 0
    arr[z + 1:] = 0
    one = sitk.GetImageFromArray(arr)
    one.CopyInformation(msk)
    params = {"setting": {"force2D": True}, "featureClass": {"shape2D": []}}
    ref = featureextractor.RadiomicsFeatureExtractor(params).execute(img, one)
    ours = extract(img, one, params)
    names = [k for k in ref if k.startswith("original_shape2D_")]
    assert len(names) == 9
    for name in names:
        assert ours[name] == pytest.approx(float(ref[name]), rel=1e-9), name


@pytest.mark.parametrize("settings", [{}, {"binCount": 20, "weightingNorm": "euclidean",
                                           "resampledPixelSpacing": [1.0, 1.0]}])
def test_2d_images_match_pyradiomics(settings):
    """A native 2D image and mask: 2D LoG, 2D wavelet (4 images), LBP2D, gradient, shape2D."""
    from radiomics import featureextractor, setVerbosity

    setVerbosity(logging.CRITICAL)
    img3, msk3 = random_case(7)
    import SimpleITK as sitk

    arr = sitk.GetArrayViewFromImage(msk3)
    z = int(np.argmax(arr.sum(axis=(1, 2))))
    img, msk = img3[:, :, z], msk3[:, :, z]
    classes = {c: [] for c in ("shape2D", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")}
    params = {"setting": settings, "featureClass": classes,
              "imageType": {"Original": {}, "LoG": {"sigma": [1.0]}, "Wavelet": {}, "LBP2D": {}, "Gradient": {}}}
    ref = featureextractor.RadiomicsFeatureExtractor(params).execute(img, msk)
    ours = extract(img, msk, params)
    names = [k for k in ref if not k.startswith("diagnostics_")]
    assert len(names) > 700
    bad = [n for n in names if not (math.isclose(ours.get(n, math.inf), float(ref[n]), rel_tol=1e-6, abs_tol=1e-9)
                                    or (math.isnan(float(ref[n])) and math.isnan(ours.get(n, 0.0))))]
    assert not bad, bad[:10]


def test_brain1_mesh_features_equal_pyradiomics3(shared_data):
    """Where the old baseline differs (brain1 mesh features), we equal PyRadiomics 3 itself."""
    from radiomics import featureextractor, setVerbosity

    from ..conftest import shared_subdir

    setVerbosity(logging.CRITICAL)
    folder = shared_subdir(shared_data, "radiomics", "pyradiomics_data")
    img, msk = str(folder / "brain1_image.nrrd"), str(folder / "brain1_label.nrrd")
    params = {"featureClass": {"shape": []}}
    ref = featureextractor.RadiomicsFeatureExtractor(params).execute(img, msk)
    ours = extract(img, msk, params)
    names = [k for k in ref if k.startswith("original_shape_")]
    assert len(names) == 14
    for name in names:
        assert ours[name] == pytest.approx(float(ref[name]), rel=1e-11), name


@pytest.mark.parametrize("shape", [(12, 20, 20), (1, 30, 30)])
def test_volume_num_matches_pyradiomics(shape):
    """Diagnostics: the number of fully connected ROI parts on a scattered mask."""
    from radiomics import featureextractor, setVerbosity
    import SimpleITK as sitk

    setVerbosity(logging.CRITICAL)
    rng = np.random.default_rng(1)
    mask = (rng.random(shape) < 0.2).astype(np.uint8)
    img = sitk.GetImageFromArray(rng.integers(0, 100, shape).astype(np.int16))
    msk = sitk.GetImageFromArray(mask)
    params = {"featureClass": {"firstorder": ["Mean"]}, "setting": {"force2D": shape[0] == 1}}
    key = "diagnostics_Mask-original_VolumeNum"
    expected = featureextractor.RadiomicsFeatureExtractor(params).execute(img, msk)[key]
    assert expected > 5
    assert extract(img, msk, params)[key] == expected


def test_uint8_overflowing_bin_edges_match_pyradiomics():
    """PyRadiomics' integer bin edges wrap for 8-bit ROIs near 255; by default we give the same values."""
    from radiomics import featureextractor, setVerbosity
    import SimpleITK as sitk

    setVerbosity(logging.CRITICAL)
    rng = np.random.default_rng(3)
    vol = rng.integers(0, 251, (8, 12, 12)).astype(np.uint8)
    vol[2, 2, 2], vol[2, 2, 3] = 0, 250
    mask = np.zeros(vol.shape, np.uint8)
    mask[1:7, 1:11, 1:11] = 1
    img, msk = sitk.GetImageFromArray(vol), sitk.GetImageFromArray(mask)
    params = {"setting": {"binWidth": 5}, "featureClass": {"firstorder": [], "glcm": [], "glszm": []}}
    ref = featureextractor.RadiomicsFeatureExtractor(params).execute(img, msk)
    ours = extract(img, msk, params)
    names = [k for k in ref if not k.startswith("diagnostics_")]
    assert ref["original_glcm_JointAverage"] < 2.01  # the collapse to two grey levels is PyRadiomics' own
    for name in names:
        assert ours[name] == pytest.approx(float(ref[name]), rel=1e-9, abs=1e-12), name
    fixed = extract(img, msk, {**params, "setting": {"binWidth": 5, "binEdgesFloat64": True}})
    assert fixed["original_glcm_JointAverage"] > 20
