"""Bundled samples: every one is on disk, loads through biomedai.io, and matches a reference read."""
from __future__ import annotations

import socket

import numpy as np
import pytest
from PIL import Image as PILImage

from biomedai.data import samples
from biomedai.data.samples import SampleInfo, get_sample_info, list_samples, load_sample, sample_path
from biomedai.errors import BiomedaiError, InvalidInputError

ALL = [s.name for s in list_samples(include_missing=True)]
EXPECTED = {  # name -> (shape, DICOM Modality or None)
    "ihc": ((512, 512, 3), None), "retina": ((1411, 1411, 3), None), "microaneurysms": ((102, 102), None),
    "cell": ((660, 550), None), "shepp_logan": ((400, 400), None), "coins": ((303, 384), None),
    "camera": ((512, 512), None), "ct_small": ((128, 128), "CT"), "ct_head_jpeg2k": ((512, 512), "CT"),
    "ct_series": ((5, 16, 16), "CT"), "mr_small": ((64, 64), "MR"), "mr_small_rle": ((64, 64), "MR"),
    "mr_small_jpeg2k": ((64, 64), "MR"), "mr_abdomen": ((300, 484), "MR"), "us_rgb": ((240, 320, 3), "US"),
}


def test_registry_lists_every_expected_sample_and_all_are_present() -> None:
    assert sorted(ALL) == sorted(EXPECTED)
    assert [s.name for s in list_samples()] == ALL  # nothing missing in a full install
    for info in list_samples():
        assert info.package in ("scikit-image", "pydicom") and info.licence and info.description
        assert sample_path(info.name).exists()


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a sample tried to open a network connection")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_sample_loads_offline_with_expected_shape_and_modality(name: str, no_network) -> None:
    image = load_sample(name)
    shape, modality = EXPECTED[name]
    info = get_sample_info(name)
    assert image.shape == shape == info.shape
    assert image.array.size and np.ptp(image.array) > 0
    assert image.metadata["sample"] == name
    assert image.metadata["source"].startswith(info.package) and info.relpath in image.metadata["source"]
    assert image.metadata["licence"] == info.licence
    assert image.metadata["modality"] == info.modality
    if modality is not None:  # DICOM's own tag is kept as read
        assert image.metadata["Modality"] == modality
        assert image.spacing_unit == ("pixel" if name == "us_rgb" else "mm")  # ultrasound has no PixelSpacing


def test_png_samples_match_pillow() -> None:
    for name in ("ihc", "coins", "microaneurysms"):
        ref = np.asarray(PILImage.open(sample_path(name)))
        assert np.array_equal(load_sample(name).array, ref)
    # the Shepp-Logan phantom is stored as grey RGB: one channel comes back
    rgb = np.asarray(PILImage.open(sample_path("shepp_logan")))
    assert np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(load_sample("shepp_logan").array, rgb[..., 0])


def test_cell_sample_gets_its_documented_pixel_size() -> None:
    img = load_sample("cell")
    assert img.spacing == (0.107, 0.107) and img.spacing_unit == "um"


def test_dicom_samples_match_pydicom() -> None:
    import pydicom

    ds = pydicom.dcmread(sample_path("ct_small"))
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    ct = load_sample("ct_small")
    np.testing.assert_allclose(ct.array, hu)
    assert ct.spacing == pytest.approx(tuple(float(v) for v in ds.PixelSpacing))
    mr = load_sample("mr_small").array
    for lossless in ("mr_small_rle", "mr_small_jpeg2k"):  # known answer: same pixels after decoding
        assert np.array_equal(load_sample(lossless).array, mr)
    us = pydicom.dcmread(sample_path("us_rgb")).pixel_array
    assert np.array_equal(load_sample("us_rgb").array, us)


def test_ct_series_is_a_volume_with_slice_spacing() -> None:
    vol = load_sample("ct_series")
    assert sample_path("ct_series").is_dir()
    assert vol.spacing[0] == pytest.approx(2.5) and vol.ndim_spatial == 3


def test_unknown_sample_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="unknown sample 'nope'.*ct_small"):
        load_sample("nope")


def test_missing_package_names_the_sample(monkeypatch) -> None:
    monkeypatch.setitem(samples._PACKAGES, "pydicom", ("pydicom", "biomedai_no_such_package", "data"))
    with pytest.raises(BiomedaiError, match="sample 'ct_small' needs package 'pydicom'.*not installed"):
        load_sample("ct_small")
    names = [s.name for s in list_samples()]
    assert "ct_small" not in names and "ihc" in names
    assert "ct_small" in [s.name for s in list_samples(include_missing=True)]
    assert not get_sample_info("mr_small").available


def test_missing_file_names_the_sample_and_path(monkeypatch) -> None:
    ghost = SampleInfo("ghost", "none", "not shipped", "scikit-image", "ghost.png", "n/a", (1, 1))
    monkeypatch.setitem(samples._BY_NAME, "ghost", ghost)
    with pytest.raises(InvalidInputError, match="ghost.png: sample 'ghost' is missing from the installed scikit-image"):
        sample_path("ghost")
