"""Ki-67 IHC quantification: DAB/haematoxylin separation, the three-value map, area indices, cell calls.

* :func:`stain_channels` - haematoxylin and DAB optical densities by scikit-image colour deconvolution
  (Ruifrok & Johnston's H-E-DAB matrix, ``skimage.color.rgb2hed``).
* :func:`three_value_map` - positive / negative / background per pixel, either from the deconvolved
  nuclear foreground or from the public notebook's BGR "colour channel filtering" (Liu et al.).
* :func:`area_indices` - Liu et al.'s Dpos, Dneg (area fractions of the ROI) and Rpos = Spos/(Spos+Sneg).
* :func:`detect_nuclei` / :func:`call_cells` - a classical nucleus detector (foreground threshold,
  distance-transform peaks, watershed) and a per-nucleus positive/negative call on mean DAB, giving
  the count-based labelling index clinicians report (QuPath "positive cell detection" style).

Example:
    >>> import numpy as np
    >>> from biomedai.methods.ki67.config import Ki67Config
    >>> white = np.full((64, 64, 3), 255, np.uint8)
    >>> r = quantify_ihc(white, Ki67Config())
    >>> r.n_cells, r.indices["Dpos"], r.labelling_index is None
    (0, 0.0, True)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

from .config import BACKGROUND, NEGATIVE, POSITIVE, Ki67Config
from .scale import (
    PLAUSIBLE_DIAMETER_PX,
    WINDOW_PX,
    NucleusScale,
    granulometry_diameter,
    resolve_nucleus_scale,
    stained_nucleus_mask,
)

#: the nucleus diameter (px) at which ``smoothing_sigma`` and the 2-px opening were tuned (DeepLIIF 40x)
REFERENCE_DIAMETER_PX = 20.0


def as_rgb(array: Any, source: str | Path | None = None) -> np.ndarray:
    """The image as ``[y, x, 3]`` uint8 RGB; grey or other shapes raise ``InvalidInputError``."""
    array = np.asarray(array)
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise InvalidInputError(f"Ki-67 quantification needs an RGB image [y, x, 3], got shape {array.shape}",
                                source)
    array = array[..., :3]
    if array.shape[0] < 2 or array.shape[1] < 2:
        raise InvalidInputError(f"image is too small ({array.shape[0]}x{array.shape[1]} pixels)", source)
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if np.issubdtype(array.dtype, np.floating) and np.nanmax(array) <= 1.0:
        return (np.clip(np.nan_to_num(array), 0, 1) * 255).round().astype(np.uint8)
    if array.dtype == np.uint16:
        return (array // 257).astype(np.uint8)
    raise InvalidInputError(f"unsupported RGB pixel type {array.dtype} (expected uint8, uint16 or float 0..1)",
                            source)


def stain_channels(rgb: np.ndarray, sigma: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Haematoxylin and DAB optical densities ``(h, dab)`` (rgb2hed units), optionally Gaussian-smoothed."""
    from skimage.color import rgb2hed
    from skimage.filters import gaussian

    hed = rgb2hed(rgb)
    h, dab = hed[..., 0], hed[..., 2]
    if sigma > 0:
        h, dab = gaussian(h, sigma), gaussian(dab, sigma)
    return h, dab


def hematoxylin_only_rgb(rgb: np.ndarray) -> np.ndarray:
    """Re-render an IHC image with its DAB (and eosin) removed: what the haematoxylin alone looks like."""
    from skimage.color import hed2rgb, rgb2hed

    hed = rgb2hed(rgb)
    hed[..., 1:] = 0
    return (np.clip(hed2rgb(hed), 0, 1) * 255).round().astype(np.uint8)


def _hematoxylin_threshold(h: np.ndarray, dab: np.ndarray, config: Ki67Config) -> float:
    """Otsu on the haematoxylin of DAB-free pixels, clipped at its 99th percentile, with a floor."""
    from skimage.filters import threshold_otsu

    if config.hematoxylin_threshold is not None:
        return float(config.hematoxylin_threshold)
    values = h[dab <= config.dab_pixel_threshold]
    if values.size < 16 or float(values.max() - values.min()) < 1e-6:
        return max(float(h.max()) + 1.0, config.hematoxylin_floor)  # flat image: nothing is nuclear
    values = np.minimum(values, np.percentile(values, 99))  # a few near-black nuclei must not set it
    return max(float(threshold_otsu(values)), config.hematoxylin_floor)


