"""Axial and coronal pictures: lobe (or lung) colours and lesion contours (red) over a lung window."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from biomedai.viz import overlay_labels, save_png, to_display

LUNG_WINDOW = (-600.0, 1500.0)


def _panel(hu_plane: np.ndarray, regions: np.ndarray, lesion: np.ndarray, aspect: float = 1.0) -> np.ndarray:
    from skimage.segmentation import find_boundaries
    from skimage.transform import resize

    picture = to_display(hu_plane, window=LUNG_WINDOW)
    rgb = overlay_labels(picture, regions.astype(np.int32), alpha=0.25, outline=False)
    edges = find_boundaries(lesion, mode="inner")
    rgb[edges] = (255, 0, 0)
    if abs(aspect - 1.0) > 0.05:
        shape = (max(int(round(rgb.shape[0] * aspect)), 1), rgb.shape[1])
        rgb = (resize(rgb, shape, order=0, preserve_range=True, anti_aliasing=False)).astype(np.uint8)
    return rgb


def overlay_figure(hu: np.ndarray, spacing: tuple[float, ...], regions: np.ndarray, lesion: np.ndarray,
                   path: str | Path) -> Path:
    """Three axial slices (25/50/75 % of the lung height) and one coronal slice side by side in one PNG."""
    zs = np.flatnonzero(regions.any(axis=(1, 2)))
    if zs.size == 0:
        zs = np.arange(hu.shape[0])
    picks = sorted({int(zs[int(q * (zs.size - 1))]) for q in (0.25, 0.5, 0.75)})
    panels = [_panel(hu[z], regions[z], lesion[z]) for z in picks]
    if hu.shape[0] > 1:
        ys = np.flatnonzero(regions.any(axis=(0, 2)))
        y = int(ys[ys.size // 2]) if ys.size else hu.shape[1] // 2
        coronal = _panel(hu[::-1, y, :], regions[::-1, y, :], lesion[::-1, y, :], aspect=spacing[0] / spacing[2])
        panels.append(coronal)
    height = max(p.shape[0] for p in panels)
    padded = [np.pad(p, ((0, height - p.shape[0]), (0, 4), (0, 0))) for p in panels]
    return save_png(np.concatenate(padded, axis=1), path)
