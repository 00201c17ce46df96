"""Pictures of a dce_nact run: registration QC (checkerboard, warped-mask contour, Jacobian map), the box plots
of the univariate comparisons (Figs. 3-6 analogues) and the ROC overlay of the model sets (Fig. 7 analogue)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from biomedai.viz import pyplot, save_figure


def _slice_of(mask: np.ndarray) -> int:
    if mask.any():
        return int(np.argmax(mask.reshape(mask.shape[0], -1).sum(1)))
    return mask.shape[0] // 2


def checkerboard(a: np.ndarray, b: np.ndarray, tiles: int = 8) -> np.ndarray:
    """Alternate square tiles of two equally shaped 2-D images (each scaled to [0, 1])."""
    def norm(x):
        lo, hi = np.percentile(x, [1, 99])
        return np.clip((x - lo) / (hi - lo + 1e-12), 0, 1)

    yy, xx = np.indices(a.shape)
    board = ((yy * tiles // a.shape[0]) + (xx * tiles // a.shape[1])) % 2 == 0
    return np.where(board, norm(a), norm(b))


def qc_overlays(out_dir: Path, fixed: Any, warped: Any, base_mask: Any, warped_mask: Any, jacobian: Any) -> list[Path]:
    """``qc_checkerboard.png`` (baseline vs warped follow-up), ``qc_contours.png`` (baseline ROI red, warped
    follow-up ROI cyan on the baseline) and ``qc_jacobian.png``, on the tumour's largest slice."""
    import SimpleITK as sitk

    plt = pyplot()
    f, w = sitk.GetArrayFromImage(fixed), sitk.GetArrayFromImage(warped)
    bm, wm = sitk.GetArrayFromImage(base_mask) > 0, sitk.GetArrayFromImage(warped_mask) > 0
    j = sitk.GetArrayFromImage(jacobian)
    z = _slice_of(bm)
    out = []
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(checkerboard(f[z], w[z]), cmap="gray")
    ax.set_title(f"checkerboard: baseline / warped follow-up (z={z})", fontsize=8)
    ax.axis("off")
    out.append(save_figure(fig, out_dir / "qc_checkerboard.png", dpi=110))
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(f[z], cmap="gray")
    if bm[z].any():
        ax.contour(bm[z], levels=[0.5], colors="red", linewidths=1)
    if wm[z].any():
        ax.contour(wm[z], levels=[0.5], colors="cyan", linewidths=1)
    ax.set_title("baseline ROI (red), warped follow-up ROI (cyan)", fontsize=8)
    ax.axis("off")
    out.append(save_figure(fig, out_dir / "qc_contours.png", dpi=110))
    fig, ax = plt.subplots(figsize=(4.6, 4))
    im = ax.imshow(j[z], cmap="RdBu_r", vmin=0, vmax=2)
    if bm[z].any():
        ax.contour(bm[z], levels=[0.5], colors="k", linewidths=0.8)
    fig.colorbar(im, ax=ax, label="Jacobian determinant (follow-up / baseline volume)")
    ax.set_title(f"Jacobian map, folded voxels: {int((j <= 0).sum())}", fontsize=8)
    ax.axis("off")
    out.append(save_figure(fig, out_dir / "qc_jacobian.png", dpi=110))
    return out


def box_plot(values: np.ndarray, responder: np.ndarray, title: str, p_value: float, path: Path) -> Path:
    """Responders vs non-responders with the Mann-Whitney P in the title."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(3.6, 3.6))
    groups = [values[~responder], values[responder]]
    ax.boxplot(groups, tick_labels=["non-responders", "responders"])
    rng = np.random.default_rng(0)
    for i, g in enumerate(groups, 1):
        ax.scatter(i + rng.uniform(-0.08, 0.08, g.size), g, s=8, alpha=0.6)
    ax.set_title(f"{title}\nMann-Whitney P = {p_value:.2g}", fontsize=8)
    return save_figure(fig, path, dpi=110)


def roc_overlay(curves: dict[str, tuple[np.ndarray, np.ndarray, float]], path: Path, title: str) -> Path:
    """ROC curves of several models on one axis: name -> (fpr, tpr, auc)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    for name, (fpr, tpr, auc) in curves.items():
        ax.step(np.r_[fpr, 1.0], np.r_[tpr, 1.0], where="post", label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], ls=":", color="grey")
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, path, dpi=110)
