"""Simulated CT series (and a DICOM SEG over them) for the viewer tests: nothing here is real data.

The phantom: air outside a body ellipse of water (0 HU) with two lungs (-800 HU), a spine of bone
(+700 HU) and a sphere of soft tissue (+60 HU) whose radius changes from slice to slice, so that
every slice draws differently and every window preset shows something else.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

SIZE = 64
SPACING = 0.8  # mm in plane
THICKNESS = 2.5  # mm between slices


def phantom(n_slices: int, lesion_mm: float = 9.0) -> tuple[np.ndarray, np.ndarray]:
    """Hounsfield units ``[slices, rows, columns]`` (int16) and the lesion mask (bool)."""
    z, y, x = np.mgrid[0:n_slices, 0:SIZE, 0:SIZE].astype(float)
    hu = np.full(z.shape, -1000.0)
    body = ((x - 32) / 29) ** 2 + ((y - 32) / 22) ** 2 <= 1
    hu[body] = 0
    for cx in (20, 44):
        hu[((x - cx) / 9) ** 2 + ((y - 28) / 12) ** 2 <= 1] = -800
    hu[(x - 32) ** 2 + (y - 46) ** 2 <= 16] = 700
    centre = (n_slices - 1) / 2
    radius_px = lesion_mm / SPACING
    lesion = ((x - 32) ** 2 + (y - 24) ** 2 + ((z - centre) * THICKNESS / SPACING) ** 2) <= radius_px ** 2
    hu[lesion] = 60
    hu += (x - 32) * (z - centre)  # a slice-dependent gradient: every slice differs
    return hu.astype(np.int16), lesion


def write_ct_series(folder: Path, patient_id: str, study_uid: str, n_slices: int = 24, lesion_mm: float = 9.0,
                    study_date: str = "20260101", description: str = "simulated chest CT") -> list[Path]:
    """One axial CT series of ``n_slices`` single-frame instances (Explicit VR Little Endian)."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    hu, _ = phantom(n_slices, lesion_mm)
    series_uid = generate_uid(entropy_srcs=[study_uid, "ct-series"])
    frame_uid = generate_uid(entropy_srcs=[study_uid, "frame-of-reference"])
    paths = []
    for k in range(n_slices):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[series_uid, str(k)])
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Simulated^Phantom", patient_id, "", "O"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame_uid
        ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = study_date, "120000", "1", f"ACC{study_date}"
        ds.ReferringPhysicianName = ""
        ds.StudyDescription, ds.SeriesDescription = "simulated phantom", description
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber, ds.BodyPartExamined = "CT", 2, k + 1, "CHEST"
        ds.Manufacturer = "biomedai test phantom"
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-SIZE * SPACING / 2, -SIZE * SPACING / 2, -100.0 + k * THICKNESS]
        ds.SliceLocation = ds.ImagePositionPatient[2]
        ds.PixelSpacing, ds.SliceThickness = [SPACING, SPACING], THICKNESS
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows = ds.Columns = SIZE
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "HU"
        ds.WindowCenter, ds.WindowWidth = 40, 400
        ds.PixelData = hu[k].tobytes()
        path = folder / f"ct-{k:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def write_seg(sources: list[Path], lesion: np.ndarray, path: Path) -> Path:
    """A BINARY DICOM SEG with one segment, the lesion, over the source slices (highdicom)."""
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    datasets = [pydicom.dcmread(p) for p in sources]
    description = hd.seg.SegmentDescription(
        segment_number=1, segment_label="lesion (simulated)",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Lesion, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)
    seg = hd.seg.Segmentation(
        source_images=datasets, pixel_array=lesion.astype(np.uint8), segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[description], series_instance_uid=hd.UID(), series_number=300,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="biomedai test", manufacturer_model_name="phantom",
        software_versions="0", device_serial_number="0", series_description="lesion SEG (simulated)")
    seg.save_as(path)
    return path
