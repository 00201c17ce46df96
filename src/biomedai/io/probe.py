"""``probe_raster``: size, channels and pixel type of a raster file from its header, without its pixels.

Routing and intake need to know whether a file is grey, colour or a whole slide before anything is
decoded; a 60,000 x 80,000 TIFF must not be read to answer that. PNG/JPEG/GIF/BMP headers are read
by Pillow (which decodes lazily), TIFF headers by tifffile (pages, series and pyramid levels).

Example:
    >>> import tempfile, numpy as np
    >>> from PIL import Image as PILImage
    >>> p = Path(tempfile.mkdtemp()) / "a.png"
    >>> PILImage.fromarray(np.zeros((4, 6, 3), np.uint8)).save(p)
    >>> info = probe_raster(p)
    >>> (info.width, info.height, info.channels, info.dtype)
    (6, 4, 3, 'uint8')
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from biomedai.errors import InvalidInputError
from biomedai.io.formats import detect_format

#: Pillow modes -> (channels as read_image returns them, numpy dtype name).
_PIL_MODES: dict[str, tuple[int, str]] = {
    "1": (1, "bool"), "L": (1, "uint8"), "LA": (1, "uint8"), "P": (3, "uint8"), "PA": (3, "uint8"),
    "RGB": (3, "uint8"), "RGBA": (3, "uint8"), "RGBX": (3, "uint8"), "CMYK": (3, "uint8"),
    "YCbCr": (3, "uint8"), "I": (1, "int32"), "F": (1, "float32"),
    "I;16": (1, "uint16"), "I;16L": (1, "uint16"), "I;16B": (1, "uint16"), "I;16N": (1, "uint16"),
}
RASTER_FORMATS = ("png", "jpeg", "gif", "bmp", "tiff", "wsi")


@dataclass(frozen=True)
class RasterProbe:
    """What a raster header says. ``channels`` counts colour samples after alpha is dropped."""

    format: str
    width: int
    height: int
    channels: int
    dtype: str
    pages: int = 1
    levels: int = 1

    @property
    def pixels(self) -> int:
        """Number of pixels (or voxels) the header declares."""
        return self.width * self.height

    @property
    def is_grey(self) -> bool:
        """Whether the image has one sample per pixel."""
        return self.channels == 1


def probe_raster(path: str | Path) -> RasterProbe:
    """Read only the header of a PNG, JPEG, GIF, BMP or TIFF (including pyramidal slides).

    Raises InvalidInputError naming the file when the header is unreadable or the file is not a raster.
    """
    path = Path(path)
    fmt = detect_format(path)
    if fmt not in RASTER_FORMATS:
        raise InvalidInputError(f"not a raster image (format {fmt}); probe_raster reads "
                                f"{', '.join(RASTER_FORMATS)}", path)
    if fmt in ("tiff", "wsi"):
        return _probe_tiff(path, fmt)
    from PIL import Image as PILImage

    try:
        with PILImage.open(path) as im:
            channels, dtype = _PIL_MODES.get(im.mode, (len(im.getbands()), "uint8"))
            return RasterProbe(fmt, im.width, im.height, channels, dtype, pages=getattr(im, "n_frames", 1))
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds
        raise InvalidInputError(f"unreadable {fmt.upper()} header ({exc})", path) from exc


def _probe_tiff(path: Path, fmt: str) -> RasterProbe:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            if not tif.series:
                raise InvalidInputError("TIFF holds no image series", path)
            series = tif.series[0]
            axes, shape = series.axes, series.shape
            sizes = dict(zip(axes, shape))
            samples = sizes.get("S", 1)
            if "C" in sizes and "S" not in sizes and sizes["C"] in (3, 4):
                samples = sizes["C"]
            channels = 3 if samples in (3, 4) else samples
            return RasterProbe(fmt, int(sizes.get("X", shape[-1])), int(sizes.get("Y", shape[-2])), int(channels),
                               str(series.dtype), pages=len(tif.pages), levels=len(series.levels))
    except InvalidInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - tifffile raises many kinds
        raise InvalidInputError(f"unreadable TIFF header ({exc})", path) from exc
