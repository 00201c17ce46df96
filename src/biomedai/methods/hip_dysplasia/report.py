"""Pictures and pages people look at: the film overlay with angle arcs, the 3-D model (the paper's Fig. 5),
the density-peak decision graph and a per-patient HTML report."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.htmlpage import HtmlPage
from biomedai.utils import atomic_path

CLASS_COLOURS = {"dysplasia": "#d62728", "borderline": "#e6b800", "normal": "#2ca02c", "outside": "#d62728"}
DISCLAIMER = ("Research software. Not a medical device; angles and classes must be checked by a clinician. "
              "The data-driven model is only as good as the cohort it was fitted on.")


def _figure(*args: Any, **kwargs: Any) -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.figure(*args, **kwargs)


def _save(fig: Any, path: str | Path, dpi: int = 110) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
    plt.close(fig)
    return path


def _arc(ax: Any, centre: Any, v1: Any, v2: Any, radius: float, colour: str, label: str) -> None:
    """An arc between two directions (pixel coordinates) with a label at its middle."""
    a1, a2 = math.atan2(v1[1], v1[0]), math.atan2(v2[1], v2[0])
    d = (a2 - a1 + math.pi) % (2 * math.pi) - math.pi
    t = np.linspace(a1, a1 + d, 30)
    c = np.asarray(centre, float)
    ax.plot(c[0] + radius * np.cos(t), c[1] + radius * np.sin(t), color=colour, lw=1.2)
    mid = a1 + d / 2
    ax.text(c[0] + 1.3 * radius * math.cos(mid), c[1] + 1.3 * radius * math.sin(mid), label, color="white",
            fontsize=6.5, ha="center", va="center", bbox=dict(facecolor="black", alpha=0.45, pad=1, lw=0))


def overlay_png(picture: np.ndarray, shapes: dict[str, Any], measurement: dict[str, Any], classes: dict[str, str],
                path: str | Path, title: str = "", spacing: tuple[float, float] = (1.0, 1.0)) -> Path:
    """The film with contours, head circles and centres, reference lines and labelled angle arcs per side.

    ``measurement`` is :meth:`HipMeasurement.to_dict`; ``classes`` maps side -> class name for colours.
    """
    fig = _figure(figsize=(7.5, 7.5 * picture.shape[0] / picture.shape[1] * spacing[0] / spacing[1]))
    ax = fig.add_subplot(111)
    ax.imshow(picture, cmap="gray", aspect=spacing[0] / spacing[1])
    marks, angles = measurement["landmarks"], measurement["angles"]
    h_r, h_l = np.asarray(marks["right"]["H"]), np.asarray(marks["left"]["H"])
    ax.plot([h_r[0], h_l[0]], [h_r[1], h_l[1]], color="#7fc7ff", lw=0.8, ls="--")
    t_r, t_l = np.asarray(marks["right"]["T"]), np.asarray(marks["left"]["T"])
    ax.plot([t_r[0], t_l[0]], [t_r[1], t_l[1]], color="#ffb07f", lw=0.8, ls="--")
    for side in ("right", "left"):
        colour = CLASS_COLOURS.get(classes.get(side, ""), "#1f77b4")
        shp = shapes[side]
        for name in ("acetabulum", "femoral_head", "proximal_femur"):
            pts = getattr(shp, name)
            if pts is None:
                continue
            pts = np.asarray(pts)
            closed = np.vstack([pts, pts[:1]]) if name == "femoral_head" else pts
            ax.plot(closed[:, 0], closed[:, 1], color=colour, lw=1.0, alpha=0.8 if name != "proximal_femur" else 0.5)
        m = {k: (np.asarray(v) if isinstance(v, list) else v) for k, v in marks[side].items()}
        h, L, T, S, C = m["H"], m["L"], m["T"], m["S"], m["C"]
        r = float(np.mean(np.hypot(*(np.asarray(shp.femoral_head) - h).T)))
        circle = np.linspace(0, 2 * np.pi, 100)
        ax.plot(h[0] + r * np.cos(circle), h[1] + r * np.sin(circle), color="white", lw=0.6, ls=":")
        if m.get("H_least_squares") is not None:
            ax.plot(*m["H_least_squares"], marker="x", color="#bbbbbb", ms=4)
        for key in ("D", "E", "F"):
            ax.plot(*m[key], marker="o", color="white", ms=2.5)
        ax.plot(*h, marker="+", color="white", ms=7)
        for p, name in ((L, "L"), (T, "T"), (S, "S")):
            ax.plot(*p, marker="o", color=colour, ms=4)
            ax.text(p[0] + 3, p[1] - 3, name, color=colour, fontsize=7)
        ax.plot([h[0], C[0]], [h[1], C[1]], color="white", lw=0.8)  # the vertical through H
        ax.plot([h[0], L[0]], [h[1], L[1]], color=colour, lw=1.0)
        ax.plot([T[0], L[0]], [T[1], L[1]], color=colour, lw=1.0, ls="-.")
        ax.plot([S[0], L[0]], [S[1], L[1]], color=colour, lw=1.4)
        a = angles[side]
        lateral = T - (t_l if side == "right" else t_r)
        _arc(ax, h, C - h, L - h, 0.6 * r, colour, f"CE {a['ce']:.1f}°")
        _arc(ax, T, lateral, L - T, 0.45 * float(np.hypot(*(L - T))), colour, f"Sharp {a['sharp']:.1f}°")
        _arc(ax, S, lateral, L - S, 0.8 * float(np.hypot(*(L - S))), colour, f"Tönnis {a['tonnis']:.1f}°")
        ax.text(h[0], h[1] + 1.6 * r, f"{side}: {classes.get(side, '')}", color=colour, ha="center", fontsize=8,
                bbox=dict(facecolor="black", alpha=0.5, pad=1, lw=0))
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, path)


def _ellipse_2d(cov2: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    values, vectors = np.linalg.eigh(cov2)
    t = np.linspace(0, 2 * np.pi, 120)
    circle = np.c_[np.cos(t), np.sin(t)] * np.sqrt(np.maximum(values, 0)) * radius
    return circle @ vectors.T + centre


def model_png(x: np.ndarray, model: Any, colours: list[str], path: str | Path, q: float = 0.95,
              title: str = "") -> Path:
    """The paper's Fig. 5: the 3-D scatter with the fitted ellipsoid and its three 2-D projections."""
    from scipy.stats import chi2

    radius = math.sqrt(float(chi2.ppf(q, 3)))
    names = ("CE", "Sharp", "Tönnis")
    fig = _figure(figsize=(10, 8.5))
    ax = fig.add_subplot(2, 2, 1, projection="3d")
    ax.scatter(x[:, 0], x[:, 1], x[:, 2], c=colours, s=8, depthshade=False)
    u, v = np.meshgrid(np.linspace(0, 2 * np.pi, 24), np.linspace(0, np.pi, 12))
    sphere = np.stack([np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v)], axis=-1)
    axes = model.eigenvectors * np.sqrt(model.eigenvalues) * radius
    ell = sphere @ axes.T + model.mean
    ax.plot_wireframe(ell[..., 0], ell[..., 1], ell[..., 2], color="#555555", lw=0.3, alpha=0.6)
    v1 = model.eigenvectors[:, 0] * math.sqrt(model.eigenvalues[0]) * radius
    ax.plot(*np.c_[model.mean - v1, model.mean + v1], color="black", lw=1.2)
    ax.set_xlabel("CE (°)"), ax.set_ylabel("Sharp (°)"), ax.set_zlabel("Tönnis (°)")
    ax.set_title(f"normal-hip model, {int(q * 100)}% ellipsoid (n={model.n})", fontsize=9)
    for k, (i, j) in enumerate(((0, 1), (0, 2), (1, 2))):
        a2 = fig.add_subplot(2, 2, k + 2)
        a2.scatter(x[:, i], x[:, j], c=colours, s=8)
        e = _ellipse_2d(model.cov[np.ix_([i, j], [i, j])], model.mean[[i, j]], radius)
        a2.plot(e[:, 0], e[:, 1], color="black", lw=1)
        a2.set_xlabel(f"{names[i]} (°)"), a2.set_ylabel(f"{names[j]} (°)")
        a2.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def decision_graph_png(rho: np.ndarray, delta: np.ndarray, peaks: list[int], labels: np.ndarray,
                       gamma_threshold: float | None, path: str | Path) -> Path:
    """The density-peak decision graph (rho against delta, peaks marked) and the sorted gamma values."""
    rho, delta = np.asarray(rho), np.asarray(delta)
    fig = _figure(figsize=(10, 4))
    ax = fig.add_subplot(1, 2, 1)
    noise = np.asarray(labels) < 0
    ax.scatter(rho[~noise], delta[~noise], s=8, c="#1f77b4", label="points")
    if noise.any():
        ax.scatter(rho[noise], delta[noise], s=8, c="#aaaaaa", label="noise (low density)")
    ax.scatter(rho[peaks], delta[peaks], s=40, c="#d62728", marker="*", label="peaks")
    ax.set_xlabel("local density ρ"), ax.set_ylabel("distance to denser point δ (°)")
    ax.legend(fontsize=8), ax.set_title("decision graph", fontsize=9)
    ax2 = fig.add_subplot(1, 2, 2)
    norm = lambda v: (v - v.min()) / max(v.max() - v.min(), 1e-300)  # noqa: E731
    gamma = np.sort(norm(rho) * norm(delta))[::-1]
    ax2.plot(gamma, marker=".", lw=0.8)
    if gamma_threshold is not None and np.isfinite(gamma_threshold):
        ax2.axhline(gamma_threshold, color="#d62728", ls="--", lw=0.8, label="automatic threshold")
        ax2.legend(fontsize=8)
    ax2.set_xlabel("rank"), ax2.set_ylabel("γ = ρ·δ (normalised)"), ax2.set_yscale("symlog", linthresh=1e-3)
    ax2.set_ylim(bottom=0)
    ax2.set_title("peak scores", fontsize=9)
    return _save(fig, path)


