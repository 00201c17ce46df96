"""MRC / CCP4 maps, tomograms and image stacks (``.mrc``, ``.map``, ``.rec``, ``.mrcs``, ``.st``) via mrcfile.

Data come back as ``[z, y, x]`` (sections, rows, columns; the MAPC/MAPR/MAPS axis order is undone
when it is not the usual 1, 2, 3). The voxel size is kept in angstrom (``spacing_unit="angstrom"``)
and the header origin (x, y, z, angstrom) becomes ``origin``. Files are opened in mrcfile's strict
mode, so a file without the ``MAP`` id or with too few data bytes is rejected.

Example:
    >>> import tempfile, numpy as np
    >>> from biomedai.io.image import Image
    >>> p = Path(tempfile.mkdtemp()) / "m.mrc"
    >>> _ = write_mrc(Image(np.zeros((4, 5, 6), np.float32), spacing=(10.0, 10.0, 10.0), spacing_unit="angstrom"), p)
    >>> img = read_mrc(p); img.shape, img.spacing, img.spacing_unit
    ((4, 5, 6), (10.0, 10.0, 10.0), 'angstrom')
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError, UnsupportedFormatError
from biomedai.io._files import (
    as_image,
    check_pixels,
    check_writable,
    existing_file,
    reading,
    writing,
)
from biomedai.io.image import Image
from biomedai.io.limits import check_array_size
from biomedai.utils import atomic_path

logger = logging.getLogger(__name__)

#: How many angstrom one unit is, for converting an Image's spacing when writing.
ANGSTROM_PER_UNIT = {"angstrom": 1.0, "A": 1.0, "nm": 10.0, "um": 1e4, "mm": 1e7, "pixel": 1.0}


def read_mrc(path: str | Path) -> Image:
    """Read an MRC file into ``[z, y, x]`` (or ``[y, x]``) with voxel size in angstrom."""
    import mrcfile

    path = existing_file(path)
    with reading(path, "MRC"):
        with mrcfile.mmap(path, mode="r", permissive=False) as mrc:
            check_array_size(mrc.data.shape, mrc.data.dtype.itemsize, path, "MRC map")
            data = check_pixels(np.array(mrc.data), path)
            header = mrc.header
            voxel = mrc.voxel_size
            voxel_xyz = np.array([float(voxel.x), float(voxel.y), float(voxel.z)])
            origin_xyz = np.array([float(header.origin.x), float(header.origin.y), float(header.origin.z)])
            axis_map = (int(header.mapc), int(header.mapr), int(header.maps))
            metadata: dict[str, Any] = {
                "format": "MRC", "mode": int(header.mode), "space_group": int(header.ispg),
                "is_image_stack": bool(mrc.is_image_stack()), "is_volume_stack": bool(mrc.is_volume_stack()),
                "nstart": [int(header.nxstart), int(header.nystart), int(header.nzstart)],
                "header_min": float(header.dmin), "header_max": float(header.dmax),
                "header_mean": float(header.dmean),
                "labels": [lab.decode("ascii", "replace").strip() for lab in
                           header.label[: int(header.nlabl)]],
            }
    if metadata["is_volume_stack"] or data.ndim > 3:
        raise UnsupportedFormatError("MRC volume stacks (4D) are not supported; read them with mrcfile", path)
    if data.size == 0:
        raise InvalidInputError("MRC file holds an empty array", path)
    if data.ndim == 3 and axis_map != (1, 2, 3):
        if sorted(axis_map) != [1, 2, 3]:
            raise InvalidInputError(f"MRC header has an invalid axis map {axis_map}", path)
        labels = [axis_map[2], axis_map[1], axis_map[0]]  # data axes are (section, row, column)
        data = np.transpose(data, [labels.index(3), labels.index(2), labels.index(1)])
        metadata["axis_map"] = list(axis_map)
    n = data.ndim
    known = bool(np.all(voxel_xyz[:n] > 0))
    spacing = tuple(voxel_xyz[:n][::-1]) if known else None
    return Image(np.ascontiguousarray(data), spacing=spacing, origin=tuple(origin_xyz[:n][::-1]),
                 spacing_unit="angstrom" if known else "pixel", metadata=metadata)


def write_mrc(image: Image | np.ndarray, path: str | Path, voxel_size: float | tuple[float, ...] | None = None
              ) -> Path:
    """Write a 2D/3D single-channel image as MRC (mode 0/1/2/6/12), atomically.

    The voxel size comes from ``voxel_size`` (angstrom; one value or x, y, z) or else from the
    image's spacing converted to angstrom. float64 is stored as float32, wider integers as int16
    when they fit and float32 otherwise.
    """
    import mrcfile

    image, path = as_image(image), Path(path)
    check_writable(image, path)
    if image.channel_axis is not None:
        raise InvalidInputError("MRC holds single-channel data; split the channels first", path)
    if image.ndim_spatial not in (2, 3):
        raise InvalidInputError(f"MRC writer takes 2 or 3 spatial axes, got {image.ndim_spatial}", path)
    data = _mrc_dtype(image.array)
    if voxel_size is None:
        factor = ANGSTROM_PER_UNIT.get(image.spacing_unit)
        if factor is None:
            raise InvalidInputError(f"cannot convert spacing unit {image.spacing_unit!r} to angstrom; "
                                    "pass voxel_size=", path)
        spacing_xyz = tuple(float(s) * factor for s in image.spacing[::-1])
    else:
        values = np.ravel(voxel_size).astype(float)
        spacing_xyz = tuple(values.tolist()) * (3 if values.size == 1 else 1)
    if len(spacing_xyz) == 2:
        spacing_xyz = (*spacing_xyz, spacing_xyz[0])
    origin_xyz = tuple(float(o) for o in image.origin[::-1]) + (0.0,) * (3 - image.ndim_spatial)
    factor = ANGSTROM_PER_UNIT.get(image.spacing_unit, 1.0)
    with writing(path, "MRC"), atomic_path(path) as tmp:
        with mrcfile.new(tmp, overwrite=True) as mrc:
            mrc.set_data(np.ascontiguousarray(data))
            mrc.voxel_size = spacing_xyz[:3]
            mrc.header.origin = tuple(o * factor for o in origin_xyz[:3])
            mrc.update_header_stats()
    return path


def _mrc_dtype(array: np.ndarray) -> np.ndarray:
    if array.dtype in (np.int8, np.int16, np.uint16, np.float32, np.uint8, np.float16):
        return array
    if array.dtype == bool:
        return array.astype(np.int8)
    if array.dtype.kind in "iu":
        info = np.iinfo(np.int16)
        if array.min() >= info.min and array.max() <= info.max:
            return array.astype(np.int16)
    return array.astype(np.float32)
