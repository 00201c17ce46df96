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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
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
#: file suffixes that are always whole-slide images (a ``.tif``/``.tiff`` is one when it holds a pyramid)
SLIDE_SUFFIXES = (".svs", ".ndpi", ".scn", ".mrxs", ".bif", ".vms", ".vmu", ".svslide", ".qptiff")
#: Level pixels above which :meth:`WSIReader.to_image` refuses (use ``read_rect`` on tiles instead).
MAX_PIXELS = 1 << 28
#: :meth:`WSIReader.thumbnail` reads a level larger than this in strips of about this many pixels
THUMBNAIL_READ_PIXELS = 1 << 24
#: a level whose microns per pixel differ from the target by at most this share is read as it is (10 %), so
#: that slides from scanners with slightly different pixel sizes are not resampled by a few per cent
MPP_TOLERANCE = 0.1


def is_slide_file(path: str | Path, min_pixels: int | None = None) -> bool:
    """True for a whole-slide image.

    That is a slide suffix (.svs, .ndpi, ...), a TIFF holding a resolution pyramid, or, with ``min_pixels``, a
    TIFF whose first image has at least that many pixels (read from the header).

    Unreadable files give False (the image reader then says what is wrong).

    Example:
        >>> is_slide_file("scan.svs"), is_slide_file("photo.png")
        (True, False)
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in SLIDE_SUFFIXES:
        return True
    if suffix not in (".tif", ".tiff"):
        return False
    try:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            if len(series.levels) > 1:
                return True
            page = tif.pages[0]
            return min_pixels is not None and int(page.imagelength) * int(page.imagewidth) >= int(min_pixels)
    except Exception:  # noqa: BLE001 - not readable as a TIFF: treat as a plain image
        return False


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

    def level_for_downsample(self, downsample: float, tolerance: float = 0.01) -> int:
        """The coarsest level whose downsample is at most ``downsample`` (within ``tolerance``), else level 0."""
        candidates = [i for i, d in enumerate(self.level_downsamples) if d <= downsample * (1 + tolerance)]
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
        return _read_scaled(self, location, level, (width, height), downsample / level_ds)

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
        factor = int(scale / self.level_downsamples[level])
        if level_w * level_h <= THUMBNAIL_READ_PIXELS or factor < 2:
            region = self.read_region((0, 0), level, (level_w, level_h))
            return _resize(region, out_w, out_h)
        # a large level (a slide without a pyramid): read strips, average factor x factor blocks, then resize
        from skimage.transform import downscale_local_mean

        rows = max(1, THUMBNAIL_READ_PIXELS // level_w // factor) * factor
        ds = self.level_downsamples[level]
        strips = []
        for y in range(0, level_h // factor * factor, rows):
            n = min(rows, level_h // factor * factor - y)
            strip = self.read_region((0, int(round(y * ds))), level, (level_w // factor * factor, n))
            strips.append(np.round(downscale_local_mean(strip, (factor, factor, 1))).astype(np.uint8))
        return _resize(np.concatenate(strips), out_w, out_h)

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


@dataclass(frozen=True)
class LevelChoice:
    """The pyramid level a slide is read at and how its pixels are resampled to reach a target resolution.

    ``zoom`` is output pixels per level pixel (0.5: the level is halved, 1: read as it is); ``width`` and
    ``height`` are the size of the output grid; ``how`` is ``"mpp"`` (chosen by microns per pixel),
    ``"configured"`` (an explicit level) or ``"fallback"`` (by resolution asked for, but the model or the
    slide states no microns per pixel); ``note`` says what was done, ``warning`` what the user should know.
    """

    level: int
    level_downsample: float
    zoom: float
    width: int
    height: int
    target_mpp: float | None
    slide_mpp: float | None
    how: str
    note: str
    warning: str | None = None

    @property
    def downsample(self) -> float:
        """Level-0 pixels per output pixel (multiply output coordinates by it to get level-0 pixels)."""
        return self.level_downsample / self.zoom

    @property
    def mpp(self) -> float | None:
        """Microns per output pixel, or None when the slide does not say."""
        return None if self.slide_mpp is None else self.slide_mpp * self.downsample

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record for ``result.json``."""
        mpp = self.mpp
        return {"level": self.level, "how": self.how, "level_downsample": round(self.level_downsample, 6),
                "zoom": round(self.zoom, 6), "downsample": round(self.downsample, 6),
                "output_size": [self.width, self.height], "target_mpp": self.target_mpp,
                "slide_mpp": self.slide_mpp, "mpp": None if mpp is None else round(mpp, 6), "note": self.note,
                "warning": self.warning}


