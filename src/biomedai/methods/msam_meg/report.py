"""Figures and tables of MSAM runs: attention over sensors (MNE topomap when sensor positions are known), the
head-sweep panels (Fig. 2), and Table 1/2-style CSV rows."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.utils import atomic_path, write_csv_atomic

logger = logging.getLogger(__name__)

METRICS = ("accuracy", "recall", "precision", "f1")


def table_rows(results: Sequence[dict[str, Any]], label_key: str = "model", data: str = "") -> list[dict[str, Any]]:
    """One row per result: window-level micro (pooled) and fold mean +/- SD of Eqs. 7-10, macro F1, AUC,
    subject-level accuracy and F1, CPU seconds; ``data`` names what was measured."""
    rows = []
    for r in results:
        w, s = r["window"], r["subject"]
        row: dict[str, Any] = {"method": r.get(label_key) or r["model"], "data": data}
        for m in METRICS:
            row[f"{m}_micro"] = round(w[f"{m}_micro"], 3)
            row[f"{m}_mean"] = round(w[f"{m}_mean"], 3)
            row[f"{m}_sd"] = round(w[f"{m}_sd"], 3)
        row.update(f1_macro=round(w["f1_macro"], 3), auc=round(r["auc"], 3),
                   subject_accuracy=round(s["accuracy_micro"], 3), subject_f1=round(s["f1_micro"], 3),
                   cpu_s=round(r["cpu_s"], 1))
        rows.append(row)
    return rows


def write_table(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write rows as CSV atomically."""
    return write_csv_atomic(path, rows, list(rows[0]))


def plot_head_sweep(rows: Sequence[dict[str, Any]], heads: Sequence[int], path: Path, title: str) -> Path:
    """Fig. 2 style: one panel per metric (fold mean +/- SD) against the number of heads."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(12, 3), constrained_layout=True)
    for ax, m in zip(axes, METRICS):
        ax.errorbar(heads, [r[f"{m}_mean"] for r in rows], yerr=[r[f"{m}_sd"] for r in rows], marker="o")
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(heads), [str(h) for h in heads])
        ax.set_xlabel("heads")
        ax.set_title(m)
    fig.suptitle(title, fontsize=9)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return Path(path)


def plot_attention(attention: np.ndarray, ch_names: Sequence[str], path: Path, title: str,
                   info: Any = None) -> Path:
    """Attention received per sensor: an MNE topomap when ``info`` has sensor positions, else a bar chart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4), constrained_layout=True)
    drawn = False
    if info is not None:
        try:
            import mne

            values = np.asarray(attention, float)
            im, _ = mne.viz.plot_topomap(values, info, axes=ax, show=False, extrapolate="local",
                                         vlim=(values.min(), values.max()), cmap="viridis")
            fig.colorbar(im, ax=ax, label="attention received")
            drawn = True
        except (RuntimeError, ValueError) as exc:  # no usable positions
            logger.info("no topomap (%s); drawing bars", exc)
            ax.clear()
    if not drawn:
        ax.bar(range(len(attention)), attention)
        ax.set_xticks(range(len(ch_names)), list(ch_names), rotation=90, fontsize=6)
        ax.set_ylabel("attention received")
    ax.set_title(title, fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return Path(path)


def plot_attention_over_time(attention: np.ndarray, starts_s: np.ndarray, ch_names: Sequence[str], path: Path,
                             title: str, probability: np.ndarray | None = None) -> Path:
    """Attention each sensor receives in each window over the recording (sensors x time), with P(CPS) above."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    att = np.asarray(attention, float)
    rows = 2 if probability is not None else 1
    fig, axes = plt.subplots(rows, 1, figsize=(8, 2 + 0.08 * len(ch_names) + 1.2 * (rows - 1)), squeeze=False,
                             sharex=True, constrained_layout=True,
                             gridspec_kw={"height_ratios": [1, 3] if rows == 2 else [1]})
    starts = np.asarray(starts_s, float)
    step = float(np.median(np.diff(starts))) if len(starts) > 1 else 1.0
    if probability is not None:
        axes[0, 0].plot(starts, probability, drawstyle="steps-post")
        axes[0, 0].axhline(0.5, color="grey", lw=0.5)
        axes[0, 0].set_ylim(0, 1)
        axes[0, 0].set_ylabel("P(CPS)")
    ax = axes[-1, 0]
    im = ax.imshow(att.T, aspect="auto", origin="lower", cmap="viridis", interpolation="nearest",
                   extent=(starts[0] if len(starts) else 0, (starts[-1] if len(starts) else 0) + step,
                           -0.5, len(ch_names) - 0.5))
    if len(ch_names) <= 40:
        ax.set_yticks(range(len(ch_names)), list(ch_names), fontsize=6)
    ax.set_ylabel("sensor")
    ax.set_xlabel("window start (s)")
    fig.colorbar(im, ax=ax, label="attention received")
    axes[0, 0].set_title(title, fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return Path(path)
