"""DICOM files and series directories (pydicom).

Geometry follows DICOM's patient coordinates (LPS, millimetres), the same as SimpleITK:

* A series directory becomes a volume ``[z, y, x]``: slices sorted by ImagePositionPatient projected
  on the slice normal (row x column cosines), z spacing from those positions (uneven spacing is
  flagged in ``metadata["uneven_slice_spacing"]``), origin = the first slice's position, direction
  from ImageOrientationPatient.
* A single-frame file becomes a plane ``[y, x]`` with PixelSpacing; its 3D position and
  orientation are kept in ``metadata``. A multi-frame file becomes ``[frames, y, x]``.
* Rescale slope/intercept (or a Modality LUT) is applied: CT becomes ``float32`` Hounsfield units.
  Without rescale attributes the stored dtype is kept. Colour (RGB/YBR/palette) gets a channel axis.

Compressed transfer syntaxes are decoded by pydicom's plugins (pylibjpeg-openjpeg, Pillow, RLE);
if none can, an :class:`UnsupportedFormatError` names the transfer syntax and the packages to install.

Example:
    >>> from pydicom.data import get_testdata_file
    >>> img = read_dicom(get_testdata_file("CT_small.dcm", download=False))
    >>> img.shape, img.array.dtype, img.spacing_unit, img.metadata["Modality"]
    ((128, 128), dtype('float32'), 'mm', 'CT')
"""
from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError, UnsupportedFormatError
from biomedai.io._files import check_pixels, existing_file, reading
from biomedai.io.image import Image
from biomedai.io.limits import check_array_size, check_frames

logger = logging.getLogger(__name__)

#: Header attributes copied into ``Image.metadata`` when present.
METADATA_KEYS = ("Modality", "StudyInstanceUID", "SeriesInstanceUID", "PatientID", "BodyPartExamined",
                 "SeriesDescription", "StudyDescription", "Manufacturer", "SliceThickness",
                 "PhotometricInterpretation", "WindowCenter", "WindowWidth", "RescaleSlope",
                 "RescaleIntercept", "RescaleType", "SOPClassUID", "BitsStored")

#: Relative tolerance above which slice gaps count as uneven.
UNEVEN_TOLERANCE = 0.01


def read_dicom(path: str | Path, rescale: bool = True) -> Image:
    """Read one DICOM file (single- or multi-frame) into an :class:`Image`."""
    import pydicom

    path = existing_file(path)
    with reading(path, "DICOM"):
        try:
            ds = pydicom.dcmread(path)
        except pydicom.errors.InvalidDicomError:
            from biomedai.io.formats import dicom_prefix_parses

            # files without preamble/meta header: force=True only once a bounded prefix parses as DICOM
            if not dicom_prefix_parses(path):
                raise InvalidInputError("not a DICOM file: no 'DICM' marker at byte 128 and its first bytes do "
                                        "not parse as DICOM", path) from None
            ds = pydicom.dcmread(path, force=True)
    with reading(path, "DICOM"):  # pydicom parses elements lazily: a broken one raises on first access
        return _image_from_dataset(ds, path, rescale)


def _image_from_dataset(ds: Any, path: Path, rescale: bool) -> Image:
    _require_image(ds, path)
    _check_declared_size(ds, path, rescale)
    array = check_pixels(_pixels(ds, path, rescale), path)
    metadata = _metadata(ds)
    metadata["rescaled"] = bool(rescale and _has_rescale(ds))
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    is_colour = int(ds.get("SamplesPerPixel", 1)) > 1 or ds.get("PhotometricInterpretation") == "PALETTE COLOR"
    channel_axis = -1 if is_colour else None
    row_col = _pixel_spacing(ds)
    if n_frames > 1:
        return _multiframe_image(ds, array, channel_axis, row_col, metadata, path)
    ipp, iop = ds.get("ImagePositionPatient"), ds.get("ImageOrientationPatient")
    if ipp is not None:
        metadata["ImagePositionPatient"] = [float(v) for v in ipp]
    if iop is not None:
        metadata["ImageOrientationPatient"] = [float(v) for v in iop]
    return Image(array, spacing=row_col, channel_axis=channel_axis,
                 spacing_unit="mm" if row_col is not None else "pixel", metadata=metadata)