def hematoxylin_threshold(images: list[np.ndarray], config: Ki67Config,
                          masks: list[np.ndarray] | None = None) -> float:
    """The nuclear haematoxylin threshold :func:`nuclear_foreground` would find on ``images`` pooled (RGB, e.g.
    tissue windows of a slide; only the pixels of ``masks`` when given), to fix it as
    ``config.hematoxylin_threshold`` for every block of that slide: a block that is mostly glass would otherwise
    set it between glass and tissue.

    Example:
        >>> hematoxylin_threshold([np.full((32, 32, 3), 255, np.uint8)], Ki67Config()) >= Ki67Config().hematoxylin_floor
        True
    """
    factor = _diameter(config) / REFERENCE_DIAMETER_PX
    channels = [stain_channels(as_rgb(image), config.smoothing_sigma * factor) for image in images]
    keep = [np.ones(c[0].shape, bool) for c in channels] if masks is None else [np.asarray(m, bool) for m in masks]
    h = np.concatenate([c[0][k] for c, k in zip(channels, keep)])
    dab = np.concatenate([c[1][k] for c, k in zip(channels, keep)])
    return _hematoxylin_threshold(h, dab, config.replace(hematoxylin_threshold=None))


def _diameter(config: Ki67Config) -> float:
    return float(config.nucleus_diameter_px or REFERENCE_DIAMETER_PX)


