"""Bad inputs and bad params give our errors with clear messages; 2D inputs work."""
from __future__ import annotations

import json

import numpy as np
import pytest

from biomedai.errors import ConfigError, InvalidInputError
from biomedai.radiomics import RadiomicsParams, extract


def volume(seed: int = 0, shape=(12, 14, 16)) -> np.ndarray:
    return np.random.default_rng(seed).normal(100, 30, shape)


def cube_mask(shape=(12, 14, 16), label: int = 1) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    m[3:9, 4:10, 5:12] = label
    return m


def sitk_pair(spacing=(1.0, 1.0, 2.0), mask_origin=(0.0, 0.0, 0.0)):
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(volume())
    img.SetSpacing(spacing)
    msk = sitk.GetImageFromArray(cube_mask())
    msk.SetSpacing(spacing)
    msk.SetOrigin(mask_origin)
    return img, msk


def test_extract_on_arrays_names_like_pyradiomics():
    f = extract(volume(), cube_mask())
    names = [k for k in f if not k.startswith("diagnostics_")]
    assert len(names) == 107
    assert "original_glcm_Contrast" in f and "original_shape_MeshVolume" in f
    assert f["diagnostics_Mask-original_VoxelNum"] == 6 * 6 * 7


def test_empty_mask():
    with pytest.raises(InvalidInputError, match="empty"):
        extract(volume(), np.zeros((12, 14, 16), np.uint8))


def test_label_absent_lists_present_labels():
    with pytest.raises(InvalidInputError, match=r"label 1 is not present.*2"):
        extract(volume(), cube_mask(label=2))


def test_other_label_selected():
    f = extract(volume(), cube_mask(label=2), label=2)
    assert f["diagnostics_Mask-original_VoxelNum"] == 252


def test_geometry_mismatch_then_correct_mask():
    img, msk = sitk_pair(mask_origin=(0.5, 0.0, 0.0))
    with pytest.raises(InvalidInputError, match="geometry differ.*correctMask"):
        extract(img, msk)
    f = extract(img, msk, {"setting": {"correctMask": True}})
    assert "diagnostics_Mask-corrected_VoxelNum" in f


def test_geometry_within_tolerance_is_accepted():
    img, msk = sitk_pair(mask_origin=(1e-8, 0.0, 0.0))
    assert "original_firstorder_Mean" in extract(img, msk)


def test_roi_outside_image_cannot_be_corrected():
    img, msk = sitk_pair(mask_origin=(100.0, 0.0, 0.0))
    with pytest.raises(InvalidInputError, match="outside"):
        extract(img, msk, {"setting": {"correctMask": True}})


def test_roi_too_small():
    with pytest.raises(InvalidInputError, match="minimumROISize"):
        extract(volume(), cube_mask(), {"setting": {"minimumROISize": 1000}})
    single = np.zeros((12, 14, 16), np.uint8)
    single[5, 5, 5] = 1
    with pytest.raises(InvalidInputError, match="single voxel"):
        extract(volume(), single)
    line = np.zeros((12, 14, 16), np.uint8)
    line[5, 5, 3:9] = 1
    with pytest.raises(InvalidInputError, match="minimumROIDimensions"):
        extract(volume(), line)


def test_nan_voxels():
    img = volume()
    img[5, 6, 7] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        extract(img, cube_mask())


def test_4d_input():
    with pytest.raises(InvalidInputError, match="4D"):
        extract(np.zeros((2, 4, 5, 6)), np.ones((2, 4, 5, 6), np.uint8))


def test_dimension_mismatch():
    with pytest.raises(InvalidInputError, match="2D"):
        extract(volume(), np.ones((14, 16), np.uint8))


def test_2d_input_gives_shape2d_and_texture():
    img = volume()[0]
    msk = cube_mask()[5]
    f = extract(img, msk, {"featureClass": {"shape2D": [], "glcm": [], "firstorder": []}})
    assert f["original_shape2D_PixelSurface"] == 42
    assert "original_glcm_Contrast" in f
    assert not any(k.startswith("original_shape_") for k in f)


def test_missing_files(tmp_path):
    with pytest.raises(InvalidInputError, match="not found"):
        extract(tmp_path / "nope.nrrd", tmp_path / "nope_mask.nrrd")


