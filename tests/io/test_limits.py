"""Resource limits and one-line refusals for every reader (issue 17, findings 2-4 and 6); each test reproduces
one finding of the audit and failed before the fix."""
from __future__ import annotations

import gzip
import struct
import time
import zlib

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.io import read_image
from biomedai.io.limits import (
    ReadLimits,
    check_array_size,
    current_limits,
    read_limits,
    set_default_limits,
)

from .helpers import pydicom_file


def _dicom(path, rows=16, columns=16, syntax=None, pixel_data=None, **attributes):
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = syntax or ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.StudyInstanceUID, ds.SeriesInstanceUID = "OT", generate_uid(), generate_uid()
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    for key, value in attributes.items():
        setattr(ds, key, value)
    ds.PixelData = pixel_data if pixel_data is not None else np.zeros((rows, columns), np.uint16).tobytes()
    if syntax is not None and syntax.is_transfer_syntax and syntax.is_compressed:
        ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_limits_are_on_by_default_and_configurable(monkeypatch):
    limits = current_limits()
    assert limits.max_pixels <= 1 << 30 and limits.max_bytes <= 4 << 30 and not limits.allow_external_data
    with read_limits(max_pixels=10):
        with pytest.raises(InvalidInputError, match="max_pixels"):
            check_array_size((4, 4), 1, "x.png")
    check_array_size((4, 4), 1, "x.png")
    monkeypatch.setenv("BIOMEDAI_MAX_PIXELS", "99")
    from biomedai.io import limits as module

    assert module._from_environment().max_pixels == 99
    with pytest.raises(Exception, match="positive"):
        ReadLimits(max_frames=0)


def test_rle_dicom_declaring_65535_squared_is_refused_before_decoding(tmp_path):
    from pydicom.encaps import encapsulate
    from pydicom.uid import RLELossless

    fragment = struct.pack("<16L", 1, 64, *([0] * 14)) + bytes([129, 0] * 3800)  # ~7.7 KB of RLE runs
    path = _dicom(tmp_path / "bomb.dcm", rows=65535, columns=65535, syntax=RLELossless,
                  pixel_data=encapsulate([fragment]))
    assert path.stat().st_size < 10_000
    start = time.perf_counter()
    with pytest.raises(InvalidInputError, match="limit") as info:
        read_image(path)
    assert time.perf_counter() - start < 2.0 and "bomb.dcm" in str(info.value)


def test_megabytes_of_zeros_named_dcm_are_refused_at_once(tmp_path):
    path = tmp_path / "zeros.dcm"
    path.write_bytes(bytes(30 * 1024 * 1024))
    start = time.perf_counter()
    with pytest.raises(InvalidInputError, match="zeros.dcm"):
        read_image(path)
    from biomedai.io.dicom import read_dicom

    with pytest.raises(InvalidInputError, match="zeros.dcm"):
        read_dicom(path)
    assert time.perf_counter() - start < 3.0  # was 13.6 s for 30 MB: pydicom parsed it all with force=True


def test_dicom_unknown_transfer_syntax_nan_slope_and_empty_size_are_refused(tmp_path):
    from pydicom.uid import UID

    with pytest.raises(InvalidInputError, match="transfer syntax"):
        read_image(_dicom(tmp_path / "ts.dcm", syntax=UID("1.2.3.4.5.6")))
    for value in ("NaN", "inf"):
        with pytest.raises(InvalidInputError, match="finite"):
            read_image(_dicom(tmp_path / f"slope-{value}.dcm", RescaleSlope=value, RescaleIntercept=0))
    with pytest.raises(InvalidInputError, match="empty"):
        read_image(_dicom(tmp_path / "zero.dcm", rows=0, columns=0, pixel_data=b""))


def test_files_truncated_by_one_byte_are_refused(tmp_path):
    from biomedai.io import write_image

    sources = [_dicom(tmp_path / "short.dcm")]  # pixel data last, as most files have it
    sources += [write_image(np.arange(1200, dtype=np.uint16).reshape(30, 40), tmp_path / name)
                for name in ("short.nii", "short.mrc", "short.tif", "short.png", "short.nii.gz",
                                                                     "short.nrrd", "short.mha")]
    for path in sources:
        path.write_bytes(path.read_bytes()[:-1])
        with pytest.raises(InvalidInputError, match=path.name.replace(".", "[.]")):
            read_image(path)
    assert pydicom_file("CT_small.dcm")  # (its 125 bytes of trailing padding may be cut: nothing is lost)


def _tiff_header_claiming(path, width, height):
    # a little-endian TIFF whose one strip is 8 bytes but whose header declares width x height uint8
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 8 + 2 + 12 * 9 + 4), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, 8)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHLL", *e) for e in entries) + b"\0\0\0\0"
    path.write_bytes(b"II*\x00" + struct.pack("<L", 8) + ifd + bytes(8))
    return path


