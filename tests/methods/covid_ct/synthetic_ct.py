"""Synthetic chest CTs with known lungs, and a writer of CT DICOM series (test helpers)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from biomedai.methods.covid_ct.synthetic import synthetic_chest

__all__ = ["synthetic_chest", "write_ct_series"]


def write_ct_series(folder: Path, hu: np.ndarray, spacing=(2.5, 1.5, 1.5), slope=1.0, intercept=-1024.0,
                    series_uid=None, drop=(), extra=None, tilt_mm_per_slice=0.0, image_type=("ORIGINAL", "PRIMARY",
                                                                                            "AXIAL")):
    """One CT Image Storage file per slice; stored = (hu - intercept) / slope as uint16."""
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    study_uid, frame_uid = generate_uid(entropy_srcs=["study"]), generate_uid(entropy_srcs=["frame"])
    stored = np.clip(np.round((hu - intercept) / slope), 0, 65535).astype(np.uint16)
    paths = []
    for k in range(hu.shape[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"slice{k:03d}.dcm"
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.PatientID, ds.PatientName = "CT", "PHANTOM", "Phantom^Test"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame_uid
        ds.StudyDate, ds.StudyTime, ds.SeriesNumber, ds.InstanceNumber = "20200101", "120000", 1, k + 1
        ds.ImageType = list(image_type)
        ds.ImagePositionPatient = [0.0, k * tilt_mm_per_slice, k * spacing[0]]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [spacing[1], spacing[2]]
        ds.SliceThickness = spacing[0]
        ds.Rows, ds.Columns = hu.shape[1:]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = slope, intercept, "HU"
        for key, value in (extra or {}).items():
            setattr(ds, key, value)
        for key in drop:
            if key in ds:
                delattr(ds, key)
        ds.PixelData = stored[k].tobytes()
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
