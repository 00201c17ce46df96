"""FLAIR input (spec 3.11): NIfTI or a DICOM series, reoriented to RAS+ (spec 3.10 point 1), with the bad inputs of
issue 24 refused clearly: a 2-D image, a 4-D series, a mask of another geometry, a non-FLAIR DICOM series."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import nibabel as nib
import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from biomedai.errors import InvalidInputError
from biomedai.io.dicom import read_dicom_series, series_headers

logger = logging.getLogger(__name__)

#: DICOM words that mark a FLAIR series (SeriesDescription, ProtocolName, SequenceName, ScanningSequence)
FLAIR_WORDS = ("FLAIR", "DARK_FLUID", "DARK-FLUID", "DARKFLUID", "TIRM", "T2_FL", "T2FL")


class Volume(NamedTuple):
    """A 3-D scalar volume in RAS+ voxel order with its affine (mm)."""

    array: np.ndarray
    affine: np.ndarray
    path: Path

    @property
    def voxel_volume_ml(self) -> float:
        return float(abs(np.linalg.det(self.affine[:3, :3]))) / 1000.0


def _check_3d(array: np.ndarray, path: Path) -> np.ndarray:
    if array.ndim == 4 and array.shape[3] == 1:
        array = array[..., 0]
    if array.ndim == 2 or (array.ndim == 3 and min(array.shape) == 1):
        raise InvalidInputError(f"{path}: a 2-D image {array.shape}; a 3-D FLAIR volume is needed")
    if array.ndim == 4:
        raise InvalidInputError(f"{path}: a 4-D series {array.shape}; give one 3-D FLAIR volume")
    if array.ndim != 3:
        raise InvalidInputError(f"{path}: {array.ndim}-D data {array.shape}; a 3-D FLAIR volume is needed")
    if not np.isfinite(array).all():
        raise InvalidInputError(f"{path}: holds NaN or infinite voxels")
    return array


def read_volume(path: str | Path) -> Volume:
    """Read a NIfTI file, reoriented to RAS+ (nibabel's closest canonical)."""
    path = Path(path)
    if not path.exists():
        raise InvalidInputError(f"{path}: file not found")
    if path.is_dir():
        return read_dicom_flair(path)
    try:
        img = nib.load(str(path))
    except Exception as exc:  # nibabel raises many kinds on a corrupt or foreign file
        raise InvalidInputError(f"{path}: not a readable NIfTI file ({exc})") from exc
    if len(img.shape) not in (3, 4) or (len(img.shape) == 4 and img.shape[3] == 1):
        _check_3d(np.asarray(img.dataobj), path)
    img = nib.as_closest_canonical(img)
    array = _check_3d(np.asarray(img.dataobj, dtype=np.float32), path)
    return Volume(array, img.affine.copy(), path)


def check_flair_tags(headers: list, path: Path) -> None:
    """Refuse a DICOM series whose tags say it is not a FLAIR (no FLAIR word and no inversion time)."""
    first = headers[0]
    text = " ".join(str(first.get(k, "")) for k in ("SeriesDescription", "ProtocolName", "SequenceName",
                                                   "ScanningSequence", "SequenceVariant")).upper()
    has_ti = first.get("InversionTime", None) not in (None, "")
    if not any(w in text for w in FLAIR_WORDS) and not has_ti:
        raise InvalidInputError(f"{path}: the DICOM series does not look like a FLAIR (description {text.strip()!r}, "
                                "no inversion time); give the 3-D T2-FLAIR series")


def series_ras_affine(image) -> np.ndarray:
    """RAS affine of a DICOM series read by ``biomedai.io`` as ``[z, y, x]``, for the array transposed to x, y, z."""
    spacing_xyz = np.asarray(image.spacing[::-1], float)
    direction_xyz = np.asarray(image.direction, float)[::-1, ::-1] if image.direction is not None else np.eye(3)
    lps = np.eye(4)
    lps[:3, :3] = direction_xyz * spacing_xyz[None, :]
    lps[:3, 3] = np.asarray(image.origin[::-1], float) if image.origin is not None else 0.0
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps


def read_dicom_flair(directory: Path) -> Volume:
    """Read a DICOM FLAIR series (through ``biomedai.io``), checked to be a FLAIR, as RAS+ NIfTI-like volume."""
    check_flair_tags(series_headers(directory), directory)
    image = read_dicom_series(directory)
    zyx = _check_3d(np.asarray(image.array, dtype=np.float32), directory)
    img = nib.as_closest_canonical(nib.Nifti1Image(zyx.transpose(2, 1, 0), series_ras_affine(image)))
    return Volume(np.asarray(img.dataobj, np.float32), img.affine.copy(), directory)


def to_series_frames(array: np.ndarray, volume: Volume) -> np.ndarray:
    """A RAS+ array on ``volume``'s grid back in its DICOM series' ``[frames, rows, columns]`` order (the order
    ``biomedai.io`` reads the series, as the DICOM SEG layer expects)."""
    image = read_dicom_series(volume.path)
    original = nib.orientations.io_orientation(series_ras_affine(image))
    back = nib.orientations.ornt_transform(nib.orientations.io_orientation(volume.affine), original)
    xyz = nib.orientations.apply_orientation(array, back)
    return np.ascontiguousarray(xyz.transpose(2, 1, 0))


def read_mask(path: str | Path, like: Volume, name: str = "mask") -> np.ndarray:
    """Read a binary mask and check it lies on the FLAIR's grid (same shape and affine after reorientation)."""
    mask = read_volume(path)
    if mask.array.shape != like.array.shape or not np.allclose(mask.affine, like.affine, atol=1e-3):
        raise InvalidInputError(f"{path}: {name} geometry {mask.array.shape} differs from the FLAIR "
                                f"{like.array.shape} ({like.path}); resample it to the FLAIR grid first")
    return mask.array > 0.5


def estimate_brain_mask(flair: np.ndarray) -> np.ndarray:
    """Brain mask of a skull-stripped FLAIR: above a fifth of the Otsu level, holes filled, largest component.

    A crude estimate for already skull-stripped inputs (as the MNI data); give a real mask for raw scans.
    """
    positive = flair[flair > 0]
    if positive.size == 0:
        raise InvalidInputError("FLAIR: no positive voxel, cannot estimate a brain mask")
    fg = flair > 0.2 * threshold_otsu(positive)
    labels, n = ndimage.label(fg)
    if n > 1:
        sizes = ndimage.sum(fg, labels, range(1, n + 1))
        fg = labels == (int(np.argmax(sizes)) + 1)
    return ndimage.binary_fill_holes(fg)
