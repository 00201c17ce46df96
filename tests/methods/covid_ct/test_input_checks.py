"""CT input: HU from DICOM rescale tags, and a clear error (no result.json) for each bad series."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.methods.covid_ct.config import CovidCTConfig
from biomedai.methods.covid_ct.ct_input import load_chest_ct
from biomedai.methods.covid_ct.pipeline import CovidCTMethod

from .synthetic_ct import synthetic_chest, write_ct_series


@pytest.fixture(scope="module")
def volume():
    hu, _ = synthetic_chest(shape=(12, 48, 64))
    return hu


def test_hu_from_rescale_slope_and_intercept(tmp_path, volume):
    write_ct_series(tmp_path / "s", volume, slope=0.5, intercept=-1200.0)
    ct = load_chest_ct(tmp_path / "s")
    inside = volume > -1150
    expected = np.round((volume - -1200.0) / 0.5) * 0.5 - 1200.0
    np.testing.assert_allclose(ct.hu[inside], expected[inside], atol=1e-3)
    assert ct.spacing == pytest.approx((2.5, 1.5, 1.5))
    assert ct.voxel_ml == pytest.approx(2.5 * 1.5 * 1.5 / 1000)


def _bad(tmp_path, volume, case):
    folder = tmp_path / case
    if case == "single slice":
        write_ct_series(folder, volume[:1])
    elif case == "mixed series":
        write_ct_series(folder, volume)
        extra = write_ct_series(tmp_path / "other", volume[:3], series_uid="1.2.3.4.5")
        for k, path in enumerate(extra):
            path.rename(folder / f"other{k}.dcm")
    elif case == "missing RescaleSlope":
        write_ct_series(folder, volume, drop=("RescaleSlope",))
    elif case == "scout":
        write_ct_series(folder, volume, image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"))
    elif case == "gantry tilt":
        write_ct_series(folder, volume, tilt_mm_per_slice=0.8)
    elif case == "gantry tilt tag":
        write_ct_series(folder, volume, extra={"GantryDetectorTilt": 12.0})
    return folder


@pytest.mark.parametrize("case,message", [
    ("single slice", "single slice"), ("mixed series", "mixes 2 DICOM series"),
    ("missing RescaleSlope", "RescaleSlope"), ("scout", "scout"), ("gantry tilt", "gantry tilt"),
    ("gantry tilt tag", "gantry tilt")])
def test_bad_series_refused_with_a_clear_message(tmp_path, volume, case, message):
    folder = _bad(tmp_path, volume, case)
    with pytest.raises(InvalidInputError, match=message) as info:
        load_chest_ct(folder)
    assert str(folder.name) in str(info.value)
    out = tmp_path / "out"
    with pytest.raises(InvalidInputError):
        CovidCTMethod().predict([folder], out)
    assert not (out / "result.json").exists()


def test_non_chest_ct_refused(tmp_path):
    hu = np.full((12, 48, 64), -1000.0, np.float32)
    hu[:, 6:42, 6:58] = 40.0 + np.random.default_rng(0).normal(0, 10, (12, 36, 52))
    write_ct_series(tmp_path / "abdomen", hu)
    with pytest.raises(InvalidInputError, match="no lungs found"):
        CovidCTMethod().predict([tmp_path / "abdomen"], tmp_path / "out")
    assert not (tmp_path / "out" / "result.json").exists()


def test_values_that_are_not_hu_are_refused(tmp_path):
    from biomedai.io import Image, write_image

    raw = np.random.default_rng(0).integers(0, 2000, (6, 32, 32)).astype(np.int16)
    path = write_image(Image(raw, spacing=(2.0, 1.0, 1.0), spacing_unit="mm"), tmp_path / "raw.nii.gz")
    with pytest.raises(InvalidInputError, match="Hounsfield"):
        load_chest_ct(path)


def test_thick_slices_refused(tmp_path, volume):
    write_ct_series(tmp_path / "thick", volume, spacing=(12.0, 1.5, 1.5))
    with pytest.raises(InvalidInputError, match="slice spacing"):
        load_chest_ct(tmp_path / "thick", CovidCTConfig())
