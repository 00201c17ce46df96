"""Whole-slide images: one reader over tiffslide, with OpenSlide as an optional back end.

Coordinates follow OpenSlide and TIAToolbox: ``location`` is ``(x, y)`` in level-0 (baseline)
pixels, ``size`` is ``(width, height)`` of the output, arrays come back ``[y, x, 3]`` uint8 RGB.
``read_rect`` picks the finest pyramid level not finer than needed and resizes from there.

Example:
    >>> import tempfile, numpy as np
    >>> p = Path(tempfile.mkdtemp()) / "slide.tif"
    >>> _ = write_pyramidal_tiff(np.zeros((512, 768, 3), np.uint8), p, mpp=0.25)
    >>> with open_wsi(p) as slide:
    ...     slide.level_count, slide.mpp, slide.read_rect((0, 0), (64, 32), resolution=1.0).shape
    (3, (0.25, 0.25), (32, 64, 3))
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError, UnsupportedFormatError
from biomedai.io._files import existing_file, reading, writing
from biomedai.io.image import Image
from biomedai.io.limits import check_array_size
from biomedai.utils import atomic_path

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "tiffslide", "openslide")
#: Level pixels above which :meth:`WSIReader.to_image` refuses (use ``read_rect`` on tiles instead).
MAX_PIXELS = 1 << 28


def open_wsi(path: str | Path, backend: str = "auto") -> WSIReader:
    """Open a whole-slide image.

    ``backend="auto"`` tries tiffslide, then OpenSlide when the ``openslide`` package imports;
    ``"tiffslide"``/``"openslide"`` force one.
    """
    return WSIReader(path, backend=backend)


class WSIReader:
    """Level/region reads with microns-per-pixel from a pyramidal slide (context manager)."""

    def __init__(self, path: str | Path, backend: str = "auto") -> None:
        if backend not in BACKENDS:
            raise InvalidInputError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.path = existing_file(path)
        self._slide, self.backend = self._open(backend)
        self._prefix = "tiffslide" if self.backend == "tiffslide" else "openslide"

    def _open(self, backend: str) -> tuple[Any, str]:
        errors: list[str] = []
        if backend in ("auto", "tiffslide"):
            try:
                import tiffslide

                from biomedai.io.raster import check_tiff_complete

                check_tiff_complete(self.path)
                slide = tiffslide.TiffSlide(self.path)
                _ = slide.properties, slide.level_dimensions, slide.level_downsamples  # lazily parsed: fail here
                return slide, "tiffslide"
            except Exception as exc:  # noqa: BLE001
                errors.append(f"tiffslide: {_problem(exc)}")
                if backend == "tiffslide":
                    raise InvalidInputError(f"not a readable whole-slide image ({errors[-1]})", self.path) from exc
        try:
            import openslide
        except Exception as exc:  # noqa: BLE001 - ImportError or a missing shared library
            if backend == "openslide":
                raise UnsupportedFormatError("backend 'openslide' asked for but the openslide package does not "
                                             "import (pip install 'biomedai[openslide]')", self.path) from exc
            raise InvalidInputError(f"not a readable whole-slide image ({'; '.join(errors)}); OpenSlide is "
                                    "not installed to try formats tiffslide cannot read", self.path) from exc
        try:
            return openslide.OpenSlide(str(self.path)), "openslide"
        except Exception as exc:  # noqa: BLE001
            errors.append(f"openslide: {_problem(exc)}")
            raise InvalidInputError(f"not a readable whole-slide image ({'; '.join(errors)})", self.path) from exc

    # ----------------------------------------------------------------------------------- properties
    def __enter__(self) -> WSIReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the slide file."""
        self._slide.close()

    def __repr__(self) -> str:
        return f"WSIReader({str(self.path)!r}, backend={self.backend!r}, levels={self.level_count})"

    @property
    def level_count(self) -> int:
        """Number of resolution levels."""
        return int(self._slide.level_count)

    @property
    def dimensions(self) -> tuple[int, int]:
        """Level-0 ``(width, height)``."""
        width, height = self._slide.dimensions
        return int(width), int(height)

    @property
    def level_dimensions(self) -> tuple[tuple[int, int], ...]:
        """``(width, height)`` of each level."""
        return tuple((int(w), int(h)) for w, h in self._slide.level_dimensions)

    @property
    def level_downsamples(self) -> tuple[float, ...]:
        """Downsample factor of each level relative to level 0."""
        return tuple(float(d) for d in self._slide.level_downsamples)

    @property
    def properties(self) -> dict[str, Any]:
        """The slide's metadata as a dictionary."""
        return dict(self._slide.properties)

    @property
    def mpp(self) -> tuple[float, float] | None:
        """Level-0 microns per pixel ``(x, y)``, or None when the file does not say."""
        props = self._slide.properties
        try:
            mpp_x = props.get(f"{self._prefix}.mpp-x")
            mpp_y = props.get(f"{self._prefix}.mpp-y")
            if mpp_x is None or mpp_y is None:
                return None
            values = float(mpp_x), float(mpp_y)
        except (TypeError, ValueError):
            return None
        return values if all(v > 0 and math.isfinite(v) for v in values) else None

    @property
    def objective_power(self) -> float | None:
        """The scanner's objective magnification, or None when not recorded."""
        value = self._slide.properties.get(f"{self._prefix}.objective-power")
        try:
            return float(value) if value not in (None, "") else None
        except (TypeError, ValueError):
            return None

    def info(self) -> dict[str, Any]:
        """A JSON-ready summary: backend, vendor, levels, dimensions, downsamples, mpp."""
        return {"backend": self.backend, "vendor": self._slide.properties.get(f"{self._prefix}.vendor"),
                "level_count": self.level_count, "level_dimensions": [list(d) for d in self.level_dimensions],
                "level_downsamples": list(self.level_downsamples),
                "mpp": list(self.mpp) if self.mpp else None, "objective_power": self.objective_power}

    # ----------------------------------------------------------------------------------- reading
    def read_region(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> np.ndarray:
        """Read ``size`` = (width, height) pixels of ``level`` starting at level-0 ``location`` (x, y).

        Returns ``[height, width, 3]`` uint8 RGB; outside the slide is padded with zeros.
        """
        if not 0 <= level < self.level_count:
            raise InvalidInputError(f"level {level} out of range (slide has {self.level_count})", self.path)
        width, height = (int(v) for v in size)
        if width <= 0 or height <= 0:
            raise InvalidInputError(f"region size must be positive, got {size}", self.path)
        check_array_size((height, width, 4), 1, self.path, "slide region")  # RGBA before conversion
        x, y = (int(v) for v in location)
        with reading(self.path, "whole-slide image"):
            if self.backend == "tiffslide":
                region = np.asarray(self._slide.read_region((x, y), level, (width, height), as_array=True))
            else:
                region = np.asarray(self._slide.read_region((x, y), level, (width, height)))
        return _to_rgb(region)

    def level_for_downsample(self, downsample: float) -> int:
        """The finest level whose downsample is at most ``downsample`` (tolerance 1 %)."""
        candidates = [i for i, d in enumerate(self.level_downsamples) if d <= downsample * 1.01]
        return max(candidates) if candidates else 0

    def read_rect(self, location: tuple[int, int], size: tuple[int, int], resolution: float = 0,
                  units: str = "level") -> np.ndarray:
        """Read a ``size`` = (width, height) output at a given resolution, level-0 ``location`` (x, y).

        Args:
            resolution: microns per pixel (``units="mpp"``), a pyramid level index (``"level"``),
                or ignored for ``"baseline"`` (level 0).
        """
        downsample = self._downsample_for(resolution, units)
        level = self.level_for_downsample(downsample)
        level_ds = self.level_downsamples[level]
        width, height = (int(v) for v in size)
        if width <= 0 or height <= 0:
            raise InvalidInputError(f"region size must be positive, got {size}", self.path)
        factor = downsample / level_ds
        if abs(factor - 1.0) < 1e-6:
            return self.read_region(location, level, (width, height))
        read_w, read_h = max(1, round(width * factor)), max(1, round(height * factor))
        region = self.read_region(location, level, (read_w, read_h))
        return _resize(region, width, height)

    def _downsample_for(self, resolution: float, units: str) -> float:
        if units == "baseline":
            return 1.0
        if units == "level":
            level = int(resolution)
            if not 0 <= level < self.level_count or level != resolution:
                raise InvalidInputError(f"level {resolution} out of range (slide has {self.level_count})",
                                        self.path)
            return self.level_downsamples[level]
        if units == "mpp":
            mpp = self.mpp
            if mpp is None:
                raise InvalidInputError("slide has no microns-per-pixel in its metadata; use units='level'",
                                        self.path)
            if not resolution or resolution <= 0:
                raise InvalidInputError(f"resolution in mpp must be positive, got {resolution}", self.path)
            return float(resolution) / float(np.mean(mpp))
        raise InvalidInputError(f"units must be 'mpp', 'level' or 'baseline', got {units!r}", self.path)

    def thumbnail(self, max_size: int = 512) -> np.ndarray:
        """The whole slide scaled to fit ``max_size`` x ``max_size``, ``[y, x, 3]`` uint8 RGB."""
        width, height = self.dimensions
        scale = max(width, height) / float(max_size)
        out_w, out_h = max(1, round(width / scale)), max(1, round(height / scale))
        level = self.level_for_downsample(scale)
        level_w, level_h = self.level_dimensions[level]
        region = self.read_region((0, 0), level, (level_w, level_h))
        return _resize(region, out_w, out_h)

    def to_image(self, level: int = 0, max_pixels: int = MAX_PIXELS) -> Image:
        """One whole level as an :class:`Image` with spacing in micrometres (when mpp is known)."""
        if not 0 <= level < self.level_count:
            raise InvalidInputError(f"level {level} out of range (slide has {self.level_count})", self.path)
        width, height = self.level_dimensions[level]
        if width * height > max_pixels:
            raise InvalidInputError(f"level {level} is {width}x{height} pixels, above max_pixels={max_pixels}; "
                                    "read tiles with read_rect or choose a coarser level", self.path)
        array = self.read_region((0, 0), level, (width, height))
        mpp = self.mpp
        downsample = self.level_downsamples[level]
        spacing = (mpp[1] * downsample, mpp[0] * downsample) if mpp else None
        metadata = {"format": "WSI", "level": level, **self.info()}
        return Image(array, spacing=spacing, channel_axis=-1, spacing_unit="um" if mpp else "pixel",
                     metadata=metadata)


def _problem(exc: BaseException) -> str:
    if isinstance(exc, InvalidInputError):
        return exc.problem
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _to_rgb(region: np.ndarray) -> np.ndarray:
    if region.ndim == 2:
        region = region[..., np.newaxis]
    if region.shape[-1] == 1:
        region = np.repeat(region, 3, axis=-1)
    elif region.shape[-1] == 4:
        region = region[..., :3]
    if region.dtype != np.uint8:
        region = np.clip(region, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(region)


def _resize(region: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image as PILImage

    if region.shape[1] == width and region.shape[0] == height:
        return region
    return np.asarray(PILImage.fromarray(region).resize((width, height), PILImage.Resampling.BILINEAR))


def write_pyramidal_tiff(array: np.ndarray, path: str | Path, mpp: float | tuple[float, float],
                         tile: int = 256, levels: int | None = None, compression: str = "zlib") -> Path:
    """Write ``array`` (``[y, x]`` or ``[y, x, 3]`` uint8) as a tiled pyramidal TIFF that tiffslide reads.

    Each level halves the previous one (area averaging) and is stored as a SubIFD; ``mpp`` (x, y or
    one value) goes into metric resolution tags. ``levels`` defaults to halving until the longest side
    fits in one tile.
    """
    import tifffile

    path = Path(path)
    array = np.asarray(array)
    if array.size == 0 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (1, 3)):
        raise InvalidInputError(f"pyramidal TIFF takes [y, x] or [y, x, 3] arrays, got shape {array.shape}", path)
    if array.dtype != np.uint8:
        raise InvalidInputError(f"pyramidal TIFF takes uint8 arrays, got {array.dtype}", path)
    if tile <= 0 or tile % 16:
        raise InvalidInputError(f"tile must be a positive multiple of 16, got {tile}", path)
    mpp_x, mpp_y = (float(mpp), float(mpp)) if np.isscalar(mpp) else (float(mpp[0]), float(mpp[1]))
    if mpp_x <= 0 or mpp_y <= 0:
        raise InvalidInputError(f"mpp must be positive, got {mpp}", path)
    if levels is None:
        levels = 1
        while max(array.shape[:2]) / 2 ** (levels - 1) > tile:
            levels += 1
    pyramid = [array]
    for _ in range(levels - 1):
        pyramid.append(_halve(pyramid[-1]))
    photometric = "rgb" if array.ndim == 3 and array.shape[-1] == 3 else "minisblack"
    with writing(path, "pyramidal TIFF"), atomic_path(path) as tmp:
        with tifffile.TiffWriter(tmp, bigtiff=array.nbytes > 2**31) as writer:
            for index, level in enumerate(pyramid):
                scale = 2 ** index
                writer.write(level, subifds=len(pyramid) - 1 if index == 0 else None,
                             subfiletype=1 if index else 0, tile=(tile, tile), photometric=photometric,
                             compression=compression, metadata=None,
                             resolution=(1e4 / (mpp_x * scale), 1e4 / (mpp_y * scale)),
                             resolutionunit="CENTIMETER")
    return path


def _halve(array: np.ndarray) -> np.ndarray:
    from skimage.transform import downscale_local_mean

    factors = (2, 2, 1) if array.ndim == 3 else (2, 2)
    height, width = array.shape[0] // 2 * 2, array.shape[1] // 2 * 2
    return np.round(downscale_local_mean(array[:height, :width], factors)).astype(np.uint8)


def _read_wsi_level(path: str | Path, level: int = 0, backend: str = "auto", max_pixels: int = MAX_PIXELS
                    ) -> Image:
    """``read_image`` for slide files: one whole level (refused above ``max_pixels``)."""
    with reading(Path(path), "whole-slide image"):  # tiffslide computes properties lazily and raises anything
        with open_wsi(path, backend=backend) as slide:
            return slide.to_image(level, max_pixels=max_pixels)