def level_for_mpp(slide: WSIReader, target_mpp: float | None, level: int | str = "auto", fallback_level: int = 0,
                  tolerance: float = MPP_TOLERANCE, setting: str = "level") -> LevelChoice:
    """The level to read ``slide`` at so that its pixels reach ``target_mpp`` microns, and the factor left.

    With ``level="auto"`` it is the coarsest level not coarser than the target (within ``tolerance``), and
    what is left is a ``zoom`` (output pixels per level pixel, 1 within ``tolerance``) for the caller or
    :class:`ResampledSlide` to resample by. An integer ``level`` is read as it is. Without ``target_mpp``
    (a model that states none) or without the slide's microns per pixel, ``fallback_level`` is read as it
    is; for a slide without them the choice carries a warning. ``setting`` names the option in errors.

    Example:
        >>> import tempfile
        >>> p = write_pyramidal_tiff(np.zeros((1024, 1024, 3), np.uint8), Path(tempfile.mkdtemp()) / "s.tif",
        ...                          mpp=0.25)
        >>> with open_wsi(p) as s:
        ...     [(c.level, c.zoom, c.width) for c in (level_for_mpp(s, 0.5), level_for_mpp(s, 0.7))]
        [(1, 1.0, 512), (1, 0.7142857142857143, 365)]
    """
    count = slide.level_count
    downsamples = slide.level_downsamples
    slide_mpp = None if slide.mpp is None else float(np.mean(slide.mpp))
    if target_mpp is not None and not (target_mpp > 0 and math.isfinite(target_mpp)):
        raise InvalidInputError(f"target microns per pixel must be positive, got {target_mpp}", slide.path)
    if level != "auto":
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level < count:
            raise InvalidInputError(f"{setting} {level} does not exist; the slide has levels 0..{count - 1}",
                                    slide.path)
        return _as_is(slide, level, target_mpp, slide_mpp, "configured", f"level {level} as configured")
    if target_mpp is None or slide_mpp is None:
        fallback_level = min(max(0, fallback_level), count - 1)
        if target_mpp is None:
            return _as_is(slide, fallback_level, None, slide_mpp, "fallback",
                          f"level {fallback_level} read as it is: the model states no microns per pixel of "
                          "its training images")
        warning = (f"the slide states no microns per pixel: level {fallback_level} read as it is, not resampled "
                   f"to the model's {target_mpp:g} um/px; nuclei may reach the model at another size than in "
                   "training")
        return _as_is(slide, fallback_level, target_mpp, None, "fallback", warning, warning)
    want = target_mpp / slide_mpp  # level-0 pixels per output pixel
    chosen = slide.level_for_downsample(want, tolerance)
    zoom = downsamples[chosen] / want
    if abs(zoom - 1.0) <= tolerance:
        zoom = 1.0
    width, height = slide.level_dimensions[chosen]
    if zoom != 1.0:
        width, height = max(1, int(width * zoom)), max(1, int(height * zoom))
    level_mpp = slide_mpp * downsamples[chosen]
    note = f"level {chosen} ({level_mpp:.4g} um/px) for the model's {target_mpp:g} um/px"
    warning = None
    if zoom != 1.0:
        note += f", resampled x{zoom:.4g}"
    if zoom > 1.0:
        warning = (f"the slide ({slide_mpp:.4g} um/px) is coarser than the model's {target_mpp:g} um/px: level 0 "
                   f"is enlarged x{zoom:.3g}")
    return LevelChoice(chosen, downsamples[chosen], zoom, width, height, target_mpp, slide_mpp, "mpp", note, warning)


def _as_is(slide: WSIReader, level: int, target_mpp: float | None, slide_mpp: float | None, how: str, note: str,
           warning: str | None = None) -> LevelChoice:
    width, height = slide.level_dimensions[level]
    return LevelChoice(level, slide.level_downsamples[level], 1.0, width, height, target_mpp, slide_mpp, how, note,
                       warning)