def list_dicom_series(directory: str | Path) -> list[dict[str, Any]]:
    """Series found in a directory (not recursive): UID, description, modality and file count each."""
    groups = _scan_directory(Path(directory))
    return [{"SeriesInstanceUID": uid, "n_files": len(items),
             "SeriesDescription": str(items[0][1].get("SeriesDescription", "")),
             "Modality": str(items[0][1].get("Modality", ""))} for uid, items in groups.items()]


def series_headers(directory: str | Path) -> list[Any]:
    """Headers (no pixels) of the one series in ``directory``, in the slice order :func:`read_dicom_series` uses.

    Raises InvalidInputError when the directory holds no series or several.
    """
    directory = Path(directory)
    groups = _scan_directory(directory)
    if len(groups) != 1:
        raise InvalidInputError(f"directory holds {len(groups)} DICOM series, expected one", directory)
    items = next(iter(groups.values()))
    ordered = _sort_slices(items, directory)[0] if len(items) > 1 else items
    return [header for _, header in ordered]


def read_dicom_series(directory: str | Path, series_uid: str | None = None, rescale: bool = True) -> Image:
    """Read a directory of single-frame DICOM slices as one volume ``[z, y, x]`` (LPS, mm).

    Args:
        series_uid: which series to read when the directory holds several (see :func:`list_dicom_series`).
    """
    directory = Path(directory)
    groups = _scan_directory(directory)
    if series_uid is None and len(groups) > 1:
        listing = ", ".join(f"{uid} ({len(items)} files)" for uid, items in groups.items())
        raise InvalidInputError(f"directory holds {len(groups)} DICOM series; pass series_uid= one of: {listing}",
                                directory)
    if series_uid is not None and series_uid not in groups:
        raise InvalidInputError(f"no series {series_uid!r} in directory (found {', '.join(groups)})", directory)
    items = groups[series_uid if series_uid is not None else next(iter(groups))]
    if len(items) == 1:
        return read_dicom(items[0][0], rescale=rescale)
    if any(int(h.get("NumberOfFrames", 1) or 1) > 1 for _, h in items):
        raise UnsupportedFormatError("series mixes several multi-frame files; read each with read_dicom",
                                     directory)
    check_frames(len(items), directory, "slices")
    first_header = items[0][1]
    check_array_size((len(items), int(first_header.get("Rows", 1) or 1), int(first_header.get("Columns", 1) or 1),
                      int(first_header.get("SamplesPerPixel", 1) or 1)), 4, directory, "DICOM series")
    ordered, positions, direction_xyz = _sort_slices(items, directory)
    slices, first = [], None
    for file_path, _ in ordered:
        image = read_dicom(file_path, rescale=rescale)
        if first is None:
            first = image
        elif image.shape != first.shape:
            raise InvalidInputError(f"slice {file_path.name} has shape {image.shape}, others {first.shape}",
                                    directory)
        slices.append(image.array)
    assert first is not None
    dtypes = {s.dtype for s in slices}
    array = np.stack(slices).astype(np.result_type(*dtypes), copy=False)
    metadata = dict(first.metadata)
    metadata.pop("ImagePositionPatient", None)
    metadata["rescaled"] = bool(first.metadata.get("rescaled"))
    metadata["n_slices"] = len(slices)
    z_spacing = _slice_spacing(positions, metadata, directory)
    row_col = first.spacing if first.spacing_unit == "mm" else (1.0, 1.0)
    origin_xyz = np.asarray(ordered[0][1].ImagePositionPatient, dtype=float) if positions is not None \
        else np.zeros(3)
    return Image(array, spacing=(z_spacing, *row_col), origin=tuple(origin_xyz[::-1]),
                 direction=direction_xyz[::-1, ::-1], channel_axis=first.channel_axis, spacing_unit="mm",
                 metadata=metadata)


# --------------------------------------------------------------------------------------------- helpers
def _require_image(ds: Any, path: Path) -> None:
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        kind = getattr(ds.get("SOPClassUID", None), "name", None) or "dataset"
        raise InvalidInputError(f"DICOM file has no pixel data ({kind}); it is not an image", path)
    for key in ("Rows", "Columns"):
        if key not in ds:
            raise InvalidInputError(f"DICOM file lacks the {key} attribute (corrupt or not an image)", path)