def test_tiff_declaring_huge_dimensions_is_refused_clearly(tmp_path):
    with pytest.raises(InvalidInputError, match="limit|truncated") as info:
        read_image(_tiff_header_claiming(tmp_path / "huge.tif", 200_000, 200_000))
    assert "huge.tif" in str(info.value)


def _nifti_claiming(path, shape, compress=False):
    import nibabel as nib

    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(np.float32)
    raw = header.binaryblock + b"\0" * 4 + bytes(64)
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def test_nifti_declaring_huge_dimensions_is_refused_clearly(tmp_path):
    for name, compress in (("huge.nii", False), ("huge.nii.gz", True)):
        with pytest.raises(InvalidInputError, match="limit") as info:
            read_image(_nifti_claiming(tmp_path / name, (30000, 30000, 3000), compress))
        assert name in str(info.value)


def test_corrupt_nii_gz_is_a_clear_refusal(tmp_path):
    good = gzip.compress(_nifti_claiming(tmp_path / "x.nii", (4, 4, 4)).read_bytes() + bytes(4 * 64 * 4))
    path = tmp_path / "corrupt.nii.gz"
    path.write_bytes(good[:20] + bytes(len(good) - 30) + good[-10:])
    with pytest.raises(InvalidInputError, match="corrupt.nii.gz"):
        read_image(path)
    with pytest.raises(InvalidInputError):  # and not zlib.error through the format sniff
        from biomedai.io.formats import detect_format

        detect_format(path)


def test_gzip_bomb_under_a_nifti_name_is_bounded(tmp_path):
    header = _nifti_claiming(tmp_path / "h.nii", (64, 64, 64)).read_bytes()
    path = tmp_path / "bomb.img.gz"  # detected by content under another name
    body = zlib.compressobj(9, zlib.DEFLATED, 31)
    payload = body.compress(header + bytes(4 * 64 ** 3))
    for _ in range(64):
        payload += body.compress(bytes(1 << 20))
    path.write_bytes(payload + body.flush())
    from biomedai.io.nifti import read_nifti

    with read_limits(max_bytes=8 << 20):
        with pytest.raises(InvalidInputError, match="max_bytes"):
            read_nifti(path)


def test_star_unterminated_quote_is_a_clear_refusal(tmp_path):
    from biomedai.io.star import read_star

    path = tmp_path / "bad.star"
    path.write_text("data_particles\nloop_\n_rlnCoordinateX #1\n_rlnClassName #2\n1.0 'open\n")
    with pytest.raises(InvalidInputError, match="line 5") as info:
        read_star(path)
    assert "bad.star" in str(info.value)


def _png_claiming_rows(path, rows, width=16):
    def chunk(kind, data):
        return struct.pack(">L", len(data)) + kind + data + struct.pack(">L", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">LLBBBBB", width, rows, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"".join(b"\0" + bytes(width) for _ in range(300)))  # 300 of the rows
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def test_png_claiming_100000_rows_over_a_few_kilobytes_is_refused(tmp_path):
    path = _png_claiming_rows(tmp_path / "tall.png", 100_000)
    assert path.stat().st_size < 5000
    with pytest.raises(InvalidInputError, match="tall.png"):
        read_image(path)


def test_zero_size_and_all_nan_images_are_refused(tmp_path):
    from biomedai.io import write_image
    from biomedai.io.nifti import write_nifti

    nan = tmp_path / "nan.nii"
    write_nifti(np.ones((3, 4, 5), np.float32), nan)
    raw = bytearray(nan.read_bytes())
    offset = int(struct.unpack("<f", raw[108:112])[0])
    raw[offset:] = np.full(60, np.nan, np.float32).tobytes()
    nan.write_bytes(bytes(raw))
    with pytest.raises(InvalidInputError, match="NaN"):
        read_image(nan)
    with pytest.raises(InvalidInputError, match="empty"):
        read_image(_nifti_claiming(tmp_path / "zero.nii", (0, 4, 4)))
    assert write_image  # the writers refused these already; the readers now do too


def test_header_pixel_limit_applies_to_png_tiff_mrc_and_itk(tmp_path):
    from biomedai.io import write_image

    image = np.ones((40, 50), np.uint16)
    paths = [write_image(image, tmp_path / name) for name in ("a.png", "a.tif", "a.mrc", "a.nrrd", "a.mha",
                                                             "a.nii.gz")]
    with read_limits(max_pixels=1000):
        for path in paths:
            with pytest.raises(InvalidInputError, match="max_pixels") as info:
                read_image(path)
            assert path.name in str(info.value)
    for path in paths:
        assert read_image(path).array.size == 2000
    set_default_limits()  # unchanged defaults