class ResampledSlide:
    """A slide seen through a :class:`LevelChoice`: one level, the output grid, OpenSlide-style reads.

    ``read_region(location, 0, size)`` takes ``location`` in level-0 pixels and ``size`` in output pixels, as a
    reader's own level would, so tiling code written for a level (:func:`biomedai.data.tiling.predict_wsi_map`,
    :class:`biomedai.data.tiling.SlideRowStrips`) runs at the chosen resolution unchanged.

    Example:
        >>> import tempfile
        >>> p = write_pyramidal_tiff(np.zeros((600, 800, 3), np.uint8), Path(tempfile.mkdtemp()) / "s.tif",
        ...                          mpp=0.25, levels=1)
        >>> with open_wsi(p) as s:
        ...     view = ResampledSlide(s, level_for_mpp(s, 0.5))
        ...     view.level_dimensions, view.level_downsamples, view.read_region((100, 0), 0, (64, 32)).shape
        (((400, 300),), (2.0,), (32, 64, 3))
    """

    level_count = 1

    def __init__(self, slide: WSIReader, choice: LevelChoice) -> None:
        self.slide, self.choice = slide, choice
        self.path = slide.path

    @property
    def level_dimensions(self) -> tuple[tuple[int, int], ...]:
        """One level: the ``(width, height)`` of the slide at the chosen resolution."""
        return ((self.choice.width, self.choice.height),)

    @property
    def level_downsamples(self) -> tuple[float, ...]:
        """One level: the level-0 pixels per pixel at the chosen resolution."""
        return (self.choice.downsample,)

    @property
    def dimensions(self) -> tuple[int, int]:
        """Level-0 ``(width, height)`` of the slide."""
        return self.slide.dimensions

    @property
    def mpp(self) -> tuple[float, float] | None:
        """Level-0 microns per pixel of the slide."""
        return self.slide.mpp

    def read_region(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> np.ndarray:
        """``size`` = (width, height) output pixels from level-0 ``location`` (x, y); ``level`` must be 0."""
        if level != 0:
            raise InvalidInputError(f"a resampled slide has one level (0), got level {level}", self.path)
        return _read_scaled(self.slide, location, self.choice.level, size, 1.0 / self.choice.zoom)

    def thumbnail(self, max_size: int = 512) -> np.ndarray:
        """The slide's thumbnail (the whole slide, whatever the level)."""
        return self.slide.thumbnail(max_size)


def _read_scaled(slide: WSIReader, location: tuple[int, int], level: int, size: tuple[int, int],
                 factor: float) -> np.ndarray:
    """``size`` = (width, height) output pixels from level-0 ``location``, ``factor`` level pixels per output pixel."""
    width, height = (int(v) for v in size)
    if abs(factor - 1.0) < 1e-6:
        return slide.read_region(location, level, (width, height))
    region = slide.read_region(location, level, (max(1, round(width * factor)), max(1, round(height * factor))))
    return np.array(_resize(region, width, height))  # writable, as a reader's own regions are


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
    path = Path(path)
    array = np.asarray(array)
    if array.size == 0 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (1, 3)):
        raise InvalidInputError(f"pyramidal TIFF takes [y, x] or [y, x, 3] arrays, got shape {array.shape}", path)
    if array.dtype != np.uint8:
        raise InvalidInputError(f"pyramidal TIFF takes uint8 arrays, got {array.dtype}", path)
    if tile <= 0 or tile % 16:
        raise InvalidInputError(f"tile must be a positive multiple of 16, got {tile}", path)
    return write_pyramidal_tiff_bands(_row_bands(array, tile), array.shape, path, mpp, tile, levels, compression)


