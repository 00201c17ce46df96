"""Reading and writing every image format the methods need, into one :class:`Image` type.

``read_image`` picks the reader from the file's signature (and checks it against the suffix);
``write_image`` picks the writer from the suffix. Importing this package is cheap: the format
libraries (pydicom, nibabel, SimpleITK, tifffile, mrcfile, tiffslide, av) load on first use.

Formats: PNG/JPEG/GIF/BMP, TIFF (16-bit, multi-page, one level of a pyramid), DICOM files and
series directories, NIfTI, NRRD/MetaImage, MRC, whole-slide images (level 0 of small slides;
use :func:`biomedai.io.wsi.open_wsi` for regions), video (:mod:`biomedai.io.video`) and
annotations (:mod:`biomedai.io.annotations`).

Example:
    >>> import tempfile, numpy as np
    >>> from biomedai.io import Image, read_image, write_image
    >>> p = Path(tempfile.mkdtemp()) / "v.nrrd"
    >>> _ = write_image(Image(np.zeros((2, 3, 4), np.float32), spacing=(2.0, 1.0, 1.0), spacing_unit="mm"), p)
    >>> read_image(p).spacing
    (2.0, 1.0, 1.0)
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from biomedai.io.formats import IMAGE_FORMATS, detect_format
from biomedai.io.image import Image

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = ["Image", "IMAGE_FORMATS", "WRITE_SUFFIXES", "describe_file", "detect_format", "open_wsi",
           "probe_raster", "read_annotations", "read_image", "read_video_frames", "write_image"]

# format -> (module, function) so that nothing heavy is imported until a file is read
_READERS: dict[str, tuple[str, str]] = {
    "png": ("raster", "read_pil"), "jpeg": ("raster", "read_pil"), "gif": ("raster", "read_pil"),
    "bmp": ("raster", "read_pil"), "tiff": ("raster", "read_tiff"),
    "dicom": ("dicom", "read_dicom"), "dicom-series": ("dicom", "read_dicom_series"),
    "nifti": ("nifti", "read_nifti"), "nrrd": ("itk", "read_itk"), "metaimage": ("itk", "read_itk"),
    "mrc": ("mrc", "read_mrc"), "wsi": ("wsi", "_read_wsi_level"),
}

#: Suffix -> (module, function) of each writer.
WRITE_SUFFIXES: dict[str, tuple[str, str]] = {
    ".png": ("raster", "write_png"), ".jpg": ("raster", "write_jpeg"), ".jpeg": ("raster", "write_jpeg"),
    ".tif": ("raster", "write_tiff"), ".tiff": ("raster", "write_tiff"),
    ".nii": ("nifti", "write_nifti"), ".nii.gz": ("nifti", "write_nifti"),
    ".nrrd": ("itk", "write_itk"), ".mha": ("itk", "write_itk"),
    ".mrc": ("mrc", "write_mrc"), ".map": ("mrc", "write_mrc"), ".rec": ("mrc", "write_mrc"),
}


def _function(module: str, name: str) -> Any:
    return getattr(importlib.import_module(f"biomedai.io.{module}"), name)


def read_image(path: str | Path, **kwargs: Any) -> Image:
    """Read any supported image file (or DICOM series directory) into an :class:`Image`.

    Keyword arguments go to the format's reader (e.g. ``series_uid=`` for DICOM series,
    ``alpha="keep"`` for PNG, ``level=`` for TIFF pyramids and slides, ``rescale=False`` for DICOM).
    Raises InvalidInputError / UnsupportedFormatError naming the file and the problem.
    """
    from biomedai.errors import UnsupportedFormatError

    fmt = detect_format(path)
    if fmt not in _READERS:
        hint = {"video": "use biomedai.io.video.read_video_frames",
                "geojson": "use biomedai.io.annotations.read_annotations",
                "labelme": "use biomedai.io.annotations.read_annotations",
                "csv": "use biomedai.io.annotations.read_points_csv"}.get(fmt, "")
        raise UnsupportedFormatError(f"{fmt} is not an image file{'; ' + hint if hint else ''}", path)
    module, name = _READERS[fmt]
    return _function(module, name)(path, **kwargs)


def write_image(image: Image | np.ndarray, path: str | Path, **kwargs: Any) -> Path:
    """Write an :class:`Image` (or bare array) to PNG, JPEG, TIFF, NIfTI, NRRD, MHA or MRC by suffix, atomically.

    Zero-size and all-NaN arrays are refused with InvalidInputError.
    """
    from biomedai.io._files import lower_suffix, unsupported_suffix

    path = Path(path)
    suffix = lower_suffix(path)
    if suffix not in WRITE_SUFFIXES:
        raise unsupported_suffix(path, sorted(WRITE_SUFFIXES), "an image")
    module, name = WRITE_SUFFIXES[suffix]
    return _function(module, name)(image, path, **kwargs)


def describe_file(path: str | Path) -> dict[str, Any]:
    """See :func:`biomedai.io.info.describe_file`."""
    return _function("info", "describe_file")(path)


def open_wsi(path: str | Path, backend: str = "auto") -> Any:
    """See :func:`biomedai.io.wsi.open_wsi`."""
    return _function("wsi", "open_wsi")(path, backend=backend)


def read_video_frames(path: str | Path, start: int = 0, stop: int | None = None, step: int = 1) -> Any:
    """See :func:`biomedai.io.video.read_video_frames`."""
    return _function("video", "read_video_frames")(path, start=start, stop=stop, step=step)


def read_annotations(path: str | Path) -> Any:
    """See :func:`biomedai.io.annotations.read_annotations`."""
    return _function("annotations", "read_annotations")(path)


def probe_raster(path: str | Path) -> Any:
    """See :func:`biomedai.io.probe.probe_raster` (header only, no pixels decoded)."""
    return _function("probe", "probe_raster")(path)
