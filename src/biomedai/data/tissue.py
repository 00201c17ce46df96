"""Tissue on brightfield images and whole slides: where it is, and windows of it to sample.

* :func:`tissue_mask` - a boolean tissue mask of an RGB image (a tile, or a slide's thumbnail): Otsu on the
  optical darkness (tissue is darker than glass), small specks removed.
* :func:`tissue_windows` - windows of a slide level spread over its tissue (by a thumbnail mask), each with
  its tissue pixels, for statistics that glass must not dilute (a stain threshold set once per slide).

Example:
    >>> img = np.full((64, 64, 3), 240, np.uint8); img[:32, :32] = 120
    >>> mask = tissue_mask(img, min_object_px=16)
    >>> bool(mask[:32, :32].all()), bool(mask[32:].any())
    (True, False)
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .tiling import WSITile, tile_grid, tissue_fraction

__all__ = ["MIN_TISSUE_CONTRAST", "TissueWindows", "tissue_mask", "tissue_windows"]

#: Otsu's two classes must differ by this many grey levels to be tissue and glass (not noise on bare glass)
MIN_TISSUE_CONTRAST = 15.0
#: a flat image (darkness range below this) is all glass or all tissue, by its mean darkness
FLAT_RANGE = 8.0
#: mean darkness (255 - grey) above which a flat or noise-only image is all tissue (grey below 180)
FLAT_TISSUE_DARKNESS = 75.0


def tissue_mask(rgb: np.ndarray, min_object_px: int = 64, close_px: int = 0) -> np.ndarray:
    """Boolean tissue mask ``[y, x]`` of an RGB image by Otsu's threshold on ``255 - grey``.

    An image without contrast (flat, or noise whose Otsu classes differ by less than ``MIN_TISSUE_CONTRAST``
    grey levels) is all glass or all tissue. ``close_px`` > 0 closes gaps of about that many pixels first (a
    slide thumbnail, where the nuclei of a pale stain are separate specks), before specks below
    ``min_object_px`` pixels are removed.

    Parameters
    ----------
    rgb : numpy.ndarray
        ``[y, x, 3]`` (or 4) image, 0..255.
    min_object_px : int
        Tissue specks up to this size are removed.
    close_px : int
        Radius of a binary closing applied before the specks are removed (0: none).

    Returns
    -------
    numpy.ndarray
        Boolean mask ``[y, x]``, True on tissue.

    Examples
    --------
    >>> bool(tissue_mask(np.full((32, 32, 3), 200, np.uint8)).any())
    False
    """
    from skimage.filters import threshold_otsu
    from skimage.morphology import remove_small_objects

    grey = np.asarray(rgb, np.float32)[..., :3].mean(axis=-1)
    darkness = 255.0 - grey
    if float(darkness.max() - darkness.min()) < FLAT_RANGE:  # flat: glass (grey >= 180) or all tissue
        return np.full(darkness.shape, float(darkness.mean()) > FLAT_TISSUE_DARKNESS)
    mask = darkness > threshold_otsu(darkness)
    if float(darkness[mask].mean() - darkness[~mask].mean()) < MIN_TISSUE_CONTRAST:  # noise on glass
        return np.full(darkness.shape, float(darkness.mean()) > FLAT_TISSUE_DARKNESS)
    if close_px > 0:
        from scipy import ndimage as ndi
        from skimage.morphology import disk

        mask = ndi.binary_closing(np.pad(mask, close_px), disk(close_px))[close_px:-close_px, close_px:-close_px]
    return remove_small_objects(mask, max_size=min_object_px)


class TissueWindows(NamedTuple):
    """Windows read from a slide level (``images``, RGB) and their tissue pixels (``masks``; None: use all)."""

    images: list[np.ndarray]
    masks: list[np.ndarray] | None


def tissue_windows(slide: Any, level: int, mask: np.ndarray | None = None, window: int = 256,
                   n_windows: int = 16, min_tissue_pixels: int = 256) -> TissueWindows:
    """Up to ``n_windows`` windows of ``window`` px spread evenly over the tissue of a slide level.

    With a thumbnail tissue ``mask`` (any scale, covering the whole slide), windows at least half tissue are
    taken (else any window with tissue), and each window's tissue pixels are those darker than the midpoint
    between the thumbnail's median glass grey and median tissue grey. Without a mask, or when the windows hold
    fewer than ``min_tissue_pixels`` such pixels, the windows are used whole (``masks`` None).

    Parameters
    ----------
    slide : Any
        A WSI reader (:func:`biomedai.io.wsi.open_wsi`): ``level_dimensions``, ``level_downsamples``,
        ``read_region`` and ``thumbnail``.
    level : int
        The pyramid level read.
    mask : numpy.ndarray, optional
        Boolean tissue mask of the whole slide, e.g. :func:`tissue_mask` of its thumbnail.
    window : int
        Window side in pixels at ``level``.
    n_windows : int
        Most windows read.
    min_tissue_pixels : int
        Fewer tissue pixels than this in all windows: the windows are used whole.

    Returns
    -------
    TissueWindows
        The RGB windows and their tissue masks (or None).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from biomedai.io.wsi import open_wsi, write_pyramidal_tiff
    >>> img = np.full((512, 512, 3), 235, np.uint8); img[:, :256] = 110
    >>> p = write_pyramidal_tiff(img, Path(tempfile.mkdtemp()) / "s.tif", mpp=0.5)
    >>> with open_wsi(p) as slide:
    ...     found = tissue_windows(slide, 0, tissue_mask(slide.thumbnail(64)), window=128, n_windows=4)
    >>> len(found.images), [round(float(m.mean()), 2) for m in found.masks]
    (4, [1.0, 1.0, 1.0, 1.0])
    """
    width, height = slide.level_dimensions[level]
    ds = slide.level_downsamples[level]
    windows = tile_grid((height, width), window, 0)
    glass_grey = None
    if mask is not None and mask.any() and not mask.all():
        fractions = np.array([tissue_fraction(mask, WSITile(level, t.origin[1], t.origin[0], t.size[1], t.size[0],
                                                            (0, 0)), (width, height)) for t in windows])
        chosen = np.flatnonzero(fractions >= 0.5)
        windows = [windows[i] for i in (chosen if chosen.size else np.flatnonzero(fractions > 0))]
        grey = np.asarray(slide.thumbnail(max(mask.shape)), np.float32)[..., :3].mean(-1)
        if grey.shape == mask.shape:
            glass_grey = 0.5 * (float(np.median(grey[~mask])) + float(np.median(grey[mask])))
    picks = np.linspace(0, len(windows) - 1, min(n_windows, len(windows))).round().astype(int)
    images = [np.asarray(slide.read_region((int(round(windows[i].origin[1] * ds)),
                                            int(round(windows[i].origin[0] * ds))),
                                           level, (windows[i].size[1], windows[i].size[0])))[..., :3]
              for i in picks]
    masks = None if glass_grey is None else [im.astype(np.float32).mean(-1) < glass_grey for im in images]
    if masks is not None and sum(int(m.sum()) for m in masks) < min_tissue_pixels:
        masks = None  # hardly any tissue pixel: use the windows whole
    return TissueWindows(images, masks)
