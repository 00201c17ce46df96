"""Figures of the classifier benchmark: ROC of the out-of-fold P(NMOSD) and learning curves (Fig. 4), drawn from
recorded probabilities and training histories; every figure carries the data's label (e.g. SIMULATED)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.stats.roc import auc_with_ci, roc_curve_points
from biomedai.viz import pyplot, save_figure


def plot_roc(out_of_fold: Mapping[str, Mapping[str, Sequence[float]]], path: Path, data_label: str) -> Path:
    """One ROC curve per architecture from ``{arch: {"true": [0/1], "prob": [P(NMOSD)]}}`` (pooled out-of-fold
    predictions), AUC with DeLong 95 % CI in the legend; ``data_label`` goes in the title."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    for arch, rec in out_of_fold.items():
        true, prob = np.asarray(rec["true"], int), np.asarray(rec["prob"], float)
        fpr, tpr, _ = roc_curve_points(true, prob)
        auc = auc_with_ci(true, prob)
        ax.plot(fpr, tpr, drawstyle="steps-post",
                label=f"{arch}: AUC {auc.auc:.2f} ({auc.ci_low:.2f}-{auc.ci_high:.2f}), n={len(true)}")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="1 - specificity", ylabel="sensitivity (NMOSD positive)", xlim=(0, 1), ylim=(0, 1.01),
           title=f"ROC, out-of-fold - {data_label}")
    ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, path)


def plot_learning_curves(histories: Mapping[str, Sequence[Sequence[Mapping[str, Any]]]], path: Path,
                         data_label: str) -> Path:
    """Train and validation loss per epoch, one panel per architecture, one thin line per fold (Fig. 4);
    ``histories`` is ``{arch: [fold history (the engine's epoch records)]}``."""
    plt = pyplot()
    fig, axes = plt.subplots(1, max(len(histories), 1), figsize=(4.2 * max(len(histories), 1), 3.6), squeeze=False)
    for ax, (arch, folds) in zip(axes[0], histories.items()):
        for k, hist in enumerate(folds):
            epochs = [h for h in hist if h.get("train_loss") is not None]
            ax.plot([h["epoch"] for h in epochs], [h["train_loss"] for h in epochs], color="C0", alpha=0.6,
                    label="train" if k == 0 else None)
            val = [h for h in epochs if h.get("val_loss") is not None]
            ax.plot([h["epoch"] for h in val], [h["val_loss"] for h in val], color="C1", alpha=0.6,
                    label="validation fold" if k == 0 else None)
        ax.set(xlabel="epoch", ylabel="cross-entropy", title=f"{arch} - {data_label}")
        ax.legend(fontsize=7)
    return save_figure(fig, path)
