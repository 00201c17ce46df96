"""Reading vessel images: 2-D of any bit depth, Z-stacks (max projection), pixel size, field-of-view mask,
and the network's input (one channel, vessels bright, optional CLAHE, values in [0, 1]).

Bad inputs raise :class:`biomedai.errors.InvalidInputError` naming the file (issue 19, "Bad input").
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

logger = logging.getLogger(__name__)

_CHANNELS = {"red": 0, "green": 1, "blue": 2}


@dataclass
class VesselImage:
    """One 2-D vessel image ready for analysis.

    ``plane`` is float32 in [0, 1] (one channel, as read: not inverted); ``pixel_size_um`` is None when
    neither the file nor the user gave one (lengths then stay in pixels); ``notes`` lists every fallback.
    """

    path: Path
    plane: np.ndarray
    pixel_size_um: float | None
    pixel_size_source: str
    fov: np.ndarray
    notes: list[str] = field(default_factory=list)
    n_slices: int = 1

    @property
    def length_unit(self) -> str:
        return "mm" if self.pixel_size_um else "px"

    @property
    def density_unit(self) -> str:
        return "mm/mm^2" if self.pixel_size_um else "px/px^2"


def to_unit_range(array: np.ndarray, path: Path | str = "") -> np.ndarray:
    """Scale any integer or float image to float32 [0, 1] by its dtype range (floats: by min/max)."""
    a = np.asarray(array)
    if a.dtype == bool:
        return a.astype(np.float32)
    if np.issubdtype(a.dtype, np.integer):
        info = np.iinfo(a.dtype)
        top = float(a.max()) if a.size else 0.0
        # 16-bit microscopy often uses 12 bits: scale by the data's own maximum then, not by 65535
        scale = float(info.max) if top > info.max / 16 or info.max <= 255 else top
        return (a.astype(np.float32) - min(info.min, 0)) / max(scale, 1.0)
    a = a.astype(np.float32)
    if not np.all(np.isfinite(a)):
        raise InvalidInputError("image has NaN or infinite values", path)
    lo, hi = float(a.min()), float(a.max())
    return np.zeros_like(a) if hi <= lo else (a - lo) / (hi - lo)


def single_channel(array: np.ndarray, channel: str, path: Path | str = "", had_alpha: bool = False) -> np.ndarray:
    """One plane from a grey or colour array (``[y, x]`` or ``[y, x, c]``); alpha is dropped (noted by caller)."""
    a = np.asarray(array)
    if a.ndim == 2:
        return a
    if a.ndim != 3 or a.shape[-1] not in (1, 2, 3, 4):
        raise InvalidInputError(f"expected a 2-D grey or colour image, got shape {a.shape}", path)
    if a.shape[-1] in (2, 4) or had_alpha:
        a = a[..., :-1] if a.shape[-1] in (2, 4) else a
    if a.shape[-1] == 1:
        return a[..., 0]
    if channel == "luminance":
        return (a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114).astype(np.float32)
    return a[..., _CHANNELS[channel]]


def max_projection(stack: np.ndarray) -> np.ndarray:
    """Maximum-intensity projection along the first (z) axis, as the paper's ImageJ macro does."""
    return np.asarray(stack).max(axis=0)


def read_fov_mask(path: Path | str, shape: tuple[int, int]) -> np.ndarray:
    """A field-of-view mask (any non-zero pixel is inside); refuses a mask of another size."""
    from biomedai.io import read_image

    path = Path(path)
    img = read_image(path)
    mask = np.asarray(img.array)
    if mask.ndim == 3 and img.channel_axis is not None:
        mask = mask.max(axis=-1)
    if mask.shape != tuple(shape):
        raise InvalidInputError(f"field-of-view mask is {mask.shape[1]}x{mask.shape[0]} pixels but the image is "
                                f"{shape[1]}x{shape[0]}", path)
    fov = mask > 0
    if not fov.any():
        raise InvalidInputError("field-of-view mask is empty (all zero)", path)
    return fov


