"""Pictures and tables of COS-Net results (Tables 1-3 layout)."""
from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

#: Table 1 of the paper (accuracy, n-way-1-shot on its 8 unseen classes), by SNR and variant
PAPER_TABLE1: dict[str, dict[str, tuple[float, float, float, float]]] = {
    "inf": {"SCNN w/o Decoder": (0.931, 0.763, 0.613, 0.595), "SCNN w Decoder": (0.945, 0.798, 0.663, 0.636),
            "DuSE-SCNN w/o Decoder": (0.934, 0.772, 0.618, 0.603),
            "DuSE-SCNN w Decoder": (0.957, 0.831, 0.672, 0.646)},
    "1000": {"SCNN w/o Decoder": (0.923, 0.698, 0.493, 0.473), "SCNN w Decoder": (0.935, 0.706, 0.493, 0.473),
             "DuSE-SCNN w/o Decoder": (0.928, 0.701, 0.504, 0.479),
             "DuSE-SCNN w Decoder": (0.939, 0.718, 0.534, 0.513)},
    "0.5": {"SCNN w/o Decoder": (0.812, 0.599, 0.501, 0.387), "SCNN w Decoder": (0.824, 0.616, 0.502, 0.399),
            "DuSE-SCNN w/o Decoder": (0.821, 0.614, 0.510, 0.391),
            "DuSE-SCNN w Decoder": (0.829, 0.628, 0.513, 0.403)},
}
#: range of the paper's per-class DSC (Tables 2-3, DuSE-SCNN, CRF-refined) over its 8 test classes
PAPER_DICE_RANGE = {"inf": (0.92, 0.98), "1000": (0.84, 0.90)}


def snr_key(snr: float) -> str:
    return "inf" if math.isinf(snr) else f"{snr:g}"


def tables_markdown(results: Mapping[str, Mapping[str, Any]], snr: float) -> str:
    """Markdown: accuracy table (mean [95% CI]) for every result, paper rows beside, then per-class Dice."""
    key = snr_key(snr)
    ways = sorted({int(w[:-3]) for r in results.values() for w in r.get("accuracy", {})})
    head = "| SNR | method | " + " | ".join(f"{n}way-1shot" for n in ways) + " |"
    lines = [head, "|" + "---|" * (len(ways) + 2)]
    for name, res in results.items():
        cells = []
        for n in ways:
            a = res.get("accuracy", {}).get(f"{n}way")
            cells.append(f"{a['mean']:.3f} [{a['ci_low']:.3f}, {a['ci_high']:.3f}]" if a else "")
        lines.append(f"| {key} | {name} (ours) | " + " | ".join(cells) + " |")
    for name, row in PAPER_TABLE1.get(key, {}).items():
        paper = dict(zip((2, 4, 6, 8), row))
        lines.append(f"| {key} | {name} (paper) | " + " | ".join(f"{paper[n]:.3f}" if n in paper else "" for n in ways)
                     + " |")
    dice_rows = {name: r["dice"] for name, r in results.items() if "dice" in r}
    if dice_rows:
        classes = list(next(iter(dice_rows.values())))
        lines += ["", f"Per-class Dice (mean ± SD over test targets, SNR {key}; CRF-refined / raw threshold 0.5)", "",
                  "| method | " + " | ".join(classes) + " | mean |", "|" + "---|" * (len(classes) + 2)]
        for name, dice in dice_rows.items():
            crf = " | ".join(f"{dice[c]['crf_mean']:.2f}±{dice[c]['crf_sd']:.2f}" for c in classes)
            raw = " | ".join(f"{dice[c]['raw_mean']:.2f}±{dice[c]['raw_sd']:.2f}" for c in classes)
            lines.append(f"| {name} CRF | {crf} | {results[name]['dice_mean_crf']:.3f} |")
            lines.append(f"| {name} raw | {raw} | {results[name]['dice_mean_raw']:.3f} |")
        if key in PAPER_DICE_RANGE:
            lo, hi = PAPER_DICE_RANGE[key]
            lines.append(f"\nPaper (its own 8 test classes, other structures): per-class DSC {lo:.2f}-{hi:.2f}.")
    return "\n".join(lines) + "\n"


def save_slices(volumes: np.ndarray, probs: np.ndarray | None, masks: np.ndarray | None, path: Path,
                truth: np.ndarray | None = None) -> Path:
    """One row per subtomogram: central z slice of the volume, probability, mask outline (and truth)."""
    from biomedai.viz import overlay_labels, save_png, to_display

    rows = []
    for i, vol in enumerate(volumes):
        c = vol.shape[0] // 2
        grey = to_display(vol[c])
        grey3 = np.repeat(grey[..., None], 3, -1) if grey.ndim == 2 else grey
        tiles = [grey3]
        if probs is not None:
            p = (np.clip(probs[i][c], 0, 1) * 255).astype(np.uint8)
            tiles.append(np.repeat(p[..., None], 3, -1))
        if masks is not None:
            tiles.append(overlay_labels(grey3, masks[i][c].astype(np.int32)))
        if truth is not None:
            tiles.append(overlay_labels(grey3, truth[i][c].astype(np.int32)))
        rows.append(np.concatenate([np.pad(t, ((1, 1), (1, 1), (0, 0))) for t in tiles], axis=1))
    picture = np.concatenate(rows, axis=0)
    picture = np.kron(picture, np.ones((4, 4, 1), np.uint8))  # enlarge 32 px tiles
    return save_png(picture, path)
