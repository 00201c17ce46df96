"""Cheap looks at what an image shows, for the methods' input checks (:meth:`Method.check_input`).

A method decides from these numbers, with its own thresholds in its own domain module, whether it
can read an input: the stain colours of a slide (DAB brown, haematoxylin blue, H&E pink/purple), whether an
RGB file holds only grey, and the left-right mirror symmetry of a film. Everything works on a small
thumbnail, read through :func:`biomedai.io.read_image` (so under the read limits), or for a whole slide through
:func:`look_at_slide` (never decoding the whole slide).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

THUMBNAIL = 256
#: :func:`look_at_slide` decodes at most about this many pixels of one level for its thumbnail
SLIDE_LOOK_PIXELS = 1 << 24
#: a slide without a small enough level is looked at through this many x this many windows (a mosaic)
SLIDE_LOOK_GRID = 8


@dataclass
class Look:
    """A thumbnail of an image: ``pixels`` in [0, 1] (H x W, or H x W x 3 when ``rgb``) and its metadata."""

    pixels: np.ndarray
    rgb: bool
    shape: tuple[int, ...]
    metadata: dict[str, Any]

    @property
    def aspect(self) -> float:
        """Width over height of the original image."""
        return self.shape[1] / max(1, self.shape[0])

    def grey(self) -> np.ndarray:
        """The thumbnail as one grey channel (the mean of RGB)."""
        return self.pixels.mean(axis=-1) if self.rgb else self.pixels


def look_at(path: str | Path, size: int = THUMBNAIL) -> Look:
    """A thumbnail (longer side ``size``) of an image, of the middle slice of a volume or series."""
    from skimage.transform import resize

    from ..io import read_image

    image = read_image(Path(path))
    array = np.asarray(image.array)
    rgb = image.channel_axis is not None
    if rgb and array.shape[-1] > 3:
        array = array[..., :3]
    while array.ndim > (3 if rgb else 2):
        array = array[array.shape[0] // 2]
    shape = tuple(int(n) for n in array.shape[:2])
    scale = min(1.0, size / max(shape))
    target = (max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale)))
    small = resize(array.astype(np.float32), target + ((3,) if rgb else ()), anti_aliasing=scale < 1,
                   preserve_range=True)
    low, high = float(np.min(small)), float(np.max(small))
    if rgb and array.dtype == np.uint8:
        low, high = 0.0, 255.0
    pixels = (small - low) / (high - low) if high > low else np.zeros_like(small)
    return Look(pixels.astype(np.float32), rgb, shape, dict(image.metadata))


def look_at_slide(path: str | Path, size: int = THUMBNAIL, max_read_pixels: int = SLIDE_LOOK_PIXELS) -> Look:
    """A thumbnail (longer side ``size``) of a whole slide, decoding at most about ``max_read_pixels`` pixels.

    When the pyramid level a thumbnail is made from holds more pixels than that (a large TIFF without a
    pyramid), the look is a mosaic of ``SLIDE_LOOK_GRID`` x ``SLIDE_LOOK_GRID`` windows taken at the centres of
    an even grid over the coarsest level (``metadata["sampled"]`` True). ``shape`` is level 0's ``(height,
    width)``; ``metadata`` holds the slide's ``level_dimensions`` (``(width, height)`` each) and ``mpp``.

    Example:
        >>> import tempfile
        >>> from biomedai.io.wsi import write_pyramidal_tiff
        >>> p = write_pyramidal_tiff(np.full((512, 768, 3), 200, np.uint8), Path(tempfile.mkdtemp()) / "s.tif", 0.5)
        >>> look = look_at_slide(p, size=96)
        >>> look.pixels.shape, look.shape, look.metadata["sampled"]
        ((64, 96, 3), (512, 768), False)
    """
    from ..io.wsi import open_wsi

    with open_wsi(path) as slide:
        width, height = slide.dimensions
        scale = max(width, height) / float(min(size, max(width, height)))
        level_w, level_h = slide.level_dimensions[slide.level_for_downsample(scale)]
        sampled = level_w * level_h > max_read_pixels
        rgb = _slide_mosaic(slide, size) if sampled else slide.thumbnail(min(size, max(width, height)))
        metadata = {"format": "WSI", "level_dimensions": [tuple(int(v) for v in d) for d in slide.level_dimensions],
                    "mpp": slide.mpp, "sampled": sampled}
    return Look(np.asarray(rgb, np.float32)[..., :3] / 255.0, True, (int(height), int(width)), metadata)


def _slide_mosaic(slide: Any, size: int) -> np.ndarray:
    """Windows at the centres of a ``SLIDE_LOOK_GRID`` grid over the coarsest level, side by side as one image."""
    level = slide.level_count - 1
    level_w, level_h = slide.level_dimensions[level]
    ds = slide.level_downsamples[level]
    n = SLIDE_LOOK_GRID
    side = max(1, min(size // n, level_w // n, level_h // n))
    rows = []
    for i in range(n):
        y = int((i + 0.5) * level_h / n) - side // 2
        row = [np.asarray(slide.read_region((int(round((int((j + 0.5) * level_w / n) - side // 2) * ds)),
                                             int(round(y * ds))), level, (side, side)))[..., :3] for j in range(n)]
        rows.append(np.concatenate(row, axis=1))
    return np.concatenate(rows, axis=0)


@dataclass
class StainColours:
    """Fractions of a thumbnail's pixels by colour (HSV): saturated at all, and of the common stains."""

    coloured: float  #: saturation > 0.15
    brown: float  #: DAB: hue 7-54 degrees, saturated, not bright
    blue: float  #: haematoxylin counterstain of IHC: hue 180-270 degrees
    pink_purple: float  #: H&E eosin and haematoxylin: hue 252-360 or < 7 degrees


