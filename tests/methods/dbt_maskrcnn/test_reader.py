"""DBT reading (DICOM multi-frame and per slice, NIfTI), annotations and the bad inputs of the issue."""
from __future__ import annotations

import json

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.io import write_image
from biomedai.io.image import Image
from biomedai.methods.dbt_maskrcnn.reader import (breast_mask_by_threshold, read_box_annotations, read_dbt,
                                                  write_dbt_dicom)

SPACING = (1.0, 0.6, 0.6)


def _volume() -> np.ndarray:
    rng = np.random.default_rng(0)
    vol = np.zeros((6, 20, 16), np.float32)
    vol[:, 2:18, :12] = 0.8 + 0.05 * rng.standard_normal((6, 16, 12))
    return vol


@pytest.mark.parametrize("per_slice", [False, True])
def test_dicom_dbt_round_trip(tmp_path, per_slice):
    vol = _volume()
    target = tmp_path / ("series" if per_slice else "dbt.dcm")
    write_dbt_dicom(vol, SPACING, target, "MLO", "R", "P042", per_slice=per_slice)
    dbt = read_dbt(target)
    assert (dbt.view, dbt.laterality, dbt.breast_id, dbt.view_id) == ("MLO", "R", "P042", "P042_RMLO")
    assert dbt.image.spatial_shape == vol.shape
    assert np.allclose(dbt.image.spacing, SPACING)
    assert np.allclose(dbt.image.array, vol, atol=(vol.max() - vol.min()) / 60000)


def test_nifti_view_from_name_and_overrides(tmp_path):
    p = write_image(Image(_volume(), spacing=SPACING, spacing_unit="mm"), tmp_path / "B0007_LCC.nii.gz")
    dbt = read_dbt(p)
    assert (dbt.view, dbt.laterality, dbt.breast_id) == ("CC", "L", "B0007")
    plain = write_image(Image(_volume(), spacing=SPACING, spacing_unit="mm"), tmp_path / "scan.nii.gz")
    with pytest.raises(InvalidInputError, match="view .*missing.*scan.nii.gz|scan.nii.gz.*view"):
        read_dbt(plain)
    assert read_dbt(plain, view="mlo", laterality="r").view_id == "scan_RMLO"


def test_a_2d_mammogram_is_refused(tmp_path):
    p = write_image(Image(np.ones((30, 20), np.float32), spacing=(0.1, 0.1), spacing_unit="mm"),
                    tmp_path / "mammo_LCC.nii.gz")
    with pytest.raises(InvalidInputError, match="not a DBT volume"):
        read_dbt(p)


def test_a_volume_without_spacing_is_refused(tmp_path):
    import pydicom
    p = write_dbt_dicom(_volume(), SPACING, tmp_path / "dbt.dcm", "CC", "L", "P1")
    ds = pydicom.dcmread(p)
    del ds.PerFrameFunctionalGroupsSequence
    del ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].SliceThickness
    ds.save_as(p)
    with pytest.raises(InvalidInputError, match="no voxel spacing"):
        read_dbt(p)


def test_missing_view_tag_is_named(tmp_path):
    import pydicom
    p = write_dbt_dicom(_volume(), SPACING, tmp_path / "dbt.dcm", "CC", "L", "P1")
    ds = pydicom.dcmread(p)
    del ds.ViewPosition
    ds.save_as(p)
    with pytest.raises(InvalidInputError, match="dbt.dcm"):
        read_dbt(p)


def test_box_annotations_voxels_mm_and_bad_rows(tmp_path):
    shapes, spacings = {"v1": (6, 20, 16)}, {"v1": SPACING}
    csv_path = tmp_path / "boxes.csv"
    csv_path.write_text("view_id,z0,y0,x0,z1,y1,x1,unit\nv1,1,2,3,4,10,12,voxel\nv1,1,1.2,1.8,3,6,6,mm\n")
    boxes = read_box_annotations(csv_path, shapes, spacings)["v1"]
    assert np.allclose(boxes, [[1, 2, 3, 4, 10, 12], [1, 2, 3, 3, 10, 10]])
    js = tmp_path / "boxes.json"
    js.write_text(json.dumps([{"view_id": "v1", "box": [0, 0, 0, 2, 2, 2]}]))
    assert read_box_annotations(js, shapes)["v1"].shape == (1, 6)
    outside = tmp_path / "outside.csv"
    outside.write_text("view_id,z0,y0,x0,z1,y1,x1\nv1,1,2,3,9,10,12\n")
    with pytest.raises(InvalidInputError, match="outside.csv.*outside the volume|outside the volume"):
        read_box_annotations(outside, shapes)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InvalidInputError, match="empty"):
        read_box_annotations(empty, shapes)
    header_only = tmp_path / "header.csv"
    header_only.write_text("view_id,z0,y0,x0,z1,y1,x1\n")
    with pytest.raises(InvalidInputError, match="no boxes"):
        read_box_annotations(header_only, shapes)


def test_breast_mask_by_threshold():
    vol = _volume()
    mask = breast_mask_by_threshold(vol)
    assert mask.shape == vol.shape and mask[:, 2:18, :12].all() and not mask[:, :, 13:].any()


def test_to_model_grid_block_averages_or_resamples():
    from biomedai.methods.dbt_maskrcnn.predict import to_model_grid
    vol = np.arange(4 * 8 * 8, dtype=np.float32).reshape(4, 8, 8)
    exact = to_model_grid(vol, (1.0, 0.6, 0.6), (1.0, 1.2, 1.2), "v")
    assert exact.shape == (4, 4, 4) and exact[0, 0, 0] == pytest.approx(vol[0, :2, :2].mean())
    odd = to_model_grid(vol, (1.0, 0.5, 0.5), (1.0, 1.2, 1.2), "v")
    assert odd.shape == (4, 3, 3)
