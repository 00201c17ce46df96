"""PNG, JPEG, GIF, BMP (Pillow) and TIFF (tifffile) readers and writers.

Bit depth is kept (16-bit PNG/TIFF stay ``uint16``), multi-page TIFFs and animated GIFs become a
stack ``[n, y, x(, c)]``, JPEG EXIF orientation is applied, and alpha is dropped unless asked for.
Physical pixel size is taken from TIFF resolution tags only when their unit is metric (or an
ImageJ unit): the "72 dpi" of ordinary pictures is not a pixel size.

Example:
    >>> import tempfile, numpy as np
    >>> from biomedai.io.image import Image
    >>> p = Path(tempfile.mkdtemp()) / "a.tif"
    >>> _ = write_tiff(Image(np.arange(12, dtype=np.uint16).reshape(3, 4), spacing=(0.5, 0.5), spacing_unit="um"), p)
    >>> img = read_tiff(p); img.array.dtype, img.spacing, img.spacing_unit
    (dtype('uint16'), (0.5, 0.5), 'um')
"""
from __future__ import annotations

import contextlib
import json
import logging
import struct
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError, UnsupportedFormatError
from biomedai.io._files import (
    as_image,
    check_pixels,
    check_writable,
    existing_file,
    lower_suffix,
    reading,
    writing,
)
from biomedai.io.image import Image
from biomedai.io.limits import check_array_size, check_frames
from biomedai.utils import atomic_path

logger = logging.getLogger(__name__)

#: Pixels above which a pyramidal TIFF is not read whole (use :func:`biomedai.io.wsi.open_wsi`).
MAX_PIXELS = 1 << 28

_UNIT_TO_UM = {"um": 1.0, "micron": 1.0, "microns": 1.0, "\\u00B5m": 1.0, "\u00b5m": 1.0, "\u03bcm": 1.0,
               "nm": 1e-3, "mm": 1e3, "cm": 1e4}


# --------------------------------------------------------------------------------------------- Pillow
def read_pil(path: str | Path, alpha: str = "drop", palette: str = "rgb", frames: str = "all") -> Image:
    """Read PNG/JPEG/GIF/BMP with Pillow.

    Args:
        alpha: ``"drop"`` removes an alpha channel (``metadata["had_alpha"]`` records it), ``"keep"`` keeps it.
        palette: ``"rgb"`` expands palette images to RGB; ``"index"`` keeps the palette indices (label PNGs).
        frames: ``"all"`` stacks animated frames, ``"first"`` keeps the first.
    """
    from PIL import Image as PILImage
    from PIL import ImageOps, ImageSequence

    path = existing_file(path)
    _check_choice("alpha", alpha, ("drop", "keep"))
    _check_choice("palette", palette, ("rgb", "index"))
    _check_choice("frames", frames, ("all", "first"))
    metadata: dict[str, Any] = {}
    with reading(path, "image"), warnings.catch_warnings():
        warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)  # our own limits apply instead
        with PILImage.open(path) as pil:
            fmt = pil.format
            n_frames = getattr(pil, "n_frames", 1)
            check_frames(n_frames, path)
            check_array_size((n_frames if frames == "all" else 1, pil.height, pil.width, len(pil.getbands())),
                             4 if pil.mode in ("I", "F", "I;16", "I;16B", "I;16L") else 1, path, fmt or "image")
            if fmt == "PNG":
                _check_png_data(path)
            planes = []
            for index, frame in enumerate(ImageSequence.Iterator(pil)):
                if frames == "first" and index > 0:
                    break
                frame.load()  # decodes now, so truncation raises here
                orientation = _exif_orientation(frame) if index == 0 else 1
                if orientation > 1:  # camera JPEGs: show the picture the way it was taken
                    frame = ImageOps.exif_transpose(frame)
                    metadata["exif_orientation_applied"] = orientation
                planes.append(_pil_to_array(frame, alpha, palette, metadata))
            if pil.mode in ("I;16", "I;16B") or (fmt == "PNG" and pil.info.get("bits") == 16):
                metadata["bit_depth"] = 16
            _warn_png_16bit_rgb(path, pil)
    array = planes[0] if len(planes) == 1 else np.stack(planes)
    metadata.update({"format": fmt, "n_frames": n_frames})
    channel_axis = -1 if array.ndim == (3 if len(planes) == 1 else 4) else None
    return Image(array, channel_axis=channel_axis, spacing_unit="pixel", metadata=metadata)


