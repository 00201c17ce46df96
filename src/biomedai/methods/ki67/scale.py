"""The nucleus scale of an IHC image: measured from the image by a granulometry, or from the pixel size.

The nucleus detector (:mod:`.ihc`) needs the nuclei's diameter in pixels. Set by hand
(``nucleus_diameter_px``) it made the same sample give different labelling indices in the demo and the
service; at a wrong value it reports gland-sized or fragment-sized "cells". With
``nucleus_diameter_px: null`` (the default) the diameter is measured on each image:

* :func:`granulometry_diameter` - openings of the stained-nucleus mask by disks of growing radius (computed
  with two Euclidean distance transforms per radius); the diameter at which half the stained area is gone
  is the area-weighted median nucleus diameter. An opening keeps a cluster of touching nuclei as long as
  each nucleus holds the disk, so clusters do not inflate it (unlike component areas), and it scales with
  the image: the same image resized x0.5 or x2 gives half or twice the diameter.
* the file's pixel size (microns) gives ``NUCLEUS_DIAMETER_UM / pixel size`` when the image estimate fails.

On the two DeepLIIF training tiles (40x) it gives 21.3 and 20.3 px, close to the hand-set default it
replaces (20 px); on the four DeepLIIF test tiles 20.7-29.0 px against 24.7-29.2 px median equivalent
diameters of the annotated nuclei (``benchmarks/quality/ki67/nucleus_scale_results.json``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: typical nucleus diameter in microns (lymphocytes ~7, tumour nuclei 8-12): used only with a pixel size
NUCLEUS_DIAMETER_UM = 7.0
#: diameters outside this range (pixels) are not nuclei at any usable magnification: warn and fall back
PLAUSIBLE_DIAMETER_PX = (4.0, 80.0)
#: the central window (pixels per side) the granulometry measures; nuclei are far smaller
WINDOW_PX = 768


@dataclass
class NucleusScale:
    """The nucleus diameter used (pixels), where it came from and any warning about it."""

    diameter_px: float
    source: str
    measured_px: float | None = None
    from_pixel_size_px: float | None = None
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"nucleus_diameter_px": round(self.diameter_px, 1), "nucleus_scale_source": self.source,
                "nucleus_diameter_measured_px": None if self.measured_px is None else round(self.measured_px, 1)}


def granulometry_diameter(mask: np.ndarray, max_radius: float = 60.0, n_radii: int = 40) -> float | None:
    """Area-weighted median diameter (pixels) of the objects of a binary mask by granulometry.

    Example:
        >>> yy, xx = np.mgrid[:200, :200]
        >>> mask = np.zeros((200, 200), bool)
        >>> for cy in range(20, 200, 40):
        ...     for cx in range(20, 200, 40):
        ...         mask |= (yy - cy) ** 2 + (xx - cx) ** 2 <= 10 ** 2
        >>> round(granulometry_diameter(mask))
        20
    """
    from scipy import ndimage as ndi

    mask = np.asarray(mask, bool)
    total = int(mask.sum())
    if total == 0:
        return None
    inside = ndi.distance_transform_edt(mask)
    radii = np.geomspace(0.5, max_radius, n_radii)
    remaining = np.empty(n_radii)
    for i, r in enumerate(radii):
        centres = inside >= r
        if not centres.any():
            remaining[i:] = 0.0
            break
        opened = ndi.distance_transform_edt(~centres) <= r
        remaining[i] = float((opened & mask).sum()) / total
    if remaining[-1] >= 0.5:
        return float(2 * max_radius)
    # remaining falls from ~1 to 0 as r grows; the radius where half the area is gone
    return float(2 * np.interp(0.5, remaining[::-1], radii[::-1]))


def stained_nucleus_mask(h: np.ndarray, dab: np.ndarray, h_threshold: float, dab_threshold: float | None) -> np.ndarray:
    """Pixels over the haematoxylin threshold (or the DAB one, when DAB marks nuclei), holes filled; no
    scale-dependent cleaning, so the granulometry sees the same shapes at every magnification."""
    from scipy import ndimage as ndi

    mask = h > h_threshold
    if dab_threshold is not None:
        mask |= dab > dab_threshold
    return ndi.binary_fill_holes(mask)


def _central_window(array: np.ndarray, size: int = WINDOW_PX) -> np.ndarray:
    y0 = max(0, (array.shape[0] - size) // 2)
    x0 = max(0, (array.shape[1] - size) // 2)
    return array[y0:y0 + size, x0:x0 + size]


def resolve_nucleus_scale(measured_px: float | None, pixel_size_um: float | None,
                          configured_px: float | None) -> NucleusScale:
    """The diameter to use: the configured one if set, else the measured one if plausible, else the one from
    the pixel size, else the DeepLIIF 40x default (20 px) with a warning. Disagreements are warned about."""
    lo, hi = PLAUSIBLE_DIAMETER_PX
    from_um = NUCLEUS_DIAMETER_UM / pixel_size_um if pixel_size_um and pixel_size_um > 0 else None
    if configured_px is not None:
        scale = NucleusScale(float(configured_px), "config (nucleus_diameter_px)", measured_px, from_um)
        if measured_px is not None and not 0.5 <= measured_px / configured_px <= 2.0:
            scale.warning = (f"nucleus_diameter_px is {configured_px:.0f} px but the nuclei measure about "
                             f"{measured_px:.0f} px in this image: check the setting (null measures it per image)")
        return scale
    plausible = measured_px is not None and lo <= measured_px <= hi
    if plausible:
        scale = NucleusScale(float(measured_px), "measured (granulometry)", measured_px, from_um)
        if from_um is not None and not 0.5 <= measured_px / from_um <= 2.0:
            scale.warning = (f"the stained objects measure {measured_px:.0f} px but the file's pixel size "
                             f"({pixel_size_um:g} um) implies {from_um:.0f} px nuclei: check the magnification")
        return scale
    seen = "no stained nuclei" if measured_px is None else f"stained objects of about {measured_px:.0f} px"
    if from_um is not None:
        return NucleusScale(from_um, "pixel size", measured_px, from_um,
                            f"{seen} (not nucleus-like): the nucleus size comes from the pixel size instead")
    return NucleusScale(20.0, "default (20 px, DeepLIIF 40x)", measured_px, None,
                        f"{seen} (not nucleus-like) and no pixel size: 20 px nuclei assumed; the labelling index "
                        f"is unreliable unless the image is at about 40x")
