"""Synthetic chest CTs with known lungs, and a writer of CT DICOM series (test helpers)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def synthetic_chest(shape=(40, 96, 128), spacing=(2.5, 1.5, 1.5), seed=0):
    """``(hu, lungs truth 1 right / 2 left)``: a soft-tissue body with two ellipsoid lungs (-850 HU),
    a trachea and main bronchi (-1000 HU; truth excludes them), thin vessels (40 HU) inside; the x index
    grows to the patient's left."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij")
    hu = np.full(shape, -1000.0)
    body = ((y - shape[1] / 2) / (shape[1] * 0.45)) ** 2 + ((x - shape[2] / 2) / (shape[2] * 0.47)) ** 2 <= 1
    hu[body] = 40.0
    truth = np.zeros(shape, np.uint8)
    for label, cx in ((1, shape[2] * 0.3), (2, shape[2] * 0.7)):
        lung = (((z - shape[0] * 0.45) / (shape[0] * 0.4)) ** 2 + ((y - shape[1] / 2) / (shape[1] * 0.3)) ** 2
                + ((x - cx) / (shape[2] * 0.15)) ** 2) <= 1
        truth[lung] = label
    hu[truth > 0] = -850.0
    trachea = (((y - shape[1] * 0.4) ** 2 + (x - shape[2] / 2) ** 2) <= 9) & (z >= shape[0] * 0.6)
    hu[trachea] = -1000.0
    airway = trachea.copy()
    for side in (-1, 1):   # main bronchi: from the carina down and out into each lung
        for t in np.linspace(0.0, 1.0, 40):
            cz, cx = shape[0] * (0.6 - 0.1 * t), shape[2] / 2 + side * shape[2] * 0.2 * t
            airway |= ((y - shape[1] * 0.4) ** 2 + (x - cx) ** 2 <= 4) & (np.abs(z - cz) <= 1)
    hu[airway] = -1000.0
    vessel = (y == shape[1] // 2) & (z == int(shape[0] * 0.45)) & (truth > 0)   # 1.5 x 2.5 mm in cross-section
    hu[vessel] = 40.0
    truth[airway] = 0
    hu += rng.normal(0, 10, shape)
    return hu.astype(np.float32), truth


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
