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
