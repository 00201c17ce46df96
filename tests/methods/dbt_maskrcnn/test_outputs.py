"""Detections CSV, label NIfTI, DICOM SEG over a DBT source and the overlay montage."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from biomedai.io import read_image
from biomedai.methods.dbt_maskrcnn.inference import VolumeDetections
from biomedai.methods.dbt_maskrcnn.outputs import (detection_rows, label_volume, write_detections_csv,
                                                   write_dicom_seg, write_mask_nifti, write_overlay_montage)
from biomedai.methods.dbt_maskrcnn.reader import write_dbt_dicom

SPACING = (1.0, 0.5, 0.5)


def _found() -> VolumeDetections:
    return VolumeDetections(np.array([[1, 2, 2, 4, 8, 8], [2, 5, 5, 5, 12, 12]], np.float32),
                            np.array([0.4, 0.9], np.float32),
                            [np.ones((3, 6, 6), bool), np.ones((3, 7, 7), bool)])


def test_rows_labels_and_nifti(tmp_path):
    found = _found()
    rows = detection_rows("P1_LCC", "P1", "CC", found, SPACING)
    assert [r["rank"] for r in rows] == [1, 2] and rows[0]["score"] == pytest.approx(0.9)
    assert rows[0]["y1_mm"] == pytest.approx(6.0) and rows[0]["mask_voxels"] == 147
    p = write_detections_csv(tmp_path / "detections.csv", rows)
    assert len(list(csv.DictReader(p.open()))) == 2
    labels = label_volume(found, (6, 16, 16))
    assert labels[3, 6, 6] == 1  # the overlap goes to the higher score
    assert labels[1, 2, 2] == 2 and (labels == 1).sum() == 147
    img = read_image(write_mask_nifti(tmp_path / "labels.nii.gz", labels, SPACING))
    assert np.array_equal(img.array, labels) and np.allclose(img.spacing, SPACING)


@pytest.mark.parametrize("per_slice", [False, True])
def test_dicom_seg_references_the_dbt_source(tmp_path, per_slice):
    import pydicom
    vol = np.random.default_rng(0).random((6, 16, 16)).astype(np.float32)
    src = write_dbt_dicom(vol, SPACING, tmp_path / ("series" if per_slice else "dbt.dcm"), "CC", "L", "P1",
                          per_slice=per_slice)
    labels = label_volume(_found(), vol.shape)
    seg = pydicom.dcmread(write_dicom_seg(tmp_path / "seg.dcm", labels, src))
    assert seg.Modality == "SEG" and len(seg.SegmentSequence) == 2
    assert seg.StudyInstanceUID == pydicom.dcmread(src if not per_slice else next(src.iterdir())).StudyInstanceUID


def test_overlay_montage(tmp_path):
    vol = np.random.default_rng(1).random((6, 16, 16)).astype(np.float32)
    p = write_overlay_montage(tmp_path / "montage.png", vol, _found(), truth=np.array([[1, 2, 2, 4, 8, 8]]))
    assert p.stat().st_size > 1000
