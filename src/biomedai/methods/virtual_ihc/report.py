"""Pictures of a virtual-IHC run: the side-by-side figure (H&E | synthetic Ki-67 | real Ki-67) and the
per-tile tumour-probability heat map (red = tumour, blue = normal, as the paper's Figs 7-8).

Example:
    >>> probability_heatmap(np.array([[0.0, 1.0]]), scale=2).shape
    (2, 4, 3)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def probability_heatmap(probabilities: np.ndarray, scale: int = 8) -> np.ndarray:
    """RGB uint8: blue (P(tumour) = 0) to red (1), grey where no tile was scored (NaN); each tile ``scale`` px."""
    p = np.asarray(probabilities, float)
    rgb = np.zeros(p.shape + (3,), np.uint8)
    valid = np.isfinite(p)
    q = np.clip(np.where(valid, p, 0), 0, 1)
    rgb[..., 0] = (255 * q).round()
    rgb[..., 2] = (255 * (1 - q)).round()
    rgb[~valid] = 128
    return np.repeat(np.repeat(rgb, scale, 0), scale, 1)


def side_by_side_figure(path: Path, he: np.ndarray, synthetic: np.ndarray, real: np.ndarray | None,
                        synthetic_ratio: float | None, real_ratio: float | None, note: str = "") -> Path:
    """Save the figure H&E | synthetic Ki-67 (| real Ki-67) with the positive-cell ratio of each IHC panel."""
    from biomedai.viz import pyplot, save_figure

    plt = pyplot()
    panels = [("H&E input", he), (f"synthetic Ki-67, positive ratio {_fmt(synthetic_ratio)}", synthetic)]
    if real is not None:
        panels.append((f"real Ki-67, positive ratio {_fmt(real_ratio)}", real))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.6))
    for ax, (title, image) in zip(np.atleast_1d(axes), panels):
        ax.imshow(image)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    if note:
        fig.suptitle(note, fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def _fmt(value: float | None) -> str:
    return "n/a (no nuclei found)" if value is None else f"{value:.3f}"
