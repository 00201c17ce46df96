"""DBT input: volumes (DICOM Breast Tomosynthesis multi-frame or one file per slice, NIfTI, MHA) with view,
laterality and breast id; box annotations (CSV or JSON, voxels or mm) with optional masks; a breast mask.

View comes from ``ViewPosition`` or ``ViewCodeSequence`` (CC / MLO), laterality from ``ImageLaterality``,
``Laterality`` or ``FrameLaterality``, the breast id is ``PatientID`` + laterality; for NIfTI/MHA they come from
the file name (``..._LCC.nii.gz``, ``..._RMLO.mha``) or the caller. Every refusal names the file.
"""
from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from biomedai.errors import InvalidInputError
from biomedai.io import read_image
from biomedai.io.dicom import read_dicom, read_dicom_series
from biomedai.io.image import Image

logger = logging.getLogger(__name__)

__all__ = ["DBT_SOP_CLASS", "DbtVolume", "read_dbt", "input_problem", "read_box_annotations",
           "breast_mask_by_threshold", "write_dbt_dicom"]

#: Breast Tomosynthesis Image Storage
DBT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.13.1.3"
_VIEW_WORDS = {"CC": "CC", "MLO": "MLO", "CRANIO-CAUDAL": "CC", "MEDIO-LATERAL OBLIQUE": "MLO"}
_NAME_VIEW = re.compile(r"(?:^|[_\-.])([LR])[_\-]?(CC|MLO)(?:$|[_\-.])", re.IGNORECASE)


@dataclass
class DbtVolume:
    """A DBT view ready for the model: the volume (z, y, x) in mm, its view, laterality and breast id."""

    image: Image
    view: str
    laterality: str
    breast_id: str
    path: Path

    @property
    def view_id(self) -> str:
        return f"{self.breast_id}_{self.laterality}{self.view}" if self.breast_id else self.path.stem


def _dicom_header(path: Path) -> Any:
    import pydicom

    first = path if path.is_file() else next((p for p in sorted(path.iterdir()) if p.is_file()), None)
    if first is None:
        raise InvalidInputError("folder holds no DICOM file", path)
    return pydicom.dcmread(first, stop_before_pixels=True, force=True)


def _view_from_header(ds: Any) -> str | None:
    value = ds.get("ViewPosition")
    if not value:
        seq = ds.get("ViewCodeSequence")
        value = seq[0].get("CodeMeaning") if seq else None
    return _VIEW_WORDS.get(str(value).strip().upper()) if value else None


def _laterality_from_header(ds: Any) -> str | None:
    for key in ("ImageLaterality", "Laterality"):
        if ds.get(key):
            return str(ds.get(key)).strip().upper()[:1]
    shared = ds.get("SharedFunctionalGroupsSequence")
    anatomy = shared[0].get("FrameAnatomySequence") if shared else None
    if anatomy and anatomy[0].get("FrameLaterality"):
        return str(anatomy[0].FrameLaterality).strip().upper()[:1]
    return None


def _is_dicom(path: Path) -> bool:
    if path.is_dir():
        return True
    with path.open("rb") as handle:
        head = handle.read(132)
    return head[128:132] == b"DICM" or path.suffix.lower() in (".dcm", ".dicom")


def input_problem(path: str | Path) -> str | None:
    """Why ``path`` is not a DBT view :func:`read_dbt` takes without overrides (its view and laterality from the
    DICOM header or the file name; no pixels read), or None. The service's router asks this first, so an MS
    FLAIR or another NIfTI volume is not sent to the DBT detector."""
    path = Path(path)
    if not path.exists():
        return "no such file or folder"
    if _is_dicom(path):
        header = _dicom_header(path)
        view, side = _view_from_header(header), _laterality_from_header(header)
    else:
        match = _NAME_VIEW.search(path.name)
        view, side = (match.group(2).upper(), match.group(1).upper()) if match else (None, None)
    if view is None:
        return ("no breast view (CC or MLO) in the DICOM header (ViewPosition) or the file name (e.g. case1_LCC.nii.gz):"
                " not a DBT view")
    if side not in ("L", "R"):
        return "no breast laterality (L or R) in the DICOM header or the file name: not a DBT view"
    return None