def _pixel_size_from_metadata(img: Any) -> float | None:
    """Micrometres per pixel from the file (x spacing), or None when the file carries none."""
    unit = getattr(img, "spacing_unit", "pixel")
    spacing = getattr(img, "spacing", None)
    if spacing and unit in ("um", "mm") and spacing[-1] > 0:
        return float(spacing[-1]) * (1000.0 if unit == "mm" else 1.0)
    mpp = (img.metadata or {}).get("microns_per_pixel") or (img.metadata or {}).get("mpp")
    if isinstance(mpp, (int, float)) and mpp > 0:
        return float(mpp)
    return None


def load_vessel_image(path: Path | str, *, channel: str = "green", pixel_size_um: float | None = None,
                      fov_mask: Path | str | None = None) -> VesselImage:
    """Read a 2-D image or Z-stack (PNG/TIFF/any reader of :mod:`biomedai.io`) for vessel analysis.

    A stack is max-projected; colour takes ``channel``; alpha is dropped (noted); any bit depth is scaled to
    [0, 1]. ``pixel_size_um`` overrides the file's; with neither, lengths stay in pixels (noted).
    An all-black (constant) image is refused.
    """
    from biomedai.io import read_image

    path = Path(path)
    img = read_image(path)
    notes: list[str] = []
    array = np.asarray(img.array)
    n_slices = 1
    had_alpha = bool(img.metadata.get("had_alpha"))
    if had_alpha:
        notes.append("alpha channel dropped")
    spatial = img.ndim_spatial
    if spatial == 3:
        n_slices = int(array.shape[0])
        array = max_projection(array)
        notes.append(f"Z-stack of {n_slices} slices: maximum-intensity projection")
    elif spatial != 2:
        raise InvalidInputError(f"expected a 2-D image or a Z-stack, got shape {array.shape}", path)
    if img.channel_axis is not None and array.ndim == 3 and array.shape[-1] in (2, 4):
        notes.append("alpha channel dropped")
        had_alpha = True
    plane = to_unit_range(single_channel(array, channel, path, had_alpha), path)
    if float(plane.max()) - float(plane.min()) < 1e-6:
        raise InvalidInputError("image is constant (e.g. all black): no vessels can be measured", path)
    source = "--pixel-size-um"
    size = pixel_size_um
    if size is None:
        size = _pixel_size_from_metadata(img)
        source = "file metadata" if size else "none"
    if size is None:
        notes.append("no pixel size: lengths in pixels and density in px/px^2")
    fov = np.ones(plane.shape, bool) if fov_mask is None else read_fov_mask(fov_mask, plane.shape)
    return VesselImage(path=path, plane=plane.astype(np.float32), pixel_size_um=size, pixel_size_source=source,
                       fov=fov, notes=notes, n_slices=n_slices)


def network_input(plane: np.ndarray, fov: np.ndarray | None = None, *, vessels_dark: bool = True,
                  clahe: bool = True, clip_limit: float = 0.01) -> np.ndarray:
    """The segmentation network's input: vessels bright, contrast-stretched inside the FOV, optional CLAHE.

    Example:
        >>> x = network_input(np.linspace(0, 1, 64 * 64).reshape(64, 64))
        >>> x.dtype, float(x.min()) >= 0, float(x.max()) <= 1
        (dtype('float32'), True, True)
    """
    from skimage.exposure import equalize_adapthist

    x = np.asarray(plane, np.float32)
    if vessels_dark:
        x = 1.0 - x
    inside = x[fov] if fov is not None and fov.any() else x.ravel()
    lo, hi = np.percentile(inside, [0.5, 99.5])
    x = np.clip((x - lo) / max(hi - lo, 1e-6), 0, 1)
    if fov is not None:
        x = np.where(fov, x, 0.0)
    if clahe:
        x = equalize_adapthist(x, clip_limit=clip_limit)
    return x.astype(np.float32)
