"""A chest CT in Hounsfield units, with the checks a volume measurement needs.

Accepted: a DICOM series folder, one DICOM slice (quantified as a single slice), NIfTI or NRRD/MHA
(values taken as HU). Refused with :class:`~biomedai.errors.InvalidInputError` naming the file:
a folder with one slice ("single slice given as a series"), a folder mixing several series, CT
slices without RescaleSlope/RescaleIntercept, a scout/localizer image, a tilted gantry, uneven or
too thick slices, and values that are not HU (stored values never rescaled).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.io import Image, read_image
from biomedai.io.dicom import list_dicom_series, series_headers

from .config import CovidCTConfig

logger = logging.getLogger(__name__)


@dataclass
class ChestCT:
    """HU volume ``[z, y, x]`` (float32) with spacing in mm, and where it came from."""

    hu: np.ndarray
    spacing: tuple[float, float, float]
    image: Image
    source: Path
    dicom_headers: list[Any]

    @property
    def voxel_ml(self) -> float:
        """Volume of one voxel in cm³ (= mL)."""
        return float(np.prod(self.spacing)) / 1000.0

    @property
    def is_single_slice(self) -> bool:
        return self.hu.shape[0] == 1


def _is_dicom_file(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return head[128:132] == b"DICM"


def check_dicom_header(ds: Any, where: Path, config: CovidCTConfig) -> None:
    """Refuse a scout, a slice without rescale tags, a tilted gantry or a non-CT modality."""
    image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
    if "LOCALIZER" in image_type or "SCOUT" in " ".join(image_type):
        raise InvalidInputError("this is a scout/localizer image (ImageType "
                                f"{'/'.join(image_type)}), not an axial CT slice", where)
    modality = str(ds.get("Modality", ""))
    if modality and modality != "CT":
        raise InvalidInputError(f"modality is {modality!r}, a chest CT is needed", where)
    if "RescaleSlope" not in ds or "RescaleIntercept" not in ds:
        missing = [k for k in ("RescaleSlope", "RescaleIntercept") if k not in ds]
        raise InvalidInputError(f"CT slice lacks {' and '.join(missing)}: stored values cannot be turned into "
                                "Hounsfield units", where)
    tilt = ds.get("GantryDetectorTilt")
    if tilt is not None and abs(float(tilt)) > config.max_gantry_tilt_deg:
        raise InvalidInputError(f"gantry tilt of {float(tilt):g} degrees: resample the series to an untilted "
                                "grid first (volumes on a sheared grid are wrong)", where)


def _check_series_geometry(headers: list[Any], where: Path, config: CovidCTConfig) -> None:
    if not all("ImagePositionPatient" in h and "ImageOrientationPatient" in h for h in headers):
        raise InvalidInputError("slices lack ImagePositionPatient/ImageOrientationPatient: slice spacing "
                                "cannot be checked", where)
    iop = np.asarray([float(v) for v in headers[0].ImageOrientationPatient])
    normal = np.cross(iop[:3], iop[3:])
    positions = np.asarray([[float(v) for v in h.ImagePositionPatient] for h in headers])
    steps = np.diff(positions, axis=0)
    lengths = np.linalg.norm(steps, axis=1)
    cos = np.abs(steps @ normal) / np.maximum(lengths, 1e-9)
    angle = float(np.degrees(np.arccos(np.clip(cos.min(), -1, 1))))
    if angle > config.max_gantry_tilt_deg:
        raise InvalidInputError(f"slices are stacked {angle:.1f} degrees off their normal (gantry tilt): "
                                "resample to an untilted grid first", where)
    gaps = np.abs(steps @ normal)
    spread = (gaps.max() - gaps.min()) / max(float(np.median(gaps)), 1e-9)
    if spread > config.uneven_spacing_tolerance:
        raise InvalidInputError(f"uneven slice spacing ({gaps.min():.3g}..{gaps.max():.3g} mm): missing slices "
                                "or a mixed series", where)


def check_volume(hu: np.ndarray, spacing: tuple[float, ...], where: Path, config: CovidCTConfig) -> None:
    """Refuse thick slices and values that are not HU."""
    if hu.shape[0] > 1 and spacing[0] > config.max_slice_spacing_mm:
        raise InvalidInputError(f"slice spacing {spacing[0]:g} mm exceeds {config.max_slice_spacing_mm:g} mm", where)
    low = float(np.percentile(hu, 1))
    if low >= -200:
        raise InvalidInputError(f"values do not look like Hounsfield units (1st percentile {low:g}; air should be "
                                "near -1000): stored values without RescaleIntercept?", where)


def load_chest_ct(path: str | Path, config: CovidCTConfig | None = None) -> ChestCT:
    """Read a chest CT into HU with the checks of the module docstring."""
    config = config or CovidCTConfig()
    path = Path(path)
    headers: list[Any] = []
    if path.is_dir():
        series = list_dicom_series(path)
        if len(series) > 1:
            listing = "; ".join(f"{s['SeriesInstanceUID']} ({s['n_files']} files, {s['SeriesDescription']!r})"
                                for s in series)
            raise InvalidInputError(f"folder mixes {len(series)} DICOM series: {listing}; give one series per "
                                    "folder", path)
        headers = series_headers(path)
        if len(headers) == 1:
            raise InvalidInputError("folder holds a single slice, not a CT series: give the file itself to "
                                    "quantify one slice, or the complete series", path)
        for ds in headers:
            check_dicom_header(ds, path, config)
        _check_series_geometry(headers, path, config)
    elif path.is_file() and _is_dicom_file(path):
        import pydicom

        ds = pydicom.dcmread(path, stop_before_pixels=True)
        check_dicom_header(ds, path, config)
        headers = [ds]
    image = read_image(path)
    if image.channel_axis is not None:
        raise InvalidInputError("a CT must be greyscale; this image has colour channels", path)
    array = np.asarray(image.array, dtype=np.float32)
    if image.ndim_spatial == 2:
        thickness = float(image.metadata.get("SliceThickness") or 1.0)
        array = array[None]
        spacing = (thickness, *image.spacing)
    elif image.ndim_spatial == 3:
        spacing = tuple(float(s) for s in image.spacing)
    else:
        raise InvalidInputError(f"expected a 2-D slice or a 3-D volume, got shape {image.shape}", path)
    if image.spacing_unit not in ("mm",) and not headers:
        logger.warning("%s: spacing unit %r, taken as mm", path, image.spacing_unit)
    check_volume(array, spacing, path, config)
    return ChestCT(array, spacing, image, path, headers)  # type: ignore[arg-type]


def patient_axis_signs(image: Image) -> dict[str, tuple[int, int]]:
    """For patient left (+x LPS), posterior (+y) and superior (+z): ``(array axis, sign)``.

    Axes are matched by the largest direction cosine; a 2-D slice is treated as axial with
    identity orientation.
    """
    if image.ndim_spatial == 2:
        return {"left": (2, 1), "posterior": (1, 1), "superior": (0, 1)}
    direction = np.asarray(image.direction)  # rows: physical (z, y, x); columns: array axes
    out = {}
    for name, row in (("left", 2), ("posterior", 1), ("superior", 0)):
        axis = int(np.argmax(np.abs(direction[row])))
        out[name] = (axis, 1 if direction[row, axis] > 0 else -1)
    return out
