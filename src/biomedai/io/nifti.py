"""NIfTI-1/2 (``.nii``, ``.nii.gz``, ``.hdr/.img``) through nibabel.

Convention (one for the whole package): **LPS patient coordinates, like DICOM and SimpleITK.**
NIfTI stores a voxel-to-RAS affine; we negate its first two world axes (x, y) so that ``origin``
and ``direction`` are the ones SimpleITK reports for the same file, and reverse the axes to
``[z, y, x]`` like every other reader. So ``read_nifti(p)`` agrees with
``Image.from_sitk(sitk.ReadImage(p))`` and a volume written here reads the same in SimpleITK,
ITK-SNAP and 3D Slicer. The affine is nibabel's choice (sform when set, else qform).

4D files become ``[z, y, x, t]`` with the fourth axis as channels (``metadata["fourth_axis"]``).
A 2D image with channels is written as ``[x, y, 1, c]`` and so reads back as one slice.

Example:
    >>> import tempfile, numpy as np
    >>> from biomedai.io.image import Image
    >>> p = Path(tempfile.mkdtemp()) / "v.nii.gz"
    >>> _ = write_nifti(Image(np.zeros((2, 3, 4), np.int16), spacing=(3.0, 1.0, 0.5), spacing_unit="mm"), p)
    >>> read_nifti(p).spacing
    (3.0, 1.0, 0.5)
"""
from __future__ import annotations

import gzip
import logging
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError, UnsupportedFormatError
from biomedai.io._files import (
    as_image,
    check_gzip_complete,
    check_pixels,
    check_writable,
    existing_file,
    lower_suffix,
    reading,
    writing,
)
from biomedai.io.image import Image
from biomedai.io.limits import check_array_size, check_decoded_bytes, current_limits
from biomedai.utils import atomic_path

logger = logging.getLogger(__name__)

_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])
_UNITS = {"mm": ("mm", 1.0), "micron": ("um", 1.0), "meter": ("mm", 1000.0), "unknown": ("mm", 1.0)}


def read_nifti(path: str | Path) -> Image:
    """Read a NIfTI file as ``[z, y, x]`` (or ``[y, x]``) with LPS geometry (see the module docstring)."""
    import nibabel as nib

    path = existing_file(path)
    if lower_suffix(path) == ".hdr":
        _check_pair_inside(path)
    if lower_suffix(path) == ".nii.gz":
        check_gzip_complete(path)
    with reading(path, "NIfTI"):
        if lower_suffix(path) in (".nii", ".nii.gz", ".hdr", ".img"):
            nii = nib.load(str(path))
        else:  # detected by content under another name: nibabel needs the bytes
            raw = path.read_bytes()
            nii = nib.Nifti1Image.from_bytes(gunzip_bounded(raw, path) if raw[:2] == b"\x1f\x8b" else raw)
        if not isinstance(nii, (nib.Nifti1Image, nib.Nifti2Image, nib.Nifti1Pair, nib.Nifti2Pair)):
            raise UnsupportedFormatError(f"{type(nii).__name__} is not NIfTI", path)
        check_array_size(nii.header.get_data_shape(), nii.header.get_data_dtype().itemsize, path, "NIfTI image")
        data = check_pixels(np.asanyarray(nii.dataobj), path)
        affine = np.asarray(nii.affine, dtype=float)
        header = nii.header
        xyz_unit = header.get_xyzt_units()[0]
        qform_code, sform_code = int(header["qform_code"]), int(header["sform_code"])
        intent = header.get_intent()[0]
    if data.size == 0:
        raise InvalidInputError("NIfTI file holds an empty array", path)
    metadata: dict[str, Any] = {"format": "NIfTI", "qform_code": qform_code, "sform_code": sform_code,
                                "nifti_unit": xyz_unit, "intent": intent}
    if data.ndim == 5 and data.shape[3] == 1:  # ITK's vector images: x, y, z, 1, components
        data = data[:, :, :, 0, :]
        metadata["fourth_axis"] = "components"
    if data.ndim > 4:
        raise UnsupportedFormatError(f"NIfTI with {data.ndim} dimensions is not supported (at most 4)", path)
    n_spatial = min(data.ndim, 3)
    linear = affine[:3, :3]
    spacing_xyz = np.linalg.norm(linear, axis=0)
    if np.any(spacing_xyz <= 0) or not np.all(np.isfinite(affine)):
        raise InvalidInputError(f"NIfTI affine is degenerate: {affine.tolist()}", path)
    direction_xyz = _RAS_TO_LPS @ (linear / spacing_xyz)
    origin_xyz = _RAS_TO_LPS @ affine[:3, 3]
    unit, scale = _UNITS.get(xyz_unit, ("mm", 1.0))
    spacing_xyz = spacing_xyz * scale
    origin_xyz = origin_xyz * scale
    channel_axis = None
    if data.ndim == 4:
        array = np.transpose(data, (2, 1, 0, 3))
        channel_axis = -1
        metadata.setdefault("fourth_axis", "time" if intent == "none" else intent)
    else:
        array = np.transpose(data, tuple(range(data.ndim))[::-1])
    n = n_spatial
    return Image(np.ascontiguousarray(array), spacing=tuple(spacing_xyz[:n][::-1]),
                 origin=tuple(origin_xyz[:n][::-1]), direction=direction_xyz[:n, :n][::-1, ::-1],
                 channel_axis=channel_axis, spacing_unit=unit, metadata=metadata)