def stain_colours(look: Look) -> StainColours:
    """How much of an RGB thumbnail is DAB brown, haematoxylin blue or H&E pink/purple (all 0 for grey)."""
    from skimage.color import rgb2hsv

    if not look.rgb:
        return StainColours(0.0, 0.0, 0.0, 0.0)
    hsv = rgb2hsv(np.clip(look.pixels, 0, 1))
    hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    coloured = sat > 0.15
    return StainColours(coloured=float(coloured.mean()),
                        brown=float((coloured & (hue > 0.02) & (hue < 0.15) & (val < 0.85)).mean()),
                        blue=float((coloured & (hue > 0.5) & (hue <= 0.7)).mean()),
                        pink_purple=float((coloured & ((hue > 0.7) | (hue < 0.02))).mean()))


def holds_only_grey(look: Look, tolerance: float = 8 / 255, max_fraction: float = 0.001) -> bool:
    """True when an RGB thumbnail is grey in all but ``max_fraction`` of its pixels.

    Channels within ``tolerance`` count as grey: a radiograph saved as a 3-channel JPEG or PNG.
    """
    if not look.rgb:
        return True
    spread = look.pixels.max(axis=-1) - look.pixels.min(axis=-1)
    return float((spread > tolerance).mean()) <= max_fraction


def corner_brightness(look: Look) -> float:
    """Mean brightness of the four corner patches (a tenth of the height each).

    About 0 for a fundus photograph's dark surround, high for a brightfield slide.
    """
    pixels = look.pixels
    k = max(2, pixels.shape[0] // 10)
    corners = np.concatenate([pixels[:k, :k].ravel(), pixels[:k, -k:].ravel(), pixels[-k:, :k].ravel(),
                              pixels[-k:, -k:].ravel()])
    return float(corners.mean())


def mirror_symmetry(look: Look) -> float:
    """Correlation of the grey thumbnail with its left-right mirror image (1 = symmetric)."""
    grey = look.grey().astype(np.float64)
    if grey.std() == 0:
        return 0.0
    return float(np.corrcoef(grey.ravel(), grey[:, ::-1].ravel())[0, 1])


def dicom_header(path: str | Path) -> Any | None:
    """The header (no pixels) of a DICOM file, or of the first file of a series folder; None when not DICOM."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file())
        if not files:
            return None
        path = files[0]
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError, ValueError, TypeError):
        return None


def is_slide(path: str | Path) -> bool:
    """True for a whole-slide image file (by suffix: .svs, .ndpi, ...), which the checks accept unread."""
    from ..io.formats import SUFFIX_FORMATS

    return SUFFIX_FORMATS.get(Path(path).suffix.lower()) == "wsi"