def _check_declared_size(ds: Any, path: Path, rescale: bool) -> None:
    """Refuse a DICOM header whose pixel data cannot be decoded safely.

    Refuse 0 x 0, absurd or over-limit sizes, unknown transfer syntaxes and non-finite rescale values
    from the header, before any pixel is decoded (a 7.8 KB RLE file may declare 65535 x 65535).
    """
    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        bits = int(ds.get("BitsAllocated", 8) or 8)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"DICOM size attributes are not numbers ({exc})", path) from None
    check_frames(frames, path)
    itemsize = max(1, bits // 8)
    if rescale and _has_rescale(ds):
        itemsize = max(itemsize, 4)  # rescaled values are float32
    if ds.get("PhotometricInterpretation") == "PALETTE COLOR":
        samples, itemsize = 3, max(itemsize, 2)
    check_array_size((frames, rows, columns, samples), itemsize, path, "DICOM image")
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if syntax is not None and not getattr(syntax, "is_transfer_syntax", True):
        raise UnsupportedFormatError(f"unknown transfer syntax {str(syntax)!r}: the pixel data cannot be decoded",
                                     path)
    compressed = syntax is not None and getattr(syntax, "is_compressed", False)
    if "PixelData" in ds and not compressed:
        stored = 2 if str(ds.get("PhotometricInterpretation", "")).startswith("YBR_FULL_422") else samples
        expected = (frames * rows * columns * stored * bits + 7) // 8  # 4:2:2 keeps 2 values per pixel
        actual = len(ds.PixelData or b"")
        if actual < expected:
            raise InvalidInputError(f"DICOM pixel data is truncated: {actual} bytes where the header declares "
                                    f"{expected}", path)
    if rescale:
        pairs = _rescale_pairs_checked(ds, path)
        if pairs is not None and not all(np.isfinite(v) for pair in pairs for v in pair):
            raise InvalidInputError("RescaleSlope/RescaleIntercept is not a finite number (NaN or infinity)", path)


def _rescale_pairs_checked(ds: Any, path: Path) -> list[tuple[float, float]] | None:
    try:
        return _rescale_pairs(ds)
    except (TypeError, ValueError, IndexError, AttributeError) as exc:
        raise InvalidInputError(f"RescaleSlope/RescaleIntercept cannot be read ({exc})", path) from None


def _pixels(ds: Any, path: Path, rescale: bool) -> np.ndarray:
    from pydicom.pixels import apply_color_lut

    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    try:
        array = ds.pixel_array
    except (RuntimeError, NotImplementedError) as exc:
        name = getattr(syntax, "name", str(syntax))
        if syntax is not None and getattr(syntax, "is_compressed", False):
            raise UnsupportedFormatError(
                f"pixel data compressed as {name!r} ({syntax}) and no installed decoder can read it "
                f"({str(exc).splitlines()[-1].strip()}); install a pydicom decoder plugin "
                "(pylibjpeg-openjpeg: JPEG 2000; Pillow: 8-bit JPEG; pylibjpeg-libjpeg or python-gdcm: "
                "12-bit/lossless JPEG and JPEG-LS)",
                path) from exc
        raise InvalidInputError(f"cannot decode DICOM pixel data: {str(exc).splitlines()[0]}", path) from exc
    except Exception as exc:  # noqa: BLE001 - truncated/mis-sized pixel data and the like
        raise InvalidInputError(f"cannot decode DICOM pixel data (corrupt or truncated): "
                                f"{str(exc).splitlines()[0]}", path) from exc
    if ds.get("PhotometricInterpretation") == "PALETTE COLOR":
        with reading(path, "DICOM palette"):
            array = apply_color_lut(array, ds)
    elif rescale:
        array = _apply_rescale(ds, array)
    return np.ascontiguousarray(array)


def _has_rescale(ds: Any) -> bool:
    return _rescale_pairs(ds) is not None or "ModalityLUTSequence" in ds


def _rescale_pairs(ds: Any) -> list[tuple[float, float]] | None:
    """(slope, intercept) per frame from the top level or the enhanced functional groups."""
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    if "RescaleSlope" in ds or "RescaleIntercept" in ds:
        pair = (float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0))
        return [pair] * n_frames

    def from_group(group: Any) -> tuple[float, float] | None:
        seq = group.get("PixelValueTransformationSequence") if group is not None else None
        if seq:
            return float(seq[0].get("RescaleSlope", 1)), float(seq[0].get("RescaleIntercept", 0))
        return None

    shared = ds.get("SharedFunctionalGroupsSequence")
    pair = from_group(shared[0]) if shared else None
    if pair is not None:
        return [pair] * n_frames
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame:
        pairs = [from_group(group) for group in per_frame]
        if all(p is not None for p in pairs):
            return pairs  # type: ignore[return-value]
    return None