def measure_nucleus_diameter(rgb: np.ndarray, config: Ki67Config) -> float | None:
    """The nuclei's area-weighted median diameter (pixels) in the central window of ``rgb`` by granulometry of
    the stained-nucleus mask (see :mod:`.scale`); None when nothing is stained."""
    y0, x0 = max(0, (rgb.shape[0] - WINDOW_PX) // 2), max(0, (rgb.shape[1] - WINDOW_PX) // 2)
    h, dab = stain_channels(rgb[y0:y0 + WINDOW_PX, x0:x0 + WINDOW_PX], 1.0)
    mask = stained_nucleus_mask(h, dab, _hematoxylin_threshold(h, dab, config),
                                config.dab_pixel_threshold if config.dab_in_nuclear_mask else None)
    return granulometry_diameter(mask)


def nuclear_foreground(rgb: np.ndarray, config: Ki67Config) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mask, h, dab)``: stained-nucleus pixels (haematoxylin or DAB above threshold), smoothed channels.

    The smoothing and the opening scale with ``nucleus_diameter_px`` (as tuned at 20 px)."""
    from scipy import ndimage as ndi
    from skimage.morphology import disk, remove_small_objects

    factor = _diameter(config) / REFERENCE_DIAMETER_PX
    h, dab = stain_channels(rgb, config.smoothing_sigma * factor)
    mask = h > _hematoxylin_threshold(h, dab, config)
    if config.dab_in_nuclear_mask:
        mask |= dab > config.dab_pixel_threshold
    mask = ndi.binary_fill_holes(ndi.binary_opening(mask, disk(max(1, round(2 * factor)))))
    min_area = int(0.15 * math.pi * (_diameter(config) / 2) ** 2)
    return remove_small_objects(mask, max_size=min_area), h, dab


def detect_nuclei(rgb: np.ndarray, config: Ki67Config) -> tuple[np.ndarray, np.ndarray]:
    """Nucleus instances ``[y, x]`` int32 (0 = background) and the raw DAB optical density.

    Foreground by thresholding haematoxylin (Otsu over DAB-free pixels, with a floor) or DAB; touching nuclei are split by
    a watershed on the smoothed distance transform seeded at its peaks (peaks at least
    0.35 x ``nucleus_diameter_px`` apart).
    """
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max
    from skimage.filters import gaussian
    from skimage.measure import label
    from skimage.segmentation import watershed

    mask, _, _ = nuclear_foreground(rgb, config)
    _, dab_raw = stain_channels(rgb)
    if not mask.any():
        return np.zeros(mask.shape, np.int32), dab_raw
    dist = gaussian(ndi.distance_transform_edt(mask), 1.0)
    peaks = peak_local_max(dist, min_distance=max(3, int(0.35 * _diameter(config))),
                           labels=label(mask), exclude_border=False)
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-dist, markers, mask=mask).astype(np.int32), dab_raw


@dataclass
class CellTable:
    """One row per nucleus: id, centroid ``(x, y)``, area (px), mean DAB and the call (1 pos, 0 neg)."""

    ids: np.ndarray
    x: np.ndarray
    y: np.ndarray
    area: np.ndarray
    mean_dab: np.ndarray
    positive: np.ndarray

    def __len__(self) -> int:
        return int(self.ids.size)

    def rows(self) -> list[dict[str, Any]]:
        return [{"cell_id": int(i), "x": round(float(x), 2), "y": round(float(y), 2), "area_px": int(a),
                 "mean_dab_od": round(float(d), 5), "call": "positive" if p else "negative"}
                for i, x, y, a, d, p in zip(self.ids, self.x, self.y, self.area, self.mean_dab, self.positive)]


def call_cells(labels: np.ndarray, dab: np.ndarray, threshold: float) -> CellTable:
    """Per-nucleus mean DAB and the positive call (mean DAB > ``threshold``)."""
    from scipy import ndimage as ndi

    ids = np.unique(labels)
    ids = ids[ids > 0]
    if ids.size == 0:
        empty = np.zeros(0)
        return CellTable(ids.astype(np.int64), empty, empty, empty.astype(np.int64), empty, empty.astype(bool))
    area = np.asarray(ndi.sum(np.ones_like(labels), labels, ids), dtype=np.int64)
    centroids = np.asarray(ndi.center_of_mass(np.ones_like(labels), labels, ids), dtype=float).reshape(-1, 2)
    mean_dab = np.asarray(ndi.mean(dab, labels, ids), dtype=float)
    return CellTable(ids.astype(np.int64), centroids[:, 1], centroids[:, 0], area, mean_dab, mean_dab > threshold)


def three_value_map(rgb: np.ndarray, config: Ki67Config) -> np.ndarray:
    """uint8 map: 0 negative, 1 positive, 2 background (the notebook's class order).

    ``deconvolution``: nuclear foreground (see :func:`nuclear_foreground`); positive where the smoothed
    DAB exceeds ``dab_threshold``, negative elsewhere in the foreground. ``channel_filter``: the public
    notebook's BGR ranges (positive wins where both match).
    """
    out = np.full(rgb.shape[:2], BACKGROUND, np.uint8)
    if config.ihc_map_mode == "channel_filter":
        red, blue = rgb[..., 0].astype(int), rgb[..., 2].astype(int)
        negative = (blue >= config.filter_negative_min_blue) & (red <= config.filter_negative_max_red)
        positive = blue <= config.filter_positive_max_blue
    else:
        mask, _, dab = nuclear_foreground(rgb, config)
        positive = mask & (dab > config.dab_threshold)
        negative = mask & ~positive
    out[negative] = NEGATIVE
    out[positive] = POSITIVE
    return out


def area_indices(class_map: np.ndarray) -> dict[str, float | None]:
    """Dpos = Spos/S_ROI, Dneg = Sneg/S_ROI, Rpos = Spos/(Spos+Sneg) (None when there is no cell area)."""
    class_map = np.asarray(class_map)
    total = class_map.size
    if total == 0:
        raise InvalidInputError("class map is empty")
    s_pos, s_neg = int((class_map == POSITIVE).sum()), int((class_map == NEGATIVE).sum())
    return {"Dpos": s_pos / total, "Dneg": s_neg / total,
            "Rpos": s_pos / (s_pos + s_neg) if s_pos + s_neg else None}


@dataclass
class IHCResult:
    """Everything the quantifier measured on one image."""

    class_map: np.ndarray
    indices: dict[str, float | None]
    labels: np.ndarray
    cells: CellTable
    scale: NucleusScale | None = None

    @property
    def n_cells(self) -> int:
        return len(self.cells)

    @property
    def n_positive(self) -> int:
        return int(self.cells.positive.sum())

    @property
    def labelling_index(self) -> float | None:
        """Positive nuclei / all nuclei in percent (None without nuclei)."""
        return 100.0 * self.n_positive / self.n_cells if self.n_cells else None

    def summary(self) -> dict[str, Any]:
        return {**self.indices, "n_cells": self.n_cells, "n_positive": self.n_positive,
                "n_negative": self.n_cells - self.n_positive, "labelling_index_pct": self.labelling_index,
                "median_cell_diameter_px": self.median_diameter_px,
                **(self.scale.to_dict() if self.scale is not None else {})}

    @property
    def median_diameter_px(self) -> float | None:
        """Median equivalent-circle diameter of the detected cells (None without cells)."""
        if not self.n_cells:
            return None
        return round(float(np.median(2.0 * np.sqrt(self.cells.area / math.pi))), 1)


def nucleus_scale_warning(result: IHCResult, config: Ki67Config) -> str | None:
    """A warning when the detected "cells" are not nucleus-sized for ``nucleus_diameter_px`` (a wrong scale
    makes gland-sized or fragment-sized "cells" and an unreliable labelling index), else None.

    Example:
        >>> r = IHCResult(np.zeros((4, 4), np.uint8), {}, np.zeros((4, 4), np.int32),
        ...               CellTable(np.array([1]), np.array([1.0]), np.array([1.0]), np.array([2000]),
        ...                         np.array([0.1]), np.array([True])))
        >>> "nucleus_diameter_px" in nucleus_scale_warning(r, Ki67Config(nucleus_diameter_px=20.0))
        True
    """
    median = result.median_diameter_px
    expected = result.scale.diameter_px if result.scale is not None else _diameter(config)
    if median is None or 0.5 * expected <= median <= 1.8 * expected:
        return None
    return (f"detected cells have a median diameter of {median:.0f} px against the expected {expected:.0f} px: "
            f"the nuclei look implausible and the labelling index is unreliable; set nucleus_diameter_px to "
            f"the nuclei's size at this magnification (about 7 um / pixel size in um)")


def nucleus_scale_of(rgb: np.ndarray, config: Ki67Config, pixel_size: float | None = None
                     ) -> tuple[NucleusScale, Ki67Config]:
    """The nucleus scale of one image and the config to quantify it with (its diameter filled in).

    With the diameter measured (``nucleus_diameter_px`` null) and DAB allowed in the nuclear mask: when the
    stained objects with DAB are more than twice the haematoxylin nuclei, the DAB is not confined to nuclei
    (a cytoplasmic or membrane stain, not Ki-67); nuclei then come from the haematoxylin alone, with a warning.
    """
    lo, hi = PLAUSIBLE_DIAMETER_PX
    measured = measure_nucleus_diameter(rgb, config)
    note = None
    if config.nucleus_diameter_px is None and config.dab_in_nuclear_mask:
        h_only = measure_nucleus_diameter(rgb, config.replace(dab_in_nuclear_mask=False))
        if h_only is not None and lo <= h_only <= hi and (measured is None or measured > 2 * h_only):
            note = (f"DAB-stained objects measure about {measured or 0:.0f} px against {h_only:.0f} px haematoxylin "
                    f"nuclei: the DAB is not confined to nuclei (cytoplasm or membrane, not a Ki-67-like nuclear "
                    f"stain); nuclei were found on the haematoxylin alone")
            config, measured = config.replace(dab_in_nuclear_mask=False), h_only
    scale = resolve_nucleus_scale(measured, pixel_size, config.nucleus_diameter_px)
    if note:
        scale.warning = note if scale.warning is None else f"{note}; {scale.warning}"
    return scale, config.replace(nucleus_diameter_px=scale.diameter_px)


def pixel_size_um(image: Any) -> float | None:
    """The pixel size in microns of an ``Image`` whose spacing is in microns (else None)."""
    spacing = getattr(image, "spacing", None)
    if not spacing or getattr(image, "spacing_unit", "pixel") not in ("um", "µm", "micron"):
        return None
    return float(np.mean([float(s) for s in spacing[:2]]))


def quantify_ihc(image: Any, config: Ki67Config | None = None, source: str | Path | None = None) -> IHCResult:
    """Run the whole IHC quantification on an RGB image (array or ``Image``).

    The nucleus diameter is ``config.nucleus_diameter_px`` when set, else measured on the image (or taken
    from an ``Image``'s pixel size in microns when the measurement fails); ``result.scale`` says which."""
    config = config or Ki67Config()
    rgb = as_rgb(getattr(image, "array", image), source)
    scale, config = nucleus_scale_of(rgb, config, pixel_size_um(image))
    class_map = three_value_map(rgb, config)
    labels, dab = detect_nuclei(rgb, config)
    return IHCResult(class_map, area_indices(class_map), labels, call_cells(labels, dab, config.dab_threshold),
                     scale)
