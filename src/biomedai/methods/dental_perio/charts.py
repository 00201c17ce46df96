"""Pictures of the ABL measurement: the film with bone contour, bone lines and per-tooth d, and an odontogram of d.

:func:`draw_abl` follows the spec's ``visualize`` (4.9): bone contour, each tooth's bone line, its axis
from crown point to apex with the crossing marked, and the d value written next to the tooth.
:func:`odontogram` charts d per FDI position in the two arches (matplotlib, PNG).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

from .abl import LOWER_ARCH, UPPER_ARCH, ToothABL, is_upper

__all__ = ["draw_abl", "odontogram", "D_COLOURMAP"]

D_COLOURMAP = "RdYlGn_r"
_BONE = (60, 160, 255)
_LINE = (255, 220, 0)
_AXIS = (255, 80, 80)


def _colour(d: float) -> tuple[int, int, int]:
    from matplotlib import colormaps

    r, g, b, _ = colormaps[D_COLOURMAP](float(np.clip(d, 0, 1)))
    return int(r * 255), int(g * 255), int(b * 255)


def draw_abl(image: Any, abl: Mapping[int, ToothABL], bone_mask: np.ndarray | None = None) -> np.ndarray:
    """An RGB uint8 picture of the film with the bone contour and every tooth's bone line, axis and d.

    Example:
        >>> from biomedai.methods.dental_perio.synthetic import synthetic_panoramic
        >>> from biomedai.methods.dental_perio.abl import measure_abl
        >>> film = synthetic_panoramic(0, size=(128, 256))
        >>> draw_abl(film.image, measure_abl(film.tooth_masks(), film.bone_mask), film.bone_mask).shape
        (128, 256, 3)
    """
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageFont
    from skimage.segmentation import find_boundaries

    from biomedai.viz import to_display

    arr = np.asarray(image)
    picture = arr if arr.dtype == np.uint8 else to_display(arr)  # 8-bit films are shown as they are
    if picture.ndim == 2:
        picture = np.dstack([picture] * 3)
    if bone_mask is not None:
        bone = np.asarray(bone_mask, bool)
        if bone.shape != picture.shape[:2]:
            raise InvalidInputError(f"bone_mask: shape {bone.shape} differs from the image's {picture.shape[:2]}")
        picture = picture.copy()
        picture[find_boundaries(bone, mode="inner")] = _BONE
    canvas = PILImage.fromarray(np.ascontiguousarray(picture[..., :3]))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    scale = max(1, round(min(picture.shape[:2]) / 400))
    for fdi, r in sorted(abl.items()):
        (x1, y1), (x2, y2) = r.bone_points
        # extend the bone line a little past both crest points so that it is visible
        v = np.array([x2 - x1, y2 - y1])
        v = v / (np.hypot(*v) or 1.0) * 4 * scale
        draw.line([(x1 - v[0], y1 - v[1]), (x2 + v[0], y2 + v[1])], fill=_LINE, width=scale)
        draw.line([r.crown_point, r.apex], fill=_AXIS, width=scale)
        for point in (r.crown_point, r.apex, r.bone_crossing):
            px, py = point
            draw.ellipse([px - 1.5 * scale, py - 1.5 * scale, px + 1.5 * scale, py + 1.5 * scale], outline=_AXIS)
        text = f"{fdi}:{r.d:.2f}"
        tx, ty = r.apex
        ty = ty - 12 * scale if r.upper else ty + 2 * scale
        draw.text((tx - 3 * len(text) * scale / 2, max(0, ty)), text, fill=_colour(r.d), font=font)
    return np.asarray(canvas, dtype=np.uint8)


def odontogram(d_by_fdi: Mapping[int, float], path: str | Path, *, title: str = "Alveolar bone loss ratio d",
               imputed: Mapping[int, bool] | None = None) -> Path:
    """A PNG chart of d per tooth: upper arch (18..28) on top, lower (48..38) below, as on the film.

    Missing teeth are marked "x"; ``imputed`` (FDI -> bool) hatches bars whose value was imputed.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from biomedai.utils import atomic_path

    values = {}
    for fdi, d in d_by_fdi.items():
        is_upper(int(fdi))
        values[int(fdi)] = float(d)
    imputed = dict(imputed or {})
    fig, axes = plt.subplots(2, 1, figsize=(9, 4.2), sharey=False)
    for ax, arch, upper in ((axes[0], UPPER_ARCH, True), (axes[1], LOWER_ARCH, False)):
        xs = np.arange(len(arch))
        heights = [values.get(f, np.nan) for f in arch]
        colours = [_colour(h) if np.isfinite(h) else (200, 200, 200) for h in heights]
        bars = ax.bar(xs, [0 if not np.isfinite(h) else h for h in heights],
                      color=[tuple(c / 255 for c in col) for col in colours], edgecolor="black", linewidth=0.5)
        for x, f, h, bar in zip(xs, arch, heights, bars):
            if not np.isfinite(h):
                ax.text(x, 0.05, "x", ha="center", va="bottom", color="grey")
            elif imputed.get(f):
                bar.set_hatch("//")
        ax.set_xticks(xs, [str(f) for f in arch], fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_ylabel("d")
        if not upper:
            ax.invert_yaxis()  # lower teeth hang from the occlusal line, as on the film
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_title(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path
