"""The CD classes and the documented 8-class tissue palette (spec 2.2, Table 2), and mask colour <-> index.

Index 0 is our 8th class, "background" (outside the lens circle, unreadable dark, unlabelled; spec 2.10 #6);
1-7 are the seven named categories of the paper's Table 2 in its order.

Example:
    >>> import numpy as np
    >>> index = np.array([[0, 3], [7, 1]], np.uint8)
    >>> bool((rgb_to_index(index_to_rgb(index)) == index).all())
    True
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from biomedai.errors import InvalidInputError

CD_CLASSES: tuple[str, ...] = ("clear", "blur", "invisible")
TISSUE_CLASSES: tuple[str, ...] = ("background", "clear_tissue", "blur_tissue", "lesion", "hole",
                                   "invisible_bubble", "invisible_excreta", "clear_bubble")
#: RGB colour of each tissue class in index order (index PNGs may also be written directly)
PALETTE: np.ndarray = np.array([
    (0, 0, 0),          # background / unlabelled
    (230, 140, 120),    # clear tissue
    (150, 110, 160),    # blur tissue
    (255, 0, 0),        # lesion
    (40, 40, 200),      # hole (lumen)
    (120, 220, 255),    # invisible by bubble
    (140, 110, 20),     # invisible by excreta
    (255, 255, 120),    # clear bubble
], dtype=np.uint8)
#: which tissue classes count into the per-frame CSV's fractions (spec 2.9)
FRACTION_GROUPS: dict[str, tuple[int, ...]] = {
    "tissue": (1, 2, 3),          # every mucosa pixel, lesion included
    "lesion": (3,),
    "bubble": (5, 7),
    "excreta": (6,),
}


def index_to_rgb(index: np.ndarray) -> np.ndarray:
    """``[y, x]`` class indices -> ``[y, x, 3]`` uint8 palette colours."""
    index = np.asarray(index)
    if index.size and (index.min() < 0 or index.max() >= len(PALETTE)):
        raise InvalidInputError(f"class indices must be 0..{len(PALETTE) - 1}, got {index.min()}..{index.max()}")
    return PALETTE[index.astype(np.intp)]


def rgb_to_index(rgb: np.ndarray, source: str | Path = "mask", tolerance: int = 0) -> np.ndarray:
    """``[y, x, 3]`` palette colours -> ``[y, x]`` uint8 indices.

    A colour farther than ``tolerance`` (per channel) from every palette entry raises
    :class:`InvalidInputError` naming the file, the first such colours and how many pixels have them.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] < 3:
        raise InvalidInputError(f"a colour mask must be [y, x, 3], got shape {rgb.shape}", source)
    flat = rgb[..., :3].reshape(-1, 3).astype(np.int16)
    colours, inverse = np.unique(flat, axis=0, return_inverse=True)
    distance = np.abs(colours[:, None, :] - PALETTE[None].astype(np.int16)).max(-1)   # [colours, classes]
    nearest = distance.argmin(1)
    bad = distance.min(1) > tolerance
    if bad.any():
        counts = np.bincount(inverse.ravel(), minlength=len(colours))[bad]
        shown = ", ".join(f"{tuple(int(v) for v in c)}" for c in colours[bad][:5])
        raise InvalidInputError(f"{int(bad.sum())} colours outside the 8-class palette ({int(counts.sum())} pixels), "
                                f"e.g. {shown}; see capsule_mtcsn README 'Palette'", source)
    return nearest[inverse.ravel()].reshape(rgb.shape[:2]).astype(np.uint8)


def mask_to_index(array: np.ndarray, source: str | Path = "mask", ignore_index: int = 255) -> np.ndarray:
    """A mask as read from disk -> class indices: index masks (0..7, ``ignore_index`` kept) or palette RGB."""
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        return rgb_to_index(array, source)
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.integer):
        raise InvalidInputError(f"a mask must be an integer index image or a palette RGB image, got "
                                f"{array.shape} {array.dtype}", source)
    bad = (array >= len(TISSUE_CLASSES)) & (array != ignore_index)
    if bad.any():
        values = np.unique(array[bad])[:5].tolist()
        raise InvalidInputError(f"mask values {values} are not classes 0..{len(TISSUE_CLASSES) - 1} "
                                f"(or {ignore_index} = ignore)", source)
    return array.astype(np.uint8)


def class_fractions(index: np.ndarray) -> dict[str, float]:
    """Fraction of the frame in each group of :data:`FRACTION_GROUPS` (the CSV's %tissue, %lesion ...)."""
    index = np.asarray(index)
    counts = np.bincount(index.ravel().astype(np.intp), minlength=len(TISSUE_CLASSES))[:len(TISSUE_CLASSES)]
    total = max(int(index.size), 1)
    return {name: float(counts[list(ids)].sum()) / total for name, ids in FRACTION_GROUPS.items()}
