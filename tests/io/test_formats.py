"""Format detection, dispatch, describe_file and the cheap import of biomedai.io."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from biomedai.errors import InvalidInputError, UnsupportedFormatError
from biomedai.io import Image, describe_file, detect_format, read_image, write_image
from tests.io.helpers import pydicom_file, skimage_file


@pytest.mark.parametrize("suffix,fmt", [(".png", "png"), (".tif", "tiff"), (".nii", "nifti"), (".nii.gz", "nifti"),
                                        (".nrrd", "nrrd"), (".mha", "metaimage"), (".mrc", "mrc"),
                                        (".jpg", "jpeg")])
def test_written_files_detected_by_signature(tmp_path, suffix, fmt):
    array = np.arange(24, dtype=np.uint8).reshape(4, 6)
    path = write_image(array, tmp_path / f"a{suffix}")
    assert detect_format(path) == fmt
    renamed = path.rename(tmp_path / "no_suffix")  # content alone is enough for all but MRC
    if fmt != "mrc":
        assert detect_format(renamed) == fmt
        if fmt != "jpeg":  # lossy
            np.testing.assert_array_equal(read_image(renamed).array, array)


def test_real_files_detected():
    assert detect_format(pydicom_file("CT_small.dcm")) == "dicom"  # its preamble holds a TIFF header
    assert detect_format(skimage_file("retina.jpg")) == "jpeg"
    assert detect_format(skimage_file("multipage.tif")) == "tiff"


def test_mislabelled_unknown_missing_and_empty(tmp_path):
    (tmp_path / "scan.nii").write_bytes(skimage_file("camera.png").read_bytes())
    with pytest.raises(InvalidInputError, match="content is PNG but the suffix .nii says NIFTI"):
        detect_format(tmp_path / "scan.nii")
    (tmp_path / "x.weird").write_bytes(b"\x00\x01hello")
    with pytest.raises(UnsupportedFormatError, match="unknown format"):
        read_image(tmp_path / "x.weird")
    with pytest.raises(InvalidInputError, match="does not exist"):
        read_image(tmp_path / "nope.png")
    (tmp_path / "e.nrrd").write_bytes(b"")
    with pytest.raises(InvalidInputError, match=r"e\.nrrd: file is empty"):
        read_image(tmp_path / "e.nrrd")
    (tmp_path / "t.mha").write_text("hello world\n")
    with pytest.raises(InvalidInputError, match="not a MetaImage"):
        read_image(tmp_path / "t.mha")
    (tmp_path / "t.dcm").write_text("hello world\n" * 20)
    with pytest.raises(InvalidInputError, match="not a DICOM"):
        read_image(tmp_path / "t.dcm")


def test_round_trip_every_writer(tmp_path):
    plane = Image(np.random.default_rng(0).integers(0, 200, (9, 11)).astype(np.uint8), spacing=(0.5, 0.5),
                  spacing_unit="um")
    for suffix in (".png", ".tif", ".nii", ".nii.gz", ".nrrd", ".mha", ".mrc"):
        back = read_image(write_image(plane, tmp_path / f"p{suffix}"))
        np.testing.assert_array_equal(back.array, plane.array, err_msg=suffix)
    back = read_image(write_image(plane, tmp_path / "p.jpg"))
    assert np.abs(back.array.astype(int) - plane.array).mean() < 8  # JPEG is lossy


def test_describe_file_summaries(tmp_path):
    facts = describe_file(pydicom_file("CT_small.dcm"))
    assert facts["format"] == "dicom" and facts["shape"] == [128, 128] and facts["spacing_unit"] == "mm"
    assert facts["metadata"]["Modality"] == "CT" and facts["min"] < -800
    path = write_image(Image(np.zeros((3, 4, 5), np.int16), spacing=(2.0, 1.0, 1.0), spacing_unit="mm"),
                       tmp_path / "v.nrrd")
    facts = describe_file(path)
    assert facts["format"] == "nrrd" and facts["shape"] == [3, 4, 5] and facts["spacing"] == [2.0, 1.0, 1.0]
    import json

    json.dumps(facts)  # JSON-ready


def test_import_is_cheap():
    code = ("import sys, biomedai.io; heavy = [m for m in ('pydicom', 'SimpleITK', 'nibabel', 'tifffile', "
            "'tiffslide', 'av', 'mrcfile', 'torch', 'PIL.Image', 'skimage') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