def gunzip_bounded(raw: bytes, path: Path) -> bytes:
    """Decompress gzip bytes, refusing output beyond the ``max_bytes`` read limit (a gzip bomb)."""
    limit = current_limits().max_bytes
    stream = zlib.decompressobj(31)
    out = stream.decompress(raw, limit + 1)
    check_decoded_bytes(len(out), path, "gzip data")
    return out


def _check_pair_inside(path: Path) -> None:
    """The ``.img`` of a ``.hdr`` must be a file in the header's folder (not a link leading out of it)."""
    image_file = path.with_suffix(".img")
    if image_file.is_symlink() and not current_limits().allow_external_data:
        folder = path.resolve().parent
        if folder not in image_file.resolve().parents:
            raise InvalidInputError(f"{image_file.name} is a link to a file outside the header's folder", path)


def write_nifti(image: Image | np.ndarray, path: str | Path) -> Path:
    """Write a 2D/3D image (channels as a 4th axis) to ``.nii`` or ``.nii.gz``, atomically, LPS -> RAS."""
    import nibabel as nib

    image, path = as_image(image), Path(path)
    check_writable(image, path)
    suffix = lower_suffix(path)
    if suffix not in (".nii", ".nii.gz"):
        raise UnsupportedFormatError(f"NIfTI files end in .nii or .nii.gz, got {suffix!r}", path)
    n = image.ndim_spatial
    if n not in (2, 3):
        raise InvalidInputError(f"NIfTI writer takes 2 or 3 spatial axes, got {n}", path)
    array = image.array
    if array.dtype == bool:
        array = array.astype(np.uint8)
    elif array.dtype == np.float16:
        array = array.astype(np.float32)
    data = np.transpose(array, tuple(range(n))[::-1] + ((n,) if image.channel_axis is not None else ()))
    if image.channel_axis is not None and n == 2:
        data = data[:, :, np.newaxis, :]
    direction_xyz = np.eye(3)
    direction_xyz[:n, :n] = np.asarray(image.direction)[::-1, ::-1]
    spacing_xyz = np.ones(3)
    spacing_xyz[:n] = image.spacing[::-1]
    origin_xyz = np.zeros(3)
    origin_xyz[:n] = image.origin[::-1]
    affine = np.eye(4)
    affine[:3, :3] = _RAS_TO_LPS @ direction_xyz * spacing_xyz
    affine[:3, 3] = _RAS_TO_LPS @ origin_xyz
    with writing(path, "NIfTI"):
        nii = nib.Nifti1Image(np.ascontiguousarray(data), affine)
        nii.set_qform(affine, code=1)
        nii.set_sform(affine, code=1)
        nii.header.set_xyzt_units({"mm": "mm", "um": "micron"}.get(image.spacing_unit, "unknown"))
        payload = nii.to_bytes()
        if suffix == ".nii.gz":
            payload = gzip.compress(payload, compresslevel=6)
        with atomic_path(path) as tmp:
            tmp.write_bytes(payload)
    return path