def read_dbt(path: str | Path, view: str | None = None, laterality: str | None = None,
             breast_id: str | None = None) -> DbtVolume:
    """Read one DBT view; ``view``/``laterality``/``breast_id`` override (or supply) what the file says."""
    path = Path(path)
    if not path.exists():
        raise InvalidInputError("no such file or folder", path)
    header = None
    if _is_dicom(path):
        image = read_dicom_series(path) if path.is_dir() else read_dicom(path)
        header = _dicom_header(path)
    else:
        image = read_image(path)
    if image.channel_axis is not None or image.ndim_spatial != 3 or image.spatial_shape[0] < 2:
        raise InvalidInputError(f"a {image.ndim_spatial}-D image of shape {image.shape} is not a DBT volume (a 2-D "
                                "mammogram or a single slice?); DBT needs a stack of reconstructed slices", path)
    if image.spacing_unit != "mm" or (header is not None and image.metadata.get("z_spacing_known") is False):
        raise InvalidInputError("the volume has no voxel spacing in mm (PixelSpacing and slice positions or "
                                "SpacingBetweenSlices for DICOM, the header for NIfTI/MHA)", path)
    match = _NAME_VIEW.search(path.name)
    found_view = _view_from_header(header) if header is not None else (match.group(2).upper() if match else None)
    found_side = _laterality_from_header(header) if header is not None else (match.group(1).upper() if match else None)
    view = (view or found_view or "").upper()
    if view not in ("CC", "MLO"):
        raise InvalidInputError("the view (CC or MLO) is missing: no ViewPosition/ViewCodeSequence tag or _LCC/_RMLO "
                                "in the file name; pass view=", path)
    side = (laterality or found_side or "").upper()
    if side not in ("L", "R"):
        raise InvalidInputError("the laterality (L or R) is missing: no ImageLaterality/Laterality tag or _L/_R in the "
                                "file name; pass laterality=", path)
    if breast_id is None:
        patient = str(header.get("PatientID", "")) if header is not None else ""
        stem = path.name.split(".")[0]
        breast_id = f"{patient or (stem[:match.start()] if match else stem)}"
    return DbtVolume(image, view, side, breast_id, path)


