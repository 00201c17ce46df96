"""Turning images and results into pictures people look at: display conversion, overlays, PNG and figure saving."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .utils import atomic_path

if TYPE_CHECKING:
    from .io.image import Image


def to_display(image: Image | np.ndarray, window: tuple[float, float] | None = None) -> np.ndarray:
    """An 8-bit picture of an image: the middle slice of a volume, windowed.

    ``window`` is (centre, width); without it a DICOM window from the metadata is used, else the
    0.5-99.5 percentile range. RGB uint8 images pass through unchanged.

    Example:
        >>> to_display(np.arange(12.0).reshape(3, 4)).dtype
        dtype('uint8')
    """
    from .io.image import Image

    meta = {}
    if isinstance(image, Image):
        meta = image.metadata
        array = image.array
        spatial = image.ndim_spatial
        rgb = image.channel_axis is not None
    else:
        array = np.asarray(image)
        rgb = array.ndim == 3 and array.shape[-1] in (3, 4)
        spatial = array.ndim - (1 if rgb else 0)
    while spatial > 2:
        array = array[array.shape[0] // 2]
        spatial -= 1
    if rgb:
        array = array[..., :3]
        if array.dtype == np.uint8:
            return np.ascontiguousarray(array)
    array = array.astype(np.float64)
    if window is None and "WindowCenter" in meta and "WindowWidth" in meta:
        window = (float(np.ravel(meta["WindowCenter"])[0]), float(np.ravel(meta["WindowWidth"])[0]))
    if window is not None:
        low, high = window[0] - window[1] / 2, window[0] + window[1] / 2
    else:
        finite = array[np.isfinite(array)]
        low, high = (np.percentile(finite, [0.5, 99.5]) if finite.size else (0.0, 1.0))
    if high <= low:
        high = low + 1.0
    scaled = np.clip((np.nan_to_num(array, nan=low) - low) / (high - low), 0, 1)
    return (scaled * 255).round().astype(np.uint8)


def overlay_labels(picture: np.ndarray, labels: np.ndarray, alpha: float = 0.35, outline: bool = True) -> np.ndarray:
    """Colour each labelled region (0 = background) over a picture; outlines drawn opaque."""
    from skimage.color import gray2rgb, label2rgb
    from skimage.segmentation import find_boundaries

    base = picture if picture.ndim == 3 else gray2rgb(picture)
    base = base[..., :3].astype(np.float64) / (255.0 if base.dtype == np.uint8 else max(base.max(), 1))
    labels = np.asarray(labels)
    if labels.shape != base.shape[:2]:
        raise ValueError(f"labels {labels.shape} and picture {base.shape[:2]} differ in size")
    coloured = label2rgb(labels, image=base, alpha=alpha, bg_label=0, image_alpha=1.0, kind="overlay")
    if outline:
        edges = find_boundaries(labels, mode="inner")
        edge_colours = label2rgb(labels, bg_label=0)
        coloured[edges] = edge_colours[edges]
    return (np.clip(coloured, 0, 1) * 255).round().astype(np.uint8)


def save_png(array: np.ndarray, path: str | Path) -> Path:
    """Save an 8-bit grey/RGB or 16-bit grey array as PNG, atomically."""
    from PIL import Image as PILImage

    path = Path(path)
    array = np.asarray(array)
    if array.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"save_png needs uint8 or uint16, got {array.dtype}; use to_display first")
    with atomic_path(path) as tmp:
        PILImage.fromarray(array).save(tmp, format="PNG")
    return path


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg back end (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, dpi: int = 110) -> Path:
    """Save a matplotlib figure as PNG atomically (``tight_layout`` first), close it, return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    pyplot().close(fig)
    return path
