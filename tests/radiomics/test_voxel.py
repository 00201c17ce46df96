"""Voxel-based feature maps: known answers, geometry, the torch path, and agreement with PyRadiomics.

Tolerance against the installed PyRadiomics 3.0.1: relative 1e-6 (absolute 1e-9 near 0), NaN where
PyRadiomics has NaN. One documented exception, the GLCM ``MCC`` (see biomedai.radiomics.voxel):
where PyRadiomics' eigenvalue call failed for the batch (NaN angles of some voxel) its map stays
at ``initValue``; there we only check that ours is NaN exactly where the kernel has no pair;
elsewhere MCC must agree to 1e-6 absolute (it is the square root of an eigenvalue, so round-off
near 0 grows to ~1e-8). Also Correlation and Imc2 with an asymmetric GLCM, at voxels whose kernel
has an angle with a one-row/one-column matrix, where PyRadiomics returns round-off noise.
"""
from __future__ import annotations

import logging

import numpy as np
import pytest

from biomedai.radiomics import extract
from biomedai.radiomics.voxel import kernel_windows

CLASSES = ("firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")


def small_case(seed: int, shape=(9, 11, 10)):
    import SimpleITK as sitk
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    vol = ndimage.gaussian_filter(rng.normal(0, 1, shape), 1.0) * 300 + rng.normal(0, 20, shape)
    m = ndimage.gaussian_filter(rng.random(shape), 1.5) > 0.5
    m[0] = False
    img = sitk.GetImageFromArray(vol.astype(np.int16))
    img.SetSpacing(tuple(float(v) for v in rng.choice([0.7, 1.0, 1.6, 3.0], 3)))
    img.SetOrigin(tuple(float(v) for v in rng.uniform(-20, 20, 3)))
    msk = sitk.GetImageFromArray(m.astype(np.uint8))
    msk.CopyInformation(img)
    return img, msk


def test_kernel_windows_pad_with_zero():
    lv = np.arange(1, 28).reshape(3, 3, 3)
    w = kernel_windows(lv, np.array([[1, 1, 1], [0, 0, 0]]), np.array([1, 1, 1]))
    assert w.shape == (2, 3, 3, 3)
    assert np.array_equal(w[0], lv)
    assert w[1, 0].sum() == 0 and w[1, 1, 1, 1] == 1


def test_firstorder_mean_map_is_a_box_mean():
    """Unmasked kernel, radius 1: the Mean map is the 3x3x3 box mean of the image (inside the image)."""
    from scipy import ndimage

    rng = np.random.default_rng(0)
    vol = rng.integers(0, 200, (8, 9, 10)).astype(float)
    roi = np.zeros(vol.shape, np.uint8)
    roi[2:6, 2:7, 2:8] = 1
    params = {"featureClass": {"firstorder": ["Mean", "Maximum"]},
              "voxelSetting": {"kernelRadius": 1, "maskedKernel": False, "initValue": -1}}
    maps = extract(vol, roi, params, voxel_based=True)
    mean = maps["original_firstorder_Mean"]
    assert mean.array.shape == vol.shape and mean.spacing == (1.0, 1.0, 1.0)
    expected = ndimage.uniform_filter(vol, 3, mode="constant")
    inside = roi.astype(bool)
    np.testing.assert_allclose(mean.array[inside], expected[inside], rtol=1e-12)
    assert np.all(mean.array[~inside] == -1)
    np.testing.assert_array_equal(maps["original_firstorder_Maximum"].array[inside],
                                  ndimage.maximum_filter(vol, 3)[inside])


def test_map_geometry_full_grid_and_roi_box():
    img, msk = small_case(1)
    params = {"featureClass": {"firstorder": ["Mean"]}, "voxelSetting": {"kernelRadius": 2}}
    full = extract(img, msk, params, voxel_based=True)["original_firstorder_Mean"]
    box = extract(img, msk, params, voxel_based=True, full_grid=False)["original_firstorder_Mean"]
    assert full.array.shape == img.GetSize()[::-1]
    assert full.origin == pytest.approx(img.GetOrigin()[::-1])
    assert full.spacing == pytest.approx(img.GetSpacing()[::-1])
    # the box lies inside the full map at the physical position its origin names
    sitk_box = box.to_sitk()
    idx = img.TransformPhysicalPointToIndex(sitk_box.GetOrigin())[::-1]
    sl = tuple(slice(i, i + n) for i, n in zip(idx, box.array.shape))
    np.testing.assert_array_equal(full.array[sl], box.array)


def test_2d_input_gives_2d_maps():
    rng = np.random.default_rng(2)
    vol = rng.integers(0, 100, (20, 24)).astype(float)
    roi = np.zeros((20, 24), np.uint8)
    roi[4:15, 5:20] = 1
    maps = extract(vol, roi, {"featureClass": {"glcm": ["Contrast"], "glszm": None}}, voxel_based=True)
    assert maps["original_glcm_Contrast"].array.shape == (20, 24)
    assert np.isfinite(maps["original_glszm_ZonePercentage"].array[roi.astype(bool)]).all()