def patient_report(path: str | Path, film: str, rows: list[dict[str, Any]], flags: dict[str, list[str]],
                   overlay: str | None, notes: list[str] | None = None) -> Path:
    """A per-patient HTML page: overlay, angle table, the model's and the knowledge-driven classes, QC flags."""
    page = HtmlPage(f"Hip dysplasia report: {film}")
    page.paragraph(DISCLAIMER, css="note")
    if overlay:
        page.figures([(overlay, "overlay: contours, head circles, reference lines and angles")])
    page.heading("Angles and classes").table(rows)
    page.heading("Quality flags").table([{"side": s, "flags": ", ".join(f) or "none"} for s, f in flags.items()])
    for note in notes or []:
        page.paragraph(note, css="note")
    return page.write(path)


def bland_altman_png(true: list[dict[str, dict[str, float]]], pred: list[dict[str, dict[str, float]]],
                     path: str | Path) -> Path:
    """Bland-Altman plots (detector - manual against their mean) for the three angles."""
    from biomedai.metrics.agreement import bland_altman

    fig = _figure(figsize=(12, 3.8))
    for k, (name, label) in enumerate((("ce", "CE"), ("sharp", "Sharp"), ("tonnis", "Tönnis"))):
        t = np.array([a[s][name] for a in true for s in ("right", "left")])
        p = np.array([a[s][name] for a in pred for s in ("right", "left")])
        ba = bland_altman(t, p)
        ax = fig.add_subplot(1, 3, k + 1)
        ax.scatter((t + p) / 2, p - t, s=8)
        ax.axhline(ba.bias, color="black", lw=1, label=f"bias {ba.bias:.2f}°")
        for v in (ba.lower, ba.upper):
            ax.axhline(v, color="#d62728", lw=0.8, ls="--")
        ax.set_title(f"{label}: LoA [{ba.lower:.1f}, {ba.upper:.1f}]°", fontsize=9)
        ax.set_xlabel("mean of detector and manual (°)"), ax.set_ylabel("detector - manual (°)")
        ax.legend(fontsize=8)
    return _save(fig, path)
