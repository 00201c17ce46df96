"""The pictures and tables surgeons and engineers look at: contour maps, colour-block force maps,
stiffness distribution maps and wave diagrams (PNG), and maps as CSV."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from biomedai.utils import atomic_path, write_text_atomic


def _figure(width: float = 5.0, height: float = 4.0):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, plt.figure(figsize=(width, height), dpi=100)


def _save(plt, fig, path: Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    plt.close(fig)
    return path


def pressure_contour_png(force_map: np.ndarray, path: Path, title: str, pitch_mm: float = 1.0,
                         unit: str = "N") -> Path:
    """A colour contour map of the pressure distribution (Trejos 2009's tumour contour map)."""
    plt, fig = _figure()
    ax = fig.add_subplot(111)
    rows, cols = force_map.shape
    x = (np.arange(cols) - (cols - 1) / 2) * pitch_mm
    y = (np.arange(rows) - (rows - 1) / 2) * pitch_mm
    data = np.nan_to_num(force_map, nan=float(np.nanmin(force_map)))
    if rows > 1 and cols > 1 and np.ptp(data) > 0:
        filled = ax.contourf(x, y, data, levels=12, cmap="viridis")
        ax.contour(x, y, data, levels=12, colors="k", linewidths=0.3)
    else:
        filled = ax.imshow(data, cmap="viridis", origin="lower")
    fig.colorbar(filled, ax=ax, label=unit)
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    return _save(plt, fig, path)


def force_blocks_png(force_map: np.ndarray, path: Path, title: str, thresholds: Sequence[float] = (0.4, 0.8),
                     flags: np.ndarray | None = None) -> Path:
    """Colour blocks by force value (Xie 2013 Figure 8) with the values written in; flagged blocks outlined."""
    plt, fig = _figure()
    ax = fig.add_subplot(111)
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Rectangle

    top = max(float(np.nanmax(force_map)), thresholds[-1] * 1.25)
    bounds = [0.0, *thresholds, top]
    cmap = ListedColormap(["#2c7bb6", "#fdae61", "#d7191c"][: len(bounds) - 1])
    image = ax.imshow(force_map, cmap=cmap, norm=BoundaryNorm(bounds, cmap.N), origin="lower")
    rows, cols = force_map.shape
    if rows * cols <= 400:
        for i in range(rows):
            for j in range(cols):
                ax.text(j, i, f"{force_map[i, j]:.2f}", ha="center", va="center", fontsize=6, color="w")
    if flags is not None:
        for i, j in np.argwhere(flags):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="k", linewidth=1.5))
    fig.colorbar(image, ax=ax, label="N", ticks=bounds)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    return _save(plt, fig, path)


def stiffness_maps_png(maps: Mapping[str, np.ndarray], path: Path, title: str,
                       units: Mapping[str, str] | None = None) -> Path:
    """Stiffness distribution maps side by side (subtraction and force/displacement ratio)."""
    plt, fig = _figure(4.5 * len(maps), 4.0)
    for k, (name, data) in enumerate(maps.items(), start=1):
        ax = fig.add_subplot(1, len(maps), k)
        image = ax.imshow(data, cmap="magma", origin="lower")
        fig.colorbar(image, ax=ax, label=(units or {}).get(name, ""))
        ax.set_title(name, fontsize=9)
    fig.suptitle(title, fontsize=9)
    return _save(plt, fig, path)


def wave_diagram_png(times_s: np.ndarray, waves: np.ndarray, labels: Sequence[str], path: Path, title: str,
                     unit: str = "N") -> Path:
    """The tactile wave diagram: one trace per sensing element, offset vertically (Wang 2016)."""
    plt, fig = _figure(6.0, max(3.0, 0.18 * waves.shape[1] + 1))
    ax = fig.add_subplot(111)
    # each trace relative to its own minimum, stacked one largest swing apart
    relative = waves - np.nanmin(waves, axis=0)
    span = float(np.nanmax(relative)) or 1.0
    for k in range(waves.shape[1]):
        ax.plot(times_s, relative[:, k] + k * span, lw=0.8)
    step = max(1, waves.shape[1] // 16)
    ax.set_yticks([k * span for k in range(0, waves.shape[1], step)])
    ax.set_yticklabels([labels[k] for k in range(0, waves.shape[1], step)], fontsize=6)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"element (each trace from its minimum; spacing {span:.3g} {unit})")
    ax.set_title(title, fontsize=9)
    return _save(plt, fig, path)


def truth_vs_estimate_png(truth: np.ndarray, estimate: np.ndarray, names: Sequence[str], path: Path,
                          title: str) -> Path:
    """Scatter plots of estimate against truth, one panel per quantity, identity line drawn."""
    plt, fig = _figure(4.0 * len(names), 3.8)
    for k, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), k + 1)
        ax.scatter(truth[:, k], estimate[:, k], s=6, alpha=0.6)
        lo, hi = float(min(truth[:, k].min(), estimate[:, k].min())), float(max(truth[:, k].max(),
                                                                                 estimate[:, k].max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel(f"true {name}")
        ax.set_ylabel(f"estimated {name}")
    fig.suptitle(title, fontsize=9)
    return _save(plt, fig, path)


def map_csv(force_map: np.ndarray, path: Path, fmt: str = "{:.5g}") -> Path:
    """A map as CSV: one line per row, row 0 first."""
    lines = [",".join("" if np.isnan(v) else fmt.format(v) for v in row) for row in np.asarray(force_map, float)]
    return write_text_atomic(path, "\n".join(lines) + "\n")