@pytest.mark.parametrize("masked,radius", [(True, 1), (False, 2)])
def test_torch_glcm_equals_numpy(masked, radius):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    img, msk = small_case(3)
    params = {"featureClass": {"glcm": None},
              "voxelSetting": {"kernelRadius": radius, "maskedKernel": masked}}
    ref = extract(img, msk, params, voxel_based=True)
    got = extract(img, msk, params, voxel_based=True, device="cpu")
    names = [k for k in ref if k.startswith("original_glcm_")]
    assert len(names) == 24
    for name in names:
        a, b = ref[name].array, got[name].array
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=name)
        atol = 1e-7 if name.endswith("_Imc2") else 1e-9  # Imc2's sqrt turns 1e-16 round-off into 1e-8
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=atol, equal_nan=True, err_msg=name)


# ------------------------------------------------------------------------- PyRadiomics reference
def compare_maps(img, msk, params: dict) -> int:
    radiomics = pytest.importorskip("radiomics", reason="PyRadiomics is not installed; see "
                                                        "benchmarks/README-radiomics.md")
    import SimpleITK as sitk
    from radiomics import featureextractor

    radiomics.setVerbosity(logging.CRITICAL)
    logging.getLogger("radiomics").setLevel(logging.CRITICAL)
    init = params.get("voxelSetting", {}).get("initValue", 0)
    ref = featureextractor.RadiomicsFeatureExtractor(params).execute(img, msk, voxelBased=True)
    ours = extract(img, msk, params, voxel_based=True, full_grid=False)
    bad, n = [], 0
    for name, value in ref.items():
        if name.startswith("diagnostics_"):
            continue
        n += 1
        exp = sitk.GetArrayFromImage(value)
        if name not in ours:
            bad.append(f"{name} missing")
            continue
        got = ours[name].array
        if got.shape != exp.shape:
            bad.append(f"{name}: shape {got.shape} vs {exp.shape}")
            continue
        if name.endswith("_glcm_MCC"):
            if np.all(exp == init):  # PyRadiomics' eigvals failed on NaN angles: map left at initValue
                energy = ours[name.replace("_MCC", "_JointEnergy")].array
                assert np.array_equal(np.isnan(got), np.isnan(energy)), name  # NaN only with no pairs at all
                continue
            ok = np.isclose(got, exp, rtol=0, atol=1e-6) | (np.isnan(exp) & (got < 1e-6))
        else:
            ok = np.isclose(got, exp, rtol=1e-6, atol=1e-9) | (np.isnan(got) & np.isnan(exp))
            if name.endswith(("_glcm_Correlation", "_glcm_Imc2")) and not params["setting"].get("symmetricalGLCM", 1):
                ok |= degenerate_voxels(img, msk, params)  # PyRadiomics gives round-off noise there
        if not ok.all():
            i = np.argwhere(~ok)[0]
            bad.append(f"{name}: {int((~ok).sum())} voxels differ, e.g. {tuple(i)} ours {got[tuple(i)]!r} "
                       f"PyRadiomics {exp[tuple(i)]!r}")
    extra = [k for k in ours if not k.startswith("diagnostics_") and k not in ref]
    assert not bad and not extra, f"{params}: {bad[:6]} extra {extra[:5]}"
    return n


