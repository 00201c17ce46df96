"""NRRD (``.nrrd``, ``.nhdr``) and MetaImage (``.mha``, ``.mhd``) through SimpleITK.

Geometry is SimpleITK's (LPS, millimetres), reversed to our ``[z, y, x]`` order by
:meth:`Image.from_sitk`. Writers produce single-file ``.nrrd`` and ``.mha`` only (a detached
header and its data file cannot be renamed into place atomically together).

Example:
    >>> import tempfile, numpy as np
    >>> from biomedai.io.image import Image
    >>> p = Path(tempfile.mkdtemp()) / "v.nrrd"
    >>> _ = write_itk(Image(np.ones((2, 3, 4), np.int16), spacing=(2.0, 0.5, 0.5), spacing_unit="mm"), p)
    >>> read_itk(p).spacing
    (2.0, 0.5, 0.5)
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.io._files import (as_image, check_gzip_complete, check_pixels, check_writable, existing_file,
                                lower_suffix, native_stderr_captured, read_head, reading, unsupported_suffix, writing)
from biomedai.io.detached import check_detached_data_files
from biomedai.io.image import Image
from biomedai.io.limits import check_array_size
from biomedai.utils import atomic_path

logger = logging.getLogger(__name__)

_UNIT_KEY = "biomedai_spacing_unit"
WRITE_SUFFIXES = [".nrrd", ".mha"]


def read_itk(path: str | Path) -> Image:
    """Read NRRD or MetaImage with SimpleITK; header keys go to ``metadata["header"]``."""
    import SimpleITK as sitk

    path = existing_file(path)
    from biomedai.io.formats import format_from_signature

    fmt = format_from_signature(read_head(path, 1024), path)
    if fmt not in ("nrrd", "metaimage"):
        fmt = "nrrd" if lower_suffix(path) in (".nrrd", ".nhdr") else "metaimage"
    what = "NRRD" if fmt == "nrrd" else "MetaImage"
    check_detached_data_files(path, fmt)  # before SimpleITK opens anything the header names
    if fmt == "nrrd":
        _check_attached_gzip(path)
    with reading(path, what), native_stderr_captured():
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        reader.SetImageIO("NrrdImageIO" if fmt == "nrrd" else "MetaImageIO")
        reader.ReadImageInformation()
        header = {key: reader.GetMetaData(key) for key in reader.GetMetaDataKeys()}
        shape = [*reversed(reader.GetSize()), max(1, reader.GetNumberOfComponents())]
        check_array_size(shape, _pixel_bytes(reader.GetPixelID()), path, what)
        sitk_image = reader.Execute()
    unit = header.pop(_UNIT_KEY, None) or "mm"
    metadata: dict[str, Any] = {"format": what, "header": {k: v for k, v in header.items() if len(v) < 256}}
    image = Image.from_sitk(sitk_image, spacing_unit=unit, metadata=metadata)
    check_pixels(image.array, path)
    return image


def _check_attached_gzip(path: Path) -> None:
    """A gzip-encoded attached NRRD must hold a complete stream after its header (ITK misses a lost trailer)."""
    head = read_head(path, 1 << 16)
    end = head.find(b"\n\n")
    fields = head[:end].decode("latin-1").lower() if end > 0 else ""
    if end > 0 and "data file" not in fields and "datafile" not in fields and any(
            line.replace(" ", "") in ("encoding:gzip", "encoding:gz") for line in fields.splitlines()):
        check_gzip_complete(path, end + 2)


def _pixel_bytes(pixel_id: int) -> int:
    """Bytes per component of a SimpleITK pixel type (8 for the 64-bit and complex ones)."""
    import SimpleITK as sitk

    name = sitk.GetPixelIDValueAsString(pixel_id).lower()
    for word, size in (("complex", 16), ("64", 8), ("double", 8), ("32", 4), ("float", 4), ("16", 2)):
        if word in name:
            return size
    return 1


def write_itk(image: Image | np.ndarray, path: str | Path, compress: bool = True) -> Path:
    """Write ``.nrrd`` or ``.mha`` with geometry (and our spacing unit as a header key), atomically."""
    import SimpleITK as sitk

    image, path = as_image(image), Path(path)
    check_writable(image, path)
    if lower_suffix(path) not in WRITE_SUFFIXES:
        raise unsupported_suffix(path, WRITE_SUFFIXES, "NRRD/MetaImage")
    array = image.array
    if array.dtype == bool:
        array = array.astype(np.uint8)
    elif array.dtype == np.float16:
        array = array.astype(np.float32)
    with writing(path, "NRRD/MetaImage"):
        sitk_image = image.with_array(np.ascontiguousarray(array)).to_sitk()
        if image.spacing_unit != "mm":
            sitk_image.SetMetaData(_UNIT_KEY, image.spacing_unit)
        with atomic_path(path) as tmp:
            sitk.WriteImage(sitk_image, str(tmp), useCompression=compress)
    return path
