"""NIfTI, NRRD/MetaImage and MRC against SimpleITK, nibabel and mrcfile on real and synthetic volumes."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.errors import InvalidInputError, UnsupportedFormatError
from biomedai.io import Image, read_image, write_image
from tests.conftest import shared_subdir


def _oblique_volume() -> Image:
    """A volume with a non-trivial rotation, anisotropic spacing and an offset origin."""
    angle = np.deg2rad(20)
    rot_xyz = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    array = np.random.default_rng(0).normal(size=(5, 6, 7)).astype(np.float32)
    return Image(array, spacing=(3.0, 0.8, 0.6), origin=(-40.0, 12.5, 7.25), direction=rot_xyz[::-1, ::-1],
                 spacing_unit="mm")


def _assert_same_geometry(a: Image, b: Image) -> None:
    np.testing.assert_allclose(a.spacing, b.spacing, rtol=1e-5)
    np.testing.assert_allclose(a.origin, b.origin, atol=1e-4)
    np.testing.assert_allclose(a.direction, b.direction, atol=1e-5)


# ------------------------------------------------------------------------------------------ NIfTI
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_nifti_written_here_reads_the_same_in_simpleitk(tmp_path, suffix):
    import SimpleITK as sitk

    image = _oblique_volume()
    path = write_image(image, tmp_path / f"v{suffix}")
    theirs = Image.from_sitk(sitk.ReadImage(str(path)))
    np.testing.assert_array_equal(theirs.array, image.array)
    _assert_same_geometry(theirs, image)
    ours = read_image(path)
    np.testing.assert_array_equal(ours.array, image.array)
    _assert_same_geometry(ours, image)


def test_nifti_written_by_simpleitk_reads_the_same_here(tmp_path):
    import SimpleITK as sitk

    image = _oblique_volume()
    sitk.WriteImage(image.to_sitk(), str(tmp_path / "s.nii.gz"))
    ours = read_image(tmp_path / "s.nii.gz")
    np.testing.assert_array_equal(ours.array, image.array)
    _assert_same_geometry(ours, image)


def test_nifti_ras_convention_against_nibabel(tmp_path):
    import nibabel as nib

    image = Image(np.zeros((2, 3, 4), np.int16), spacing=(2.0, 1.0, 0.5), origin=(5.0, 6.0, 7.0), spacing_unit="mm")
    write_image(image, tmp_path / "v.nii")
    nii = nib.load(str(tmp_path / "v.nii"))
    assert nii.shape == (4, 3, 2)  # x, y, z
    # LPS origin (x=7, y=6, z=5) is RAS (-7, -6, 5); identity LPS directions flip x and y in RAS
    np.testing.assert_allclose(nii.affine, [[-0.5, 0, 0, -7], [0, -1, 0, -6], [0, 0, 2, 5], [0, 0, 0, 1]])
    assert nib.aff2axcodes(nii.affine) == ("L", "P", "S")


def test_nifti_2d_and_4d(tmp_path):
    import nibabel as nib

    plane = Image(np.arange(12, dtype=np.uint8).reshape(3, 4), spacing=(0.5, 0.25))
    back = read_image(write_image(plane, tmp_path / "p.nii.gz"))
    assert back.shape == (3, 4) and back.spacing == pytest.approx((0.5, 0.25))
    np.testing.assert_array_equal(back.array, plane.array)
    series = np.random.default_rng(0).random((4, 3, 2, 5)).astype(np.float32)  # x, y, z, t
    nib.save(nib.Nifti1Image(series, np.diag([1.0, 1.0, 2.0, 1.0])), str(tmp_path / "t.nii"))
    img = read_image(tmp_path / "t.nii")
    assert img.shape == (2, 3, 4, 5) and img.channel_axis == -1 and img.metadata["fourth_axis"] == "time"
    np.testing.assert_array_equal(img.array, np.transpose(series, (2, 1, 0, 3)))


# ------------------------------------------------------------------------------------------ NRRD / MHA
def test_pyradiomics_nrrd_match_simpleitk(shared_data):
    import SimpleITK as sitk

    folder = shared_subdir(shared_data, "radiomics", "pyradiomics_data")
    paths = sorted(folder.glob("*.nrrd"))
    assert len(paths) >= 5
    for path in paths[:6]:
        reference = sitk.ReadImage(str(path))
        img = read_image(path)
        assert img.metadata["format"] == "NRRD" and img.spacing_unit == "mm"
        assert img.shape == sitk.GetArrayViewFromImage(reference).shape
        assert img.spacing == pytest.approx(tuple(reversed(reference.GetSpacing())))
        assert img.origin == pytest.approx(tuple(reversed(reference.GetOrigin())))
        np.testing.assert_array_equal(img.array, sitk.GetArrayFromImage(reference))


def test_brain1_known_geometry(shared_data):
    img = read_image(shared_subdir(shared_data, "radiomics", "pyradiomics_data", "brain1_image.nrrd"))
    assert img.shape == (25, 256, 256) and img.array.dtype == np.int16
    assert img.spacing == pytest.approx((6.5, 0.78125, 0.78125), rel=1e-6)


@pytest.mark.parametrize("suffix", [".nrrd", ".mha"])
def test_itk_round_trip_keeps_geometry_and_unit(tmp_path, suffix):
    image = _oblique_volume()
    back = read_image(write_image(image, tmp_path / f"v{suffix}"))
    np.testing.assert_array_equal(back.array, image.array)
    _assert_same_geometry(back, image)
    micro = Image(np.ones((4, 5), bool), spacing=(0.3, 0.2), spacing_unit="um")
    back = read_image(write_image(micro, tmp_path / f"m{suffix}"))
    assert back.spacing_unit == "um" and back.array.dtype == np.uint8 and back.array.sum() == 20


@pytest.mark.parametrize("suffix", [".nhdr", ".mhd"])
def test_detached_headers_written_by_simpleitk(tmp_path, suffix):
    import SimpleITK as sitk

    image = _oblique_volume()
    sitk.WriteImage(image.to_sitk(), str(tmp_path / f"d{suffix}"))
    assert len(list(tmp_path.iterdir())) == 2  # header + data file
    back = read_image(tmp_path / f"d{suffix}")
    np.testing.assert_array_equal(back.array, image.array)
    _assert_same_geometry(back, image)
    with pytest.raises(UnsupportedFormatError, match="suffix"):
        write_image(image, tmp_path / f"out{suffix}")


def test_corrupt_nrrd_variants(shared_data, make_corrupt):
    source = shared_subdir(shared_data, "radiomics", "pyradiomics_data", "breast1_image.nrrd")
    for kind, path in make_corrupt(source).items():
        with pytest.raises(InvalidInputError) as info:
            read_image(path)
        assert path.name in str(info.value), kind


# ------------------------------------------------------------------------------------------ MRC
def test_cryoet_templates_match_mrcfile(shared_data):
    import mrcfile

    folder = shared_subdir(shared_data, "cryoet", "templates_10A")
    paths = sorted(folder.glob("*.mrc"))[:5]
    assert paths
    for path in paths:
        img = read_image(path)
        with mrcfile.open(path, permissive=False) as mrc:
            np.testing.assert_array_equal(img.array, mrc.data)
        assert img.spacing == pytest.approx((10.0, 10.0, 10.0)) and img.spacing_unit == "angstrom"
        assert img.array.dtype == np.float32 and 32 <= img.shape[0] <= 72


def test_mrc_round_trip_with_voxel_size(tmp_path):
    import mrcfile

    volume = np.random.default_rng(0).normal(size=(6, 7, 8)).astype(np.float32)
    image = Image(volume, spacing=(12.0, 11.0, 10.0), origin=(5.0, 0.0, 1.0), spacing_unit="angstrom")
    path = write_image(image, tmp_path / "m.mrc")
    with mrcfile.open(path) as mrc:
        assert (float(mrc.voxel_size.x), float(mrc.voxel_size.y), float(mrc.voxel_size.z)) == (10.0, 11.0, 12.0)
        np.testing.assert_array_equal(mrc.data, volume)
    back = read_image(path)
    np.testing.assert_array_equal(back.array, volume)
    assert back.spacing == (12.0, 11.0, 10.0) and back.origin == (5.0, 0.0, 1.0)
    nm = Image(volume.astype(np.float64), spacing=(1.0, 1.0, 1.0), spacing_unit="nm")
    back = read_image(write_image(nm, tmp_path / "nm.map"))
    assert back.spacing == (10.0, 10.0, 10.0) and back.array.dtype == np.float32


def test_corrupt_mrc_variants(shared_data, make_corrupt):
    source = sorted(shared_subdir(shared_data, "cryoet", "templates_10A").glob("*.mrc"))[0]
    for kind, path in make_corrupt(source).items():
        with pytest.raises(InvalidInputError) as info:
            read_image(path)
        assert path.name in str(info.value), kind


def test_corrupt_nifti_variants(tmp_path, make_corrupt):
    for suffix in (".nii", ".nii.gz"):
        source = write_image(_oblique_volume(), tmp_path / f"good{suffix}")
        for kind, path in make_corrupt(source).items():
            with pytest.raises(InvalidInputError) as info:
                read_image(path)
            assert path.name in str(info.value), (suffix, kind)


def test_writers_refuse_bad_arrays_and_suffixes(tmp_path):
    for suffix in (".nii.gz", ".nrrd", ".mha", ".mrc", ".tif"):
        with pytest.raises(InvalidInputError, match="no finite"):
            write_image(np.full((3, 3, 3), np.nan, np.float32), tmp_path / f"nan{suffix}")
        with pytest.raises(InvalidInputError, match="empty"):
            write_image(np.zeros((0, 3, 3), np.float32), tmp_path / f"zero{suffix}")
    with pytest.raises(UnsupportedFormatError, match="suffix"):
        write_image(np.zeros((3, 3)), tmp_path / "x.xyz")
    assert not any(p.name.endswith((".nii.gz", ".nrrd", ".mha", ".mrc", ".tif")) for p in tmp_path.iterdir())