def _apply_rescale(ds: Any, array: np.ndarray) -> np.ndarray:
    from pydicom.pixels import apply_modality_lut

    pairs = _rescale_pairs(ds)
    if pairs is None:
        if "ModalityLUTSequence" in ds:
            return apply_modality_lut(array, ds)
        return array
    if int(ds.get("SamplesPerPixel", 1)) > 1:
        return array  # rescale applies to greyscale only
    out = array.astype(np.float32)
    if len(pairs) == 1 or len(set(pairs)) == 1:
        slope, intercept = pairs[0]
        return out * np.float32(slope) + np.float32(intercept)
    for index, (slope, intercept) in enumerate(pairs):
        out[index] = out[index] * np.float32(slope) + np.float32(intercept)
    return out


def _plain(value: Any) -> Any:
    from pydicom.multival import MultiValue

    if isinstance(value, (MultiValue, list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def _metadata(ds: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"format": "DICOM"}
    for key in METADATA_KEYS:
        if key in ds and ds.get(key) not in (None, ""):
            value = ds.get(key)
            if key.endswith("UID") or key in ("PatientID", "Modality", "BodyPartExamined", "SeriesDescription",
                                              "StudyDescription", "Manufacturer", "PhotometricInterpretation",
                                              "RescaleType"):
                metadata[key] = str(value)
            else:
                metadata[key] = _plain(value)
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if syntax is not None:
        metadata["TransferSyntaxUID"] = str(syntax)
        metadata["TransferSyntax"] = getattr(syntax, "name", str(syntax))
    if "SOPClassUID" in metadata:
        metadata["SOPClass"] = getattr(ds.SOPClassUID, "name", metadata["SOPClassUID"])
    return metadata


def _pixel_spacing(ds: Any) -> tuple[float, float] | None:
    spacing = ds.get("PixelSpacing")
    if spacing is None:
        shared = ds.get("SharedFunctionalGroupsSequence")
        measures = shared[0].get("PixelMeasuresSequence") if shared else None
        spacing = measures[0].get("PixelSpacing") if measures else None
    if spacing is None:
        spacing = ds.get("ImagerPixelSpacing")
    if spacing is None or len(spacing) != 2:
        return None
    values = tuple(float(v) for v in spacing)
    return values if all(v > 0 and np.isfinite(v) for v in values) else None


def _direction_from_iop(iop: Any) -> np.ndarray:
    """SimpleITK-order (x-first) direction: columns = row cosine, column cosine, normal."""
    row = np.asarray(iop[:3], dtype=float)
    col = np.asarray(iop[3:6], dtype=float)
    normal = np.cross(row, col)
    return np.stack([row, col, normal], axis=1)


def _multiframe_image(ds: Any, array: np.ndarray, channel_axis: int | None, row_col: tuple[float, float] | None,
                      metadata: dict[str, Any], path: Path) -> Image:
    positions, iop = _frame_geometry(ds)
    metadata["NumberOfFrames"] = int(ds.NumberOfFrames)
    if "FrameTime" in ds:
        metadata["FrameTime_ms"] = float(ds.FrameTime)
    origin, direction = None, None
    if positions is not None and iop is not None:
        direction_xyz = _direction_from_iop(iop)
        along = positions @ direction_xyz[:, 2]
        z = _slice_spacing(along, metadata, path)
        if along[-1] < along[0]:
            direction_xyz[:, 2] *= -1  # frames stored top-down: keep their order, flip the axis instead
        origin, direction = tuple(positions[0][::-1]), direction_xyz[::-1, ::-1]
        metadata["z_spacing_known"] = True
    else:
        z = ds.get("SpacingBetweenSlices") or ds.get("SliceThickness")
        metadata["z_spacing_known"] = z is not None
        z = float(z) if z else 1.0
    spacing = (z, *row_col) if row_col is not None else None
    return Image(array, spacing=spacing, origin=origin, direction=direction, channel_axis=channel_axis,
                 spacing_unit="mm" if spacing is not None else "pixel", metadata=metadata)


def _frame_geometry(ds: Any) -> tuple[np.ndarray | None, Any]:
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    shared = ds.get("SharedFunctionalGroupsSequence")
    iop = None
    if shared and shared[0].get("PlaneOrientationSequence"):
        iop = shared[0].PlaneOrientationSequence[0].get("ImageOrientationPatient")
    if iop is None:
        iop = ds.get("ImageOrientationPatient")
    if not per_frame:
        return None, iop
    positions = []
    for group in per_frame:
        seq = group.get("PlanePositionSequence")
        if not seq or "ImagePositionPatient" not in seq[0]:
            return None, iop
        positions.append([float(v) for v in seq[0].ImagePositionPatient])
    if iop is None and per_frame[0].get("PlaneOrientationSequence"):
        iop = per_frame[0].PlaneOrientationSequence[0].get("ImageOrientationPatient")
    return np.asarray(positions), iop


def _scan_directory(directory: Path) -> dict[str, list[tuple[Path, Any]]]:
    """Headers (no pixels) of the DICOM image files in ``directory``, grouped by SeriesInstanceUID."""
    import pydicom

    if not directory.exists():
        raise InvalidInputError("directory does not exist", directory)
    if not directory.is_dir():
        raise InvalidInputError("is not a directory", directory)
    groups: dict[str, list[tuple[Path, Any]]] = defaultdict(list)
    skipped = 0
    for item in sorted(directory.iterdir()):
        if not item.is_file() or item.name.startswith(".") or item.name.upper() == "DICOMDIR":
            continue
        try:
            header = pydicom.dcmread(item, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - non-DICOM files in the folder are skipped, counted below
            skipped += 1
            continue
        if "Rows" not in header or "SeriesInstanceUID" not in header and "ImagePositionPatient" not in header:
            skipped += 1
            continue
        groups[str(header.get("SeriesInstanceUID", "unknown"))].append((item, header))
    if skipped:
        logger.info("%s: skipped %d files that are not DICOM images", directory, skipped)
    if not groups:
        raise InvalidInputError("directory holds no readable DICOM image files", directory)
    return dict(groups)


def _sort_slices(items: list[tuple[Path, Any]], directory: Path) -> tuple[list[tuple[Path, Any]],
                                                                          np.ndarray | None, np.ndarray]:
    with_geometry = all("ImagePositionPatient" in h and "ImageOrientationPatient" in h for _, h in items)
    if not with_geometry:
        logger.warning("%s: slices lack ImagePositionPatient/ImageOrientationPatient; sorted by InstanceNumber "
                       "and z spacing taken from SliceThickness", directory)
        ordered = sorted(items, key=lambda item: int(item[1].get("InstanceNumber", 0) or 0))
        return ordered, None, np.eye(3)
    iops = np.asarray([[float(v) for v in h.ImageOrientationPatient] for _, h in items])
    if not np.allclose(iops, iops[0], atol=1e-4):
        raise InvalidInputError("slices have different ImageOrientationPatient (not one volume)", directory)
    direction_xyz = _direction_from_iop(iops[0])
    along = np.asarray([np.dot([float(v) for v in h.ImagePositionPatient], direction_xyz[:, 2])
                        for _, h in items])
    order = np.argsort(along, kind="stable")
    return [items[i] for i in order], along[order], direction_xyz


def _slice_spacing(positions: np.ndarray | None, metadata: dict[str, Any], where: Path) -> float:
    if positions is None:
        thickness = metadata.get("SliceThickness")
        metadata["uneven_slice_spacing"] = None
        return float(thickness) if thickness else 1.0
    gaps = np.abs(np.diff(np.asarray(positions, dtype=float)))
    if gaps.size == 0:
        thickness = metadata.get("SliceThickness")
        return float(thickness) if thickness else 1.0
    if gaps.min() < 1e-4:
        raise InvalidInputError("two slices share one position (several acquisitions or time points in one "
                                "series?)", where)
    spacing = float(np.median(gaps))
    uneven = bool(np.max(np.abs(gaps - spacing)) > max(1e-3, UNEVEN_TOLERANCE * spacing))
    metadata["uneven_slice_spacing"] = uneven
    if uneven:
        metadata["slice_positions"] = [round(float(p), 4) for p in positions]
        logger.warning("%s: uneven slice spacing (gaps %.4g..%.4g mm); using the median %.4g mm", where,
                       gaps.min(), gaps.max(), spacing)
    return spacing