def _check_png_data(path: Path) -> None:
    """Refuse a PNG whose image data cover fewer rows than its header declares (Pillow fills them silently).

    The IDAT stream is inflated in bounded pieces and counted, never kept; interlaced files are
    left to Pillow.
    """
    with open(path, "rb") as handle:
        handle.seek(8)
        header = handle.read(25)
        if len(header) < 25 or header[4:8] != b"IHDR":
            return
        width, height, depth, colour, _, _, interlace = struct.unpack(">LLBBBBB", header[8:21])
        if interlace:
            return
        channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour, 1)
        expected = height * (1 + (width * channels * depth + 7) // 8)
        inflater, produced, ended = zlib.decompressobj(), 0, False
        handle.seek(8 + 25)
        while True:
            head = handle.read(8)
            if len(head) < 8:
                break
            length, kind = struct.unpack(">L4s", head)
            if kind == b"IEND":
                ended = len(handle.read(4)) == 4
                break
            if kind != b"IDAT" or produced >= expected:
                handle.seek(length + 4, 1)
                continue
            data = handle.read(length)
            handle.seek(4, 1)  # CRC
            try:
                while data and produced < expected:
                    produced += len(inflater.decompress(data, 1 << 20))
                    data = inflater.unconsumed_tail
            except zlib.error as exc:
                raise InvalidInputError(f"PNG image data are corrupt ({exc})", path) from None
    if produced >= expected and not ended:
        raise InvalidInputError("PNG is truncated: it has no complete IEND chunk", path)
    if produced < expected:
        rows = produced // max(1, expected // max(1, height))
        raise InvalidInputError(f"PNG is truncated: its data cover {rows} of the {height} rows its header declares",
                                path)


def _exif_orientation(frame: Any) -> int:
    try:
        return int(frame.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - broken EXIF is not a reason to refuse the picture
        return 1


def _pil_to_array(frame: Any, alpha: str, palette: str, metadata: dict[str, Any]) -> np.ndarray:
    mode = frame.mode
    if mode == "P" or mode == "PA":
        if palette == "index":
            return np.asarray(frame.convert("L") if mode == "PA" else frame).copy()
        has_alpha = "transparency" in frame.info or mode == "PA"
        frame = frame.convert("RGBA" if has_alpha else "RGB")
        mode = frame.mode
    if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        frame = frame.convert("RGB")
        mode = "RGB"
    if mode == "1":
        return np.asarray(frame, dtype=bool).copy()
    if mode in ("RGBA", "LA", "RGBa", "La"):
        metadata["had_alpha"] = True
        if alpha == "drop":
            frame = frame.convert("RGB" if mode.startswith("RGB") else "L")
    array = np.asarray(frame)
    if frame.mode.startswith("I;16"):
        array = array.astype(np.uint16)
    return array.copy()


def _warn_png_16bit_rgb(path: Path, pil: Any) -> None:
    # Pillow reduces 48/64-bit colour PNGs to 8 bits per channel; say so rather than lose bits silently.
    if pil.format == "PNG":
        with open(path, "rb") as handle:
            ihdr = handle.read(33)
        if len(ihdr) >= 26 and ihdr[24] == 16 and ihdr[25] in (2, 6):
            logger.warning("%s: 16-bit colour PNG read as 8 bits per channel (Pillow limit); "
                           "save as TIFF to keep 16 bits", path)


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InvalidInputError(f"{name} must be one of {allowed}, got {value!r}")


# --------------------------------------------------------------------------------------------- TIFF
def read_tiff(path: str | Path, series: int = 0, level: int = 0, max_pixels: int = MAX_PIXELS) -> Image:
    """Read a TIFF (plain, multi-page, ImageJ, OME or one level of a pyramid) with tifffile.

    Leading axes other than channels (pages, z, time) are folded into one stack axis; channels
    (``S`` samples or ``C``) go last. Geometry written by :func:`write_tiff` is restored exactly.
    """
    import tifffile

    path = existing_file(path)
    with reading(path, "TIFF"), _tifffile_errors_raise(path):
        with tifffile.TiffFile(path) as tif:
            if not tif.series:
                raise InvalidInputError("TIFF holds no image series", path)
            if not 0 <= series < len(tif.series):
                raise InvalidInputError(f"series {series} out of range (file has {len(tif.series)})", path)
            ser = tif.series[series]
            if not 0 <= level < len(ser.levels):
                raise InvalidInputError(f"level {level} out of range (series has {len(ser.levels)})", path)
            lev = ser.levels[level]
            check_frames(len(tif.pages), path, "TIFF pages")
            check_array_size(lev.shape, lev.dtype.itemsize if lev.dtype is not None else 8, path, "TIFF image")
            n_pixels = int(np.prod(lev.shape))
            if len(ser.levels) > 1 and n_pixels > max_pixels:
                raise InvalidInputError(
                    f"pyramidal TIFF level {level} has {n_pixels} values; read it with "
                    f"biomedai.io.wsi.open_wsi(...).read_rect or pass level=", path)
            _check_tiff_data_present(lev, path)
            _check_tiff_chunks(lev, path, max_samples=None)
            array = check_pixels(lev.asarray(), path)
            axes = lev.axes
            ours = _our_shaped_metadata(tif)
            page = lev.keyframe
            metadata: dict[str, Any] = {"format": "TIFF", "axes": axes, "n_series": len(tif.series),
                                        "n_levels": len(ser.levels), "level": level}
            spacing_yx, unit = _tiff_pixel_size(tif, ser.levels[0].keyframe)
            if spacing_yx is not None and level > 0:
                base, here = ser.levels[0].shape, lev.shape
                y_axis, x_axis = lev.axes.index("Y"), lev.axes.index("X")
                spacing_yx = (spacing_yx[0] * base[y_axis] / here[y_axis],
                              spacing_yx[1] * base[x_axis] / here[x_axis])
            z_spacing = _imagej_z_spacing(tif)
            compression = getattr(page, "compression", None)
            if compression is not None:
                metadata["compression"] = getattr(compression, "name", str(compression))
    if ours is not None and level == 0 and int(np.prod(ours.get("shape", [-1]))) == array.size:
        return _image_from_our_metadata(array, ours, metadata, path)
    array, channel_axis = _normalise_tiff_axes(array, axes)
    n_spatial = array.ndim - (1 if channel_axis is not None else 0)
    spacing = None
    if spacing_yx is not None:
        spacing = spacing_yx
        if n_spatial == 3:
            spacing = (z_spacing if z_spacing is not None else 1.0,) + spacing
            metadata["z_spacing_known"] = z_spacing is not None
    return Image(array, spacing=spacing, channel_axis=channel_axis,
                 spacing_unit=unit if spacing is not None else "pixel", metadata=metadata)


class _ErrorCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _tifffile_errors_raise(path: Path) -> Iterator[None]:
    """Tifffile logs (rather than raises) broken IFD chains and drops the pages; we refuse the file."""
    collector = _ErrorCollector()
    tiff_logger = logging.getLogger("tifffile")
    tiff_logger.addHandler(collector)
    try:
        yield
    finally:
        tiff_logger.removeHandler(collector)
    if collector.messages:
        raise InvalidInputError(f"TIFF structure is broken (truncated or corrupt): {collector.messages[0]}", path)


def _check_tiff_data_present(level: Any, path: Path) -> None:
    """Raise if any strip/tile of the level's pages lies (partly) past the end of the file."""
    size = path.stat().st_size
    for page in level.pages:
        if page is None:
            raise InvalidInputError("TIFF page missing (truncated or corrupt)", path)
        offsets = np.asarray(getattr(page, "dataoffsets", ()), dtype=np.int64)
        counts = np.asarray(getattr(page, "databytecounts", ()), dtype=np.int64)
        if offsets.size and int((offsets + counts).max()) > size:
            raise InvalidInputError(f"TIFF is truncated: image data runs past the end of the file ({size} bytes)",
                                    path)


def _check_tiff_chunks(level: Any, path: Path, max_samples: int | None = 4) -> None:
    """Refuse a TIFF level whose tiles are too large to decode.

    Refuse tiles/strips whose declared size (rows x columns x samples) is beyond the read limits, and
    pages with more samples per pixel than any slide has: decoders allocate that much per tile.
    """
    page = level.keyframe
    samples = int(getattr(page, "samplesperpixel", 1) or 1)
    if max_samples is not None and samples > max_samples:
        raise InvalidInputError(f"TIFF page declares {samples} samples per pixel (a slide has at most "
                                f"{max_samples})", path)
    if getattr(page, "is_tiled", False):
        rows, columns = int(page.tilelength or 1), int(page.tilewidth or 1)
    else:
        rows = min(int(getattr(page, "rowsperstrip", 0) or page.imagelength or 1), int(page.imagelength or 1))
        columns = int(page.imagewidth or 1)
    check_array_size((rows, columns, samples), max(1, int(getattr(page.dtype, "itemsize", 1) or 1)), path,
                     "TIFF tile")


def check_tiff_complete(path: Path, strict: bool = False) -> None:
    """Raise InvalidInputError if a TIFF's first series has strips/tiles past the end of the file.

    ``strict`` also refuses files for which tifffile logs errors (broken IFD chains).
    """
    import tifffile

    guard = _tifffile_errors_raise(path) if strict else contextlib.nullcontext()
    with reading(path, "TIFF"), guard, tifffile.TiffFile(path) as tif:
        if not tif.series:
            raise InvalidInputError("TIFF holds no image series", path)
        for level in tif.series[0].levels:
            _check_tiff_data_present(level, path)
            _check_tiff_chunks(level, path)


def _normalise_tiff_axes(array: np.ndarray, axes: str) -> tuple[np.ndarray, int | None]:
    """Move samples/channels last, drop unit leading axes, fold the rest into one stack axis."""
    channel = next((a for a in "SC" if a in axes), None)
    if channel is not None:
        array = np.moveaxis(array, axes.index(channel), -1)
        axes = axes.replace(channel, "") + channel
    spatial_end = array.ndim - (1 if channel else 0)
    lead = array.shape[: spatial_end - 2]
    lead = tuple(n for n in lead if n != 1)
    plane = array.shape[spatial_end - 2: spatial_end]
    tail = array.shape[spatial_end:]
    new_shape = ((int(np.prod(lead)),) if lead else ()) + plane + tail
    array = array.reshape(new_shape)
    channel_axis = -1 if channel else None
    if channel_axis is not None and array.shape[-1] == 1:
        array = array[..., 0]
        channel_axis = None
    return array, channel_axis


def _our_shaped_metadata(tif: Any) -> dict[str, Any] | None:
    try:
        shaped = tif.shaped_metadata
    except Exception:  # noqa: BLE001
        return None
    if shaped and isinstance(shaped[0], dict) and "biomedai" in shaped[0]:
        return json.loads(shaped[0]["biomedai"])
    return None


def _image_from_our_metadata(array: np.ndarray, ours: dict[str, Any], metadata: dict[str, Any],
                             path: Path) -> Image:
    channel_axis = ours.get("channel_axis")
    if ours.get("channels_first"):
        array = np.moveaxis(array.reshape([ours["shape"][-1]] + list(ours["shape"][:-1])), 0, -1)
    array = array.reshape(ours["shape"])
    if ours.get("dtype") == "bool":
        array = array.astype(bool)
    metadata.update(ours.get("metadata", {}))
    with reading(path, "TIFF"):
        return Image(array, spacing=ours.get("spacing"), origin=ours.get("origin"),
                     direction=np.asarray(ours["direction"]) if ours.get("direction") is not None else None,
                     channel_axis=channel_axis, spacing_unit=ours.get("spacing_unit", "pixel"),
                     metadata=metadata)


def _tiff_pixel_size(tif: Any, page: Any) -> tuple[tuple[float, float] | None, str]:
    """(y, x) pixel size in micrometres from metric resolution tags or ImageJ metadata, else None."""
    import tifffile

    tags = page.tags
    if "XResolution" not in tags or "YResolution" not in tags:
        return None, "pixel"
    try:
        xres = _ratio(tags["XResolution"].value)
        yres = _ratio(tags["YResolution"].value)
        unit = tags["ResolutionUnit"].value if "ResolutionUnit" in tags else tifffile.RESUNIT.INCH
    except (ValueError, ZeroDivisionError, TypeError):
        return None, "pixel"
    if xres <= 0 or yres <= 0:
        return None, "pixel"
    scale = {tifffile.RESUNIT.CENTIMETER: 1e4, tifffile.RESUNIT.MILLIMETER: 1e3,
             tifffile.RESUNIT.MICROMETER: 1.0}.get(unit)
    if scale is None and tif.is_imagej:
        ij_unit = str((tif.imagej_metadata or {}).get("unit", "")).strip()
        scale = _UNIT_TO_UM.get(ij_unit)
    if scale is None:
        return None, "pixel"
    return (scale / yres, scale / xres), "um"


def _imagej_z_spacing(tif: Any) -> float | None:
    if not tif.is_imagej:
        return None
    meta = tif.imagej_metadata or {}
    scale = _UNIT_TO_UM.get(str(meta.get("unit", "")).strip())
    if "spacing" in meta and scale is not None:
        return float(meta["spacing"]) * scale
    return None


def _ratio(value: Any) -> float:
    if isinstance(value, tuple):
        return value[0] / value[1]
    return float(value)


# --------------------------------------------------------------------------------------------- writers
def write_png(image: Image | np.ndarray, path: str | Path) -> Path:
    """Write a 2D grey (bool, uint8, uint16), RGB or RGBA (uint8) image as PNG, atomically.

    Integer label maps that fit are stored as uint16; float arrays are refused (PNG holds integers).
    """
    from PIL import Image as PILImage

    image, path = as_image(image), Path(path)
    check_writable(image, path)
    array = _png_array(image, path)
    with writing(path, "PNG"), atomic_path(path) as tmp:
        if array.dtype == bool:
            pil = PILImage.fromarray(array.astype(np.uint8) * 255).convert("1")
        elif array.dtype == np.uint16:
            pil = PILImage.fromarray(array)
        else:
            pil = PILImage.fromarray(array)
        pil.save(tmp, format="PNG")
    return path


def _png_array(image: Image, path: Path) -> np.ndarray:
    array = image.array
    if image.ndim_spatial != 2:
        raise InvalidInputError(f"PNG holds one 2D plane; got {image.ndim_spatial} spatial axes "
                                "(write TIFF, NIfTI or NRRD for volumes)", path)
    if image.channel_axis is not None:
        if image.n_channels not in (3, 4):
            raise InvalidInputError(f"PNG holds 1, 3 or 4 channels, got {image.n_channels}", path)
        if array.dtype != np.uint8:
            raise InvalidInputError(f"colour PNG is written from uint8 only, got {array.dtype}", path)
        return np.ascontiguousarray(array)
    if array.dtype in (bool, np.uint8, np.uint16):
        return np.ascontiguousarray(array)
    if array.dtype.kind in "iu":
        if array.min() >= 0 and array.max() <= np.iinfo(np.uint16).max:
            return array.astype(np.uint8 if array.max() <= 255 else np.uint16)
        raise InvalidInputError(f"integer values {array.min()}..{array.max()} do not fit a 16-bit PNG", path)
    raise InvalidInputError(f"PNG holds 8/16-bit integers, got {array.dtype}; rescale to uint8/uint16 or "
                            "write TIFF/NIfTI to keep floats", path)


def write_jpeg(image: Image | np.ndarray, path: str | Path, quality: int = 95) -> Path:
    """Write a 2D uint8 grey or RGB image as JPEG (lossy), atomically."""
    from PIL import Image as PILImage

    image, path = as_image(image), Path(path)
    check_writable(image, path)
    if image.ndim_spatial != 2 or image.array.dtype != np.uint8 or image.n_channels not in (1, 3):
        raise InvalidInputError("JPEG holds 2D uint8 grey or RGB images only "
                                f"(got shape {image.shape}, {image.array.dtype})", path)
    with writing(path, "JPEG"), atomic_path(path) as tmp:
        PILImage.fromarray(np.ascontiguousarray(image.array)).save(tmp, format="JPEG", quality=quality)
    return path


def write_tiff(image: Image | np.ndarray, path: str | Path, compression: str | None = "zlib") -> Path:
    """Write any 2D/3D image (any numeric dtype, channels) as TIFF with its geometry, atomically.

    Pixel size is also written as metric resolution tags (read by other software) when the unit is
    ``um`` or ``mm``; the full geometry is kept in tifffile's JSON description for exact round trips.
    """
    import tifffile

    image, path = as_image(image), Path(path)
    check_writable(image, path)
    if lower_suffix(path) not in (".tif", ".tiff"):
        raise UnsupportedFormatError(f"TIFF files end in .tif or .tiff, got {lower_suffix(path)!r}", path)
    array = image.array
    ours: dict[str, Any] = {
        "shape": list(array.shape), "dtype": str(array.dtype), "spacing": list(image.spacing),
        "origin": list(image.origin), "direction": image.direction.tolist(), "channel_axis": image.channel_axis,
        "spacing_unit": image.spacing_unit,
    }
    photometric = "minisblack"
    if image.channel_axis is not None:
        if image.n_channels in (3, 4) and array.dtype in (np.uint8, np.uint16) and image.ndim_spatial == 2:
            photometric = "rgb"
        else:
            array = np.moveaxis(array, -1, 0)
            ours["channels_first"] = True
    if array.dtype == bool:
        array = array.astype(np.uint8)
    kwargs: dict[str, Any] = {}
    to_um = {"um": 1.0, "mm": 1e3}.get(image.spacing_unit)
    if to_um is not None:
        y_um, x_um = image.spacing[-2] * to_um, image.spacing[-1] * to_um
        kwargs.update(resolution=(1e4 / x_um, 1e4 / y_um), resolutionunit="CENTIMETER")
    with writing(path, "TIFF"), atomic_path(path) as tmp:
        tifffile.imwrite(tmp, array, photometric=photometric, compression=compression,
                         metadata={"biomedai": json.dumps(ours)}, **kwargs)
    return path
