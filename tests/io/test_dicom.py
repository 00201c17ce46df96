"""DICOM files and series against pydicom and SimpleITK on pydicom's bundled files."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from biomedai.errors import InvalidInputError, UnsupportedFormatError
from biomedai.io import describe_file, read_image
from biomedai.io.dicom import list_dicom_series, read_dicom, read_dicom_series
from tests.io.helpers import pydicom_file


def test_ct_small_hounsfield_units_match_pydicom():
    path = pydicom_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    expected = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    img = read_image(path)
    assert img.array.dtype == np.float32
    np.testing.assert_array_equal(img.array, expected.astype(np.float32))
    assert img.array.min() < -800  # air region in HU, impossible without the intercept
    assert img.spacing == pytest.approx((0.661468, 0.661468))
    assert img.spacing_unit == "mm"
    md = img.metadata
    assert md["Modality"] == "CT" and md["rescaled"] is True
    assert md["StudyInstanceUID"] == str(ds.StudyInstanceUID)
    assert md["SeriesInstanceUID"] == str(ds.SeriesInstanceUID) and md["PatientID"] == str(ds.PatientID)
    assert md["ImagePositionPatient"] == pytest.approx([float(v) for v in ds.ImagePositionPatient])


def test_rescale_can_be_turned_off():
    path = pydicom_file("CT_small.dcm")
    raw = read_dicom(path, rescale=False)
    np.testing.assert_array_equal(raw.array, pydicom.dcmread(path).pixel_array)
    assert raw.array.dtype == np.int16 and raw.metadata["rescaled"] is False


def test_mr_small_keeps_stored_dtype_without_rescale():
    path = pydicom_file("MR_small.dcm")
    img = read_image(path)
    ds = pydicom.dcmread(path)
    np.testing.assert_array_equal(img.array, ds.pixel_array)
    assert img.array.dtype == ds.pixel_array.dtype and img.metadata["Modality"] == "MR"
    assert img.spacing == pytest.approx(tuple(float(v) for v in ds.PixelSpacing))


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "MR_small_jp2klossless.dcm"])
def test_compressed_lossless_equals_uncompressed(name):
    reference = read_image(pydicom_file("MR_small.dcm")).array
    img = read_image(pydicom_file(name))
    assert img.metadata["TransferSyntaxUID"] != "1.2.840.10008.1.2.1"
    np.testing.assert_array_equal(img.array, reference)


def test_jpeg2000_lossy_decodes_close_to_reference():
    path = pydicom_file("JPEG2000.dcm")
    img = read_image(path)
    assert img.shape == (1024, 256) and img.metadata["TransferSyntax"].startswith("JPEG 2000")
    assert float(img.array.std()) > 0


def test_missing_decoder_raises_clear_error():
    # 12-bit JPEG needs pylibjpeg-libjpeg or gdcm, neither of which biomedai installs
    path = pydicom_file("JPEG-lossy.dcm")
    try:
        pydicom.dcmread(path).pixel_array
    except Exception:  # noqa: BLE001
        pass
    else:
        pytest.skip("a 12-bit JPEG decoder is installed here")
    with pytest.raises(UnsupportedFormatError) as info:
        read_image(path)
    message = str(info.value)
    assert "JPEG-lossy.dcm" in message and "JPEG Extended" in message and "decoder" in message


def test_multiframe_rgb_file():
    path = pydicom_file("SC_rgb_rle_2frame.dcm")
    img = read_image(path)
    assert img.shape == (2, 100, 100, 3) and img.channel_axis == -1 and img.ndim_spatial == 3
    np.testing.assert_array_equal(img.array, pydicom.dcmread(path).pixel_array)


@pytest.mark.parametrize("name,problem", [("rtplan.dcm", "no pixel data"), ("MR_truncated.dcm", "truncated")])
def test_real_non_image_and_truncated_files_rejected(name, problem):
    with pytest.raises(InvalidInputError) as info:
        read_image(pydicom_file(name))
    assert name in str(info.value) and problem in str(info.value)


def test_corrupt_variants_of_ct_small(make_corrupt):
    for kind, path in make_corrupt(pydicom_file("CT_small.dcm")).items():
        with pytest.raises(InvalidInputError) as info:
            read_image(path)
        assert path.name in str(info.value), kind


def test_png_named_dcm_rejected(tmp_path):
    from tests.io.helpers import skimage_file

    fake = tmp_path / "slice.dcm"
    shutil.copy(skimage_file("camera.png"), fake)
    with pytest.raises(InvalidInputError, match="content is PNG"):
        read_image(fake)


# ------------------------------------------------------------------------------------------ series
def _write_series(directory: Path, z_positions: list[float], series_uid: str | None = None,
                  names: list[str] | None = None) -> list[float]:
    """Slices of CT_small at the given z, each filled with a distinct value, written in shuffled file order."""
    from pydicom.uid import generate_uid

    directory.mkdir(parents=True, exist_ok=True)
    template = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    series_uid = series_uid or generate_uid()
    order = np.random.default_rng(1).permutation(len(z_positions))
    for file_index, slice_index in enumerate(order):
        ds = template.copy()
        x, y, _ = (float(v) for v in template.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y, z_positions[slice_index]]
        ds.InstanceNumber = int(slice_index) + 1
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesInstanceUID = series_uid
        pixels = np.full((ds.Rows, ds.Columns), 1024 + 10 * int(slice_index), dtype=np.int16)
        pixels[0, 0] = 0
        ds.PixelData = pixels.tobytes()
        name = names[file_index] if names else f"IM{file_index:04d}"
        ds.save_as(directory / name, enforce_file_format=True)
    return z_positions


def test_series_directory_sorted_by_position_with_z_spacing(tmp_path):
    z = [-20.0 + 2.5 * i for i in range(6)]
    _write_series(tmp_path / "series", z)
    (tmp_path / "series" / "notes.txt").write_text("not dicom")
    img = read_image(tmp_path / "series")
    assert img.shape == (6, 128, 128)
    assert img.spacing == pytest.approx((2.5, 0.661468, 0.661468))
    # slice k was filled with 10*k HU (1024 + 10k stored, intercept -1024): order restored from positions
    np.testing.assert_array_equal(img.array[:, 5, 5], 10.0 * np.arange(6))
    assert img.origin[0] == pytest.approx(-20.0)
    assert img.metadata["uneven_slice_spacing"] is False and img.metadata["n_slices"] == 6


def test_series_geometry_agrees_with_simpleitk(tmp_path):
    import SimpleITK as sitk

    from biomedai.io.image import Image

    _write_series(tmp_path / "s", [10.0, 13.0, 16.0, 19.0])
    ours = read_dicom_series(tmp_path / "s")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(tmp_path / "s")))
    theirs = Image.from_sitk(reader.Execute())
    np.testing.assert_allclose(ours.array, theirs.array)
    np.testing.assert_allclose(ours.spacing, theirs.spacing, atol=1e-4)
    np.testing.assert_allclose(ours.origin, theirs.origin, atol=1e-4)
    np.testing.assert_allclose(ours.direction, theirs.direction, atol=1e-6)


def test_uneven_spacing_flagged(tmp_path):
    _write_series(tmp_path / "s", [0.0, 2.0, 4.0, 9.0, 11.0])
    img = read_dicom_series(tmp_path / "s")
    assert img.metadata["uneven_slice_spacing"] is True
    assert img.metadata["slice_positions"] == [0.0, 2.0, 4.0, 9.0, 11.0]
    assert img.spacing[0] == pytest.approx(2.0)


def test_several_series_need_a_choice(tmp_path):
    _write_series(tmp_path / "d", [0.0, 1.0, 2.0], series_uid="1.2.3.1", names=["a1", "a2", "a3"])
    _write_series(tmp_path / "d", [0.0, 5.0], series_uid="1.2.3.2", names=["b1", "b2"])
    assert sorted(s["n_files"] for s in list_dicom_series(tmp_path / "d")) == [2, 3]
    with pytest.raises(InvalidInputError, match="2 DICOM series"):
        read_image(tmp_path / "d")
    assert read_image(tmp_path / "d", series_uid="1.2.3.2").spacing[0] == pytest.approx(5.0)


def test_duplicate_positions_rejected(tmp_path):
    _write_series(tmp_path / "s", [0.0, 1.0, 1.0])
    with pytest.raises(InvalidInputError, match="share one position"):
        read_dicom_series(tmp_path / "s")


def test_directory_without_dicom_rejected(tmp_path):
    (tmp_path / "a.txt").write_text("hello")
    with pytest.raises(UnsupportedFormatError, match="no DICOM"):
        read_image(tmp_path)
    with pytest.raises(InvalidInputError, match="does not exist"):
        read_image(tmp_path / "missing")


def test_enhanced_multiframe_geometry_and_per_frame_rescale(tmp_path):
    """A synthetic enhanced-style multi-frame file: positions and rescale in functional groups."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    for key in ("RescaleSlope", "RescaleIntercept", "ImagePositionPatient", "ImageOrientationPatient",
                "PixelSpacing"):
        delattr(ds, key)
    frames = np.stack([np.full((ds.Rows, ds.Columns), 100 * (k + 1), np.int16) for k in range(3)])
    ds.NumberOfFrames = 3
    ds.PixelData = frames.tobytes()
    shared = Dataset()
    orientation, measures = Dataset(), Dataset()
    orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    measures.PixelSpacing = [0.5, 0.4]
    shared.PlaneOrientationSequence = Sequence([orientation])
    shared.PixelMeasuresSequence = Sequence([measures])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per_frame = []
    for k in range(3):
        group, position, transform = Dataset(), Dataset(), Dataset()
        position.ImagePositionPatient = [0.0, 0.0, 5.0 + 3.0 * k]
        transform.RescaleSlope, transform.RescaleIntercept = 2 if k == 2 else 1, -1000
        group.PlanePositionSequence = Sequence([position])
        group.PixelValueTransformationSequence = Sequence([transform])
        per_frame.append(group)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    ds.save_as(tmp_path / "mf.dcm", enforce_file_format=True)
    img = read_image(tmp_path / "mf.dcm")
    assert img.shape == (3, 128, 128) and img.array.dtype == np.float32
    assert img.spacing == pytest.approx((3.0, 0.5, 0.4)) and img.origin == pytest.approx((5.0, 0.0, 0.0))
    np.testing.assert_array_equal(img.array[:, 0, 0], [-900.0, -800.0, -400.0])  # frame 3 has slope 2
    assert img.metadata["uneven_slice_spacing"] is False
    facts = describe_file(tmp_path / "mf.dcm")
    assert facts["shape"] == [3, 128, 128] and facts["spacing"] == pytest.approx([3.0, 0.5, 0.4])