def degenerate_voxels(img, msk, params: dict) -> np.ndarray:
    """ROI-box map of the voxels whose kernel has an angle with a one-row/one-column GLCM (Original image)."""
    import SimpleITK as sitk

    from biomedai.radiomics._voxel_glcm import degenerate_angles, glcm_matrices
    from biomedai.radiomics.features._neighbours import angles
    from biomedai.radiomics.preprocessing import discretize

    settings = params["setting"]
    r = params["voxelSetting"].get("kernelRadius", 1)
    roi_full = sitk.GetArrayFromImage(msk) == 1
    lo = np.maximum(np.argwhere(roi_full).min(axis=0) - r, 0)
    hi = np.minimum(np.argwhere(roi_full).max(axis=0) + r + 1, roi_full.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    arr = sitk.GetArrayFromImage(img)[box].astype(float)
    roi = roi_full[box]
    kmask = roi if params["voxelSetting"].get("maskedKernel", True) else np.ones_like(roi)
    levels = discretize(arr, kmask, settings)
    gl = np.unique(levels[kmask])
    coords = np.argwhere(roi)
    offsets = angles(levels.shape, settings.get("distances", [1]), False, None)
    P = glcm_matrices(kernel_windows(levels, coords, np.array([r, r, r])), offsets, gl, settings, None, None)
    deg = degenerate_angles(P.sum(axis=2).transpose(0, 2, 1), P.sum(axis=1).transpose(0, 2, 1)).any(axis=1)
    out = np.zeros(roi.shape, bool)
    out[tuple(coords.T)] = deg
    return out


@pytest.mark.parametrize("radius", [1, 2])
@pytest.mark.parametrize("masked", [True, False])
def test_maps_match_pyradiomics(radius, masked):
    img, msk = small_case(10 + radius)
    params = {"setting": {"binWidth": 40}, "featureClass": {c: None for c in CLASSES},
              "voxelSetting": {"kernelRadius": radius, "maskedKernel": masked, "initValue": 0}}
    assert compare_maps(img, msk, params) == 18 + 24 + 16 + 16 + 14 + 5


@pytest.mark.slow
@pytest.mark.parametrize("extra", [
    {"setting": {"binCount": 12, "force2D": True, "weightingNorm": "manhattan"}},
    {"setting": {"binWidth": 25, "distances": [1, 2], "symmetricalGLCM": False, "gldm_a": 1},
     "voxelSetting": {"voxelBatch": 50, "initValue": -5}},
    {"setting": {"binWidth": 30, "force2D": True, "force2Ddimension": 2, "voxelArrayShift": 300},
     "voxelSetting": {"maskedKernel": False}},
    {"setting": {"binWidth": 20}, "imageType": {"LoG": {"sigma": [1.5]}, "Wavelet": {}}},
    {"setting": {"binWidth": 30, "resampledPixelSpacing": [1.2, 1.2, 1.2], "interpolator": "sitkLinear"}},
    {"setting": {"binWidth": 30, "normalize": True, "normalizeScale": 100, "resegmentRange": [-2, 2],
                 "resegmentMode": "sigma"}},
])
def test_maps_match_pyradiomics_settings(extra):
    img, msk = small_case(20 + len(str(extra)) % 7)
    voxel = {"kernelRadius": 1, **extra.get("voxelSetting", {})}
    params = {"setting": extra["setting"], "featureClass": {c: None for c in CLASSES}, "voxelSetting": voxel}
    if "imageType" in extra:
        params["imageType"] = extra["imageType"]
    assert compare_maps(img, msk, params) >= 93


def test_cli_writes_maps(tmp_path):
    import json

    from biomedai.io import read_image

    from .test_cli import run, write_case

    img, msk = write_case(tmp_path, "a", 0)
    params = tmp_path / "params.yaml"
    params.write_text("setting:\n  binWidth: 10\nfeatureClass:\n  glcm: [Contrast]\n  firstorder: [Mean]\n"
                      "voxelSetting:\n  initValue: -1\n")
    maps = tmp_path / "maps"
    assert run(["radiomics", str(img), str(msk), "-p", str(params), "--voxel-based", str(maps),
                "--kernel-radius", "2", "--maps-format", "nii.gz"]) == 0
    files = sorted(p.name for p in maps.iterdir())
    assert files == ["diagnostics.json", "original_firstorder_Mean.nii.gz", "original_glcm_Contrast.nii.gz"]
    mean = read_image(maps / "original_firstorder_Mean.nii.gz")
    assert mean.array.shape == (10, 12, 14)
    assert mean.array[0, 0, 0] == -1 and mean.array[5, 6, 7] > 50
    assert "diagnostics_Configuration_Settings" in json.loads((maps / "diagnostics.json").read_text())
    with pytest.raises(Exception, match="kernel-radius"):
        run(["radiomics", str(img), str(msk), "--voxel-based", str(maps), "--kernel-radius", "0"])


def test_local_levels_and_options_errors(tmp_path):
    from biomedai.errors import ConfigError
    from biomedai.radiomics._voxel_glcm import local_levels

    from .test_cli import run, write_case

    loc, val = local_levels(np.array([[0, 7, 3, 7], [5, 5, 0, 0]]))
    assert loc.tolist() == [[0, 2, 1, 2], [1, 1, 0, 0]] and val.tolist() == [[3.0, 7.0], [5.0, 0.0]]
    img, msk = write_case(tmp_path, "a", 0)
    with pytest.raises(ConfigError, match="only apply with --voxel-based"):
        run(["radiomics", str(img), str(msk), "--kernel-radius", "2"])
    with pytest.raises(ConfigError, match="kernelRadius"):
        extract(img, msk, {"voxelSetting": {"kernelRadius": 0}}, voxel_based=True)


@pytest.mark.slow
def test_brain1_maps_match_pyradiomics(shared_data):
    """Real data: PyRadiomics' brain1 MR volume and its tumour mask, all six classes, radius 1."""
    import SimpleITK as sitk

    from ..conftest import shared_subdir

    folder = shared_subdir(shared_data, "radiomics", "pyradiomics_data")
    img = sitk.ReadImage(str(folder / "brain1_image.nrrd"))
    msk = sitk.ReadImage(str(folder / "brain1_label.nrrd"))
    params = {"setting": {"binWidth": 25}, "featureClass": {c: None for c in CLASSES},
              "voxelSetting": {"kernelRadius": 1, "maskedKernel": True}}
    assert compare_maps(img, msk, params) == 93