def write_pyramidal_tiff_bands(bands: Iterable[np.ndarray], shape: tuple[int, ...], path: str | Path,
                               mpp: float | tuple[float, float] | None, tile: int = 256, levels: int | None = None,
                               compression: str = "zlib") -> Path:
    """Write an image given as row bands as a tiled pyramidal TIFF, never holding the full image in memory.

    ``bands`` yields uint8 arrays of ``tile`` rows (the last may be shorter) and the full width, top to
    bottom; ``shape`` is ``(height, width)`` or ``(height, width, 3)``. Level 0 is written tile row by tile
    row while its half-size level goes to a ``.npy`` memory map beside ``path``; each further level is then
    written from the previous one's map (together a third of level 0 on disk, removed at the end). The file
    is the same as :func:`write_pyramidal_tiff` writes for the whole array (SubIFD pyramid, ``mpp`` in the
    resolution tags; None writes none, for a source without a pixel size) and appears at ``path`` only when
    complete.

    Example:
        >>> import tempfile
        >>> a = np.random.default_rng(0).integers(0, 255, (300, 200, 3), dtype=np.uint8)
        >>> p = write_pyramidal_tiff_bands((a[y:y + 64] for y in range(0, 300, 64)), a.shape,
        ...                                Path(tempfile.mkdtemp()) / "s.tif", mpp=0.5, tile=64)
        >>> with open_wsi(p) as s:
        ...     s.level_dimensions, bool((s.read_region((0, 0), 0, (200, 300)) == a).all())
        (((200, 300), (100, 150), (50, 75), (25, 37)), True)
    """
    import shutil
    import tempfile

    import tifffile

    path = Path(path)
    shape = tuple(int(n) for n in shape)
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[-1] not in (1, 3)) or min(shape[:2]) < 1:
        raise InvalidInputError(f"pyramidal TIFF takes [y, x] or [y, x, 3] images, got shape {shape}", path)
    if tile <= 0 or tile % 16:
        raise InvalidInputError(f"tile must be a positive multiple of 16, got {tile}", path)
    if mpp is None:
        mpp_x = mpp_y = None
    else:
        mpp_x, mpp_y = (float(mpp), float(mpp)) if np.isscalar(mpp) else (float(mpp[0]), float(mpp[1]))
        if mpp_x <= 0 or mpp_y <= 0:
            raise InvalidInputError(f"mpp must be positive, got {mpp}", path)
    if levels is None:
        levels = 1
        while max(shape[:2]) / 2 ** (levels - 1) > tile:
            levels += 1
    photometric = "rgb" if len(shape) == 3 and shape[-1] == 3 else "minisblack"
    scratch = Path(tempfile.mkdtemp(prefix=".pyramid-", dir=path.parent if path.parent.is_dir() else None))
    try:
        with writing(path, "pyramidal TIFF"), atomic_path(path) as tmp:
            with tifffile.TiffWriter(tmp, bigtiff=math.prod(shape) > 2**31) as writer:
                level_shape, source = shape, iter(bands)
                for index in range(levels):
                    last = index == levels - 1
                    half = None if last else np.lib.format.open_memmap(
                        scratch / f"level{index + 1}.npy", mode="w+", dtype=np.uint8,
                        shape=(level_shape[0] // 2, level_shape[1] // 2) + tuple(level_shape[2:]))
                    scale = 2 ** index
                    writer.write(_tiles_of_bands(source, level_shape, tile, half), shape=level_shape,
                                 dtype=np.uint8, subifds=levels - 1 if index == 0 else None,
                                 subfiletype=1 if index else 0, tile=(tile, tile), photometric=photometric,
                                 compression=compression, metadata=None,
                                 resolution=None if mpp_x is None else (1e4 / (mpp_x * scale), 1e4 / (mpp_y * scale)),
                                 resolutionunit=None if mpp_x is None else "CENTIMETER")
                    if half is not None:
                        half.flush()
                        level_shape = half.shape
                        source = _row_bands(half, tile)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return path


def _row_bands(array: np.ndarray, rows: int) -> Iterator[np.ndarray]:
    for y in range(0, array.shape[0], rows):
        yield np.asarray(array[y:y + rows])


def _tiles_of_bands(bands: Iterator[np.ndarray], shape: tuple[int, ...], tile: int,
                    half: np.ndarray | None) -> Iterator[np.ndarray]:
    """Full-size tiles (zero-padded at the edges) of row bands, in tifffile's order.

    Each band's half-size copy goes into ``half`` on the way.
    """
    height, width = shape[:2]
    for y in range(0, height, tile):
        band = next(bands, None)
        rows = min(tile, height - y)
        if band is None or band.shape[:2] != (rows, width) or band.shape[2:] != tuple(shape[2:]):
            got = None if band is None else band.shape
            raise InvalidInputError(f"band at row {y} must have shape {(rows, width) + tuple(shape[2:])}, got {got}")
        band = np.asarray(band, np.uint8)
        if half is not None:
            low = _halve(band[:rows // 2 * 2])
            half[y // 2:y // 2 + low.shape[0]] = low[:, :half.shape[1]]
        for x in range(0, width, tile):
            piece = band[:, x:x + tile]
            if piece.shape[:2] != (tile, tile):
                pad = [(0, tile - piece.shape[0]), (0, tile - piece.shape[1])] + [(0, 0)] * (piece.ndim - 2)
                piece = np.pad(piece, pad)
            yield np.ascontiguousarray(piece)


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