def read_box_annotations(path: str | Path, shapes: dict[str, Sequence[int]],
                         spacings: dict[str, Sequence[float]] | None = None) -> dict[str, np.ndarray]:
    """Boxes per view id from CSV (columns ``view_id, z0, y0, x0, z1, y1, x1`` and optional ``unit``) or JSON
    (``[{"view_id": ..., "box": [...], "unit": "voxel"|"mm"}]``); mm are measured from the first voxel's corner.

    ``shapes`` (view id -> volume shape) checks every box lies inside its volume; ``spacings`` converts mm.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError("annotation file not found", path)
    text = path.read_text(encoding="utf-8-sig").strip()
    if not text:
        raise InvalidInputError("annotation file is empty", path)
    if path.suffix.lower() == ".json":
        try:
            rows = [{"view_id": r.get("view_id") or r.get("case_id"), "unit": r.get("unit", "voxel"),
                     **dict(zip(("z0", "y0", "x0", "z1", "y1", "x1"), r["box"]))} for r in json.loads(text)]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidInputError(f"annotation JSON must be a list of {{view_id, box, unit}}: {exc}", path) from None
    else:
        rows = list(csv.DictReader(text.splitlines()))
    if not rows:
        raise InvalidInputError("annotation file has no boxes", path)
    out: dict[str, list[np.ndarray]] = {}
    for k, row in enumerate(rows, start=1):
        vid = row.get("view_id") or row.get("case_id")
        try:
            box = np.array([float(row[c]) for c in ("z0", "y0", "x0", "z1", "y1", "x1")])
        except (KeyError, TypeError, ValueError):
            raise InvalidInputError(f"row {k}: needs view_id and numeric z0, y0, x0, z1, y1, x1", path) from None
        if vid not in shapes:
            raise InvalidInputError(f"row {k}: view {vid!r} is not among the volumes read", path)
        if str(row.get("unit") or "voxel").lower() == "mm":
            if not spacings or vid not in spacings:
                raise InvalidInputError(f"row {k}: box in mm but no spacing known for {vid}", path)
            box = box / np.tile(np.asarray(spacings[vid], float), 2)
        shape = np.asarray(shapes[vid], float)
        if np.any(box[3:] <= box[:3]) or np.any(box[:3] < 0) or np.any(box[3:] > shape + 1e-6):
            raise InvalidInputError(f"row {k}: box {box.round(2).tolist()} of {vid} is empty or outside the volume "
                                    f"of shape {tuple(int(s) for s in shape)}", path)
        out.setdefault(vid, []).append(box)
    return {vid: np.stack(b) for vid, b in out.items()}


def breast_mask_by_threshold(volume: np.ndarray) -> np.ndarray:
    """The breast region (skin and background excluded roughly, spec 1.3): Otsu threshold of the slice-mean
    image, largest connected component, holes filled, applied to every slice."""
    from skimage.filters import threshold_otsu

    plane = volume.mean(0)
    if float(plane.max()) == float(plane.min()):
        return np.zeros(volume.shape, bool)
    fg = plane > threshold_otsu(plane)
    labels, n = ndimage.label(fg)
    if n > 1:
        fg = labels == (1 + int(np.argmax(ndimage.sum(fg, labels, range(1, n + 1)))))
    fg = ndimage.binary_fill_holes(fg)
    return np.broadcast_to(fg, volume.shape).copy()


def write_dbt_dicom(volume: np.ndarray, spacing: Sequence[float], path: str | Path, view: str, laterality: str,
                    patient_id: str, per_slice: bool = False) -> Path:
    """Write a (SIMULATED) volume as DICOM Breast Tomosynthesis: one multi-frame file, or one file per slice in
    the folder ``path`` (``per_slice``). 16-bit unsigned with a rescale to the float values."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence as DicomSequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    path = Path(path)
    lo, hi = float(volume.min()), float(volume.max())
    slope = (hi - lo) / 65535.0 if hi > lo else 1.0
    stored = np.round((volume - lo) / slope).astype(np.uint16)
    study, series, frame = (generate_uid(entropy_srcs=[patient_id, laterality, view, s]) for s in ("st", "se", "fr"))

    def base(sop_uid: str, sop_class: str) -> Dataset:
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop_class, sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_uid
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.PatientID, ds.PatientName, ds.Modality = patient_id, "SIMULATED^DBT", "MG"
        ds.ViewPosition, ds.ImageLaterality, ds.SeriesDescription = view, laterality, "SIMULATED DBT"
        ds.Rows, ds.Columns = int(volume.shape[1]), int(volume.shape[2])
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleSlope, ds.RescaleIntercept = f"{slope:.10g}", f"{lo:.10g}"
        return ds

    iop = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    if per_slice:
        path.mkdir(parents=True, exist_ok=True)
        for z in range(volume.shape[0]):
            ds = base(generate_uid(entropy_srcs=[series, str(z)]), "1.2.840.10008.5.1.4.1.1.7")  # secondary capture
            ds.PixelSpacing = [float(spacing[1]), float(spacing[2])]
            ds.SliceThickness = float(spacing[0])
            ds.ImageOrientationPatient, ds.ImagePositionPatient = iop, [0.0, 0.0, float(z * spacing[0])]
            ds.InstanceNumber = z + 1
            ds.PixelData = stored[z].tobytes()
            pydicom.dcmwrite(path / f"slice_{z:03d}.dcm", ds, enforce_file_format=True)
        return path
    ds = base(generate_uid(entropy_srcs=[series, "mf"]), DBT_SOP_CLASS)
    ds.NumberOfFrames = int(volume.shape[0])
    measures = Dataset()
    measures.PixelSpacing = [float(spacing[1]), float(spacing[2])]
    measures.SliceThickness = float(spacing[0])
    orientation = Dataset()
    orientation.ImageOrientationPatient = iop
    shared = Dataset()
    shared.PixelMeasuresSequence = DicomSequence([measures])
    shared.PlaneOrientationSequence = DicomSequence([orientation])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    frames = []
    for z in range(volume.shape[0]):
        position = Dataset()
        position.ImagePositionPatient = [0.0, 0.0, float(z * spacing[0])]
        group = Dataset()
        group.PlanePositionSequence = DicomSequence([position])
        frames.append(group)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(frames)
    ds.PixelData = stored.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path