def test_params_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"setting\.binWidht"):
        RadiomicsParams.from_dict({"setting": {"binWidht": 25}})
    with pytest.raises(ConfigError, match=r"setting\.binWidth: invalid value -1"):
        RadiomicsParams.from_dict({"setting": {"binWidth": -1}})
    with pytest.raises(ConfigError, match=r"imageType\.Sobel"):
        RadiomicsParams.from_dict({"imageType": {"Sobel": {}}})
    with pytest.raises(ConfigError, match=r"featureClass\.glcm: unknown feature 'Contrasst'"):
        RadiomicsParams.from_dict({"featureClass": {"glcm": ["Contrasst"]}})
    with pytest.raises(ConfigError, match="unknown top-level key 'settings'"):
        RadiomicsParams.from_dict({"settings": {}})
    with pytest.raises(ConfigError, match=r"imageType\.LoG\.sigma"):
        RadiomicsParams.from_dict({"imageType": {"LoG": {"sigma": [-1]}}})
    with pytest.raises(ConfigError, match=r"setting\.interpolator"):
        RadiomicsParams.from_dict({"setting": {"interpolator": "sitkCubic"}})
    bad = tmp_path / "p.yaml"
    bad.write_text("setting:\n  binWidth: [\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        RadiomicsParams.from_file(bad)


def test_pyradiomics_params_files_load_unchanged(tmp_path):
    yaml_text = """
# a typical PyRadiomics params file
imageType:
  Original: {}
  LoG:
    sigma: [1.0, 3.0]
  Wavelet: {}
featureClass:
  shape:
  firstorder: []
  glcm:
    - Autocorrelation
    - JointAverage
setting:
  binWidth: 25
  label: 1
  interpolator: 'sitkBSpline'
  resampledPixelSpacing: [1, 1, 1]
  weightingNorm:
voxelSetting:
  kernelRadius: 2
"""
    p = tmp_path / "Params.yaml"
    p.write_text(yaml_text)
    params = RadiomicsParams.from_file(p)
    assert params.image_types["LoG"]["sigma"] == [1.0, 3.0]
    assert params.feature_classes == {"shape": None, "firstorder": None, "glcm": ["Autocorrelation", "JointAverage"]}
    assert params.settings["binWidth"] == 25 and params.settings["padDistance"] == 5
    j = tmp_path / "params.json"
    j.write_text(json.dumps(params.to_dict()))
    assert RadiomicsParams.from_file(j).to_dict() == params.to_dict()


def test_feature_selection_and_deprecated():
    f = extract(volume(), cube_mask(), {"featureClass": {"glcm": ["Contrast", "SumVariance"],
                                                          "shape": ["Compactness1"]}})
    names = [k for k in f if not k.startswith("diagnostics_")]
    assert names == ["original_shape_Compactness1", "original_glcm_Contrast"]


def test_image_types_names():
    f = extract(volume(), cube_mask(), {"imageType": {"LoG": {"sigma": [1.0, 2]}, "Wavelet": {}, "Square": {},
                                                       "SquareRoot": {}, "Logarithm": {}, "Exponential": {},
                                                       "Gradient": {}},
                                         "featureClass": {"firstorder": ["Mean"]}})
    prefixes = {k.split("_")[0] for k in f if not k.startswith("diagnostics_")}
    assert prefixes == {"log-sigma-1-0-mm-3D", "log-sigma-2-mm-3D", "wavelet-LLH", "wavelet-LHL", "wavelet-LHH",
                        "wavelet-HLL", "wavelet-HLH", "wavelet-HHL", "wavelet-HHH", "wavelet-LLL", "square",
                        "squareroot", "logarithm", "exponential", "gradient"}


def test_biomedai_images_and_paths_agree(tmp_path):
    import SimpleITK as sitk

    from biomedai.io import read_image

    img, msk = sitk_pair(spacing=(0.7, 0.9, 2.5))
    sitk.WriteImage(img, str(tmp_path / "img.nrrd"))
    sitk.WriteImage(msk, str(tmp_path / "msk.nrrd"))
    by_path = extract(tmp_path / "img.nrrd", tmp_path / "msk.nrrd")
    by_image = extract(read_image(tmp_path / "img.nrrd"), read_image(tmp_path / "msk.nrrd"))
    by_sitk = extract(img, msk)
    for name in ("original_shape_MeshVolume", "original_glcm_Contrast", "diagnostics_Image-original_Hash"):
        assert by_path[name] == by_image[name] == by_sitk[name]
    assert by_path["original_shape_VoxelVolume"] == pytest.approx(252 * 0.7 * 0.9 * 2.5)


def test_label_channel_of_a_vector_mask():
    import SimpleITK as sitk

    img, msk = sitk_pair()
    other = np.zeros((12, 14, 16), np.uint8)
    other[1:5, 1:5, 1:5] = 1
    second = sitk.GetImageFromArray(other)
    second.CopyInformation(msk)
    vector = sitk.Compose(msk, second)
    f0 = extract(img, vector)
    f1 = extract(img, vector, label_channel=1)
    assert f0["diagnostics_Mask-original_VoxelNum"] == 252
    assert f1["diagnostics_Mask-original_VoxelNum"] == 64
    with pytest.raises(InvalidInputError, match="label_channel 2"):
        extract(img, vector, label_channel=2)


def test_geometry_tolerance_setting():
    img, msk = sitk_pair(mask_origin=(1e-3, 0.0, 0.0))
    with pytest.raises(InvalidInputError, match="geometry"):
        extract(img, msk)
    assert "original_firstorder_Mean" in extract(img, msk, {"setting": {"geometryTolerance": 1e-2}})


def test_mask_covering_the_whole_image_is_not_empty():
    vol = np.arange(6 * 7 * 8, dtype=float).reshape(6, 7, 8)
    f = extract(vol, np.ones(vol.shape, np.uint8), {"featureClass": {"firstorder": ["Mean"]}})
    assert f["original_firstorder_Mean"] == pytest.approx(vol.mean())


def test_default_threads_follow_omp_num_threads(monkeypatch):
    """No ``threads`` given: OMP_NUM_THREADS when it is a positive integer, else one per CPU (at most 8)."""
    import os

    from biomedai.radiomics.extractor import default_threads

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert default_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert default_threads() == 3
    for unusable in ("", "0", "many"):
        monkeypatch.setenv("OMP_NUM_THREADS", unusable)
        assert default_threads() == min(os.cpu_count() or 1, 8)
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert default_threads() == min(os.cpu_count() or 1, 8)
