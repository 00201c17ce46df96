"""EXTENSION (not in the paper): a small CNN that labels 2-D CT slices COVID / NonCOVID, trained on COVID-CT.

COVID-CT images are figure crops without HU, so every slice is made grey (ITU-R 601 luma, which
removes the colour of authors' marks but not their shape), stretched to its own 1st-99th
percentile and resized to a square (size and aspect ratio are shortcuts, see the data README).
Splits are by source figure (:func:`source_group`), so near-duplicate crops never straddle a split.
"""
from __future__ import annotations

import csv
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from biomedai.errors import InvalidInputError

logger = logging.getLogger(__name__)

CLASS_NAMES = ["NonCOVID", "COVID"]
_PAGE = re.compile(r"^(.*?)-p\d+-")


def source_group(relative_file: str) -> str:
    """The source figure/paper of a COVID-CT file (data README, "Counts"): NonCOVID by the name before
    ``%``; COVID by the paper identifier before ``-p<page>-``, else before ``%``.

    >>> source_group("CT_COVID/2020.01.24.919183-p27-132.png")
    'CT_COVID/2020.01.24.919183'
    >>> source_group("CT_NonCOVID/1%2.png")
    'CT_NonCOVID/1'
    """
    folder, _, name = relative_file.replace("\\", "/").rpartition("/")
    stem = name.rsplit(".", 1)[0]
    if folder.endswith("CT_COVID"):
        match = _PAGE.match(stem)
        if match:
            return f"{folder}/{match.group(1)}"
    return f"{folder}/{stem.split('%', 1)[0]}"


@dataclass
class SliceSet:
    """Files (relative to ``root``), labels (1 = COVID) and source groups of a COVID-CT folder."""

    root: Path
    files: list[str]
    labels: np.ndarray
    groups: list[str]


def read_slice_set(root: str | Path) -> SliceSet:
    """The ``labels.csv`` of a COVID-CT folder (columns ``file``, ``label``)."""
    root = Path(root)
    table = root / "labels.csv"
    if not table.is_file():
        raise InvalidInputError("no labels.csv (columns file,label with label COVID or NonCOVID)", root)
    files, labels = [], []
    with open(table, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            label = (row.get("label") or "").strip()
            if label not in CLASS_NAMES:
                raise InvalidInputError(f"label {label!r} is neither COVID nor NonCOVID", table)
            files.append(row["file"])
            labels.append(CLASS_NAMES.index(label))
    if len(set(labels)) < 2:
        raise InvalidInputError("labels.csv needs both classes", table)
    return SliceSet(root, files, np.asarray(labels), [source_group(f) for f in files])


def grouped_split(groups: Sequence[str], labels: np.ndarray, seed: int = 0, n_folds: int = 5
                  ) -> dict[str, np.ndarray]:
    """Train/validation/test indices (3:1:1) by source group, stratified by label (StratifiedGroupKFold)."""
    from sklearn.model_selection import StratifiedGroupKFold

    folds = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    parts = [test for _, test in folds.split(np.zeros(len(labels)), labels, groups)]
    test, val = parts[0], parts[1]
    train = np.sort(np.concatenate(parts[2:]))
    return {"train": train, "val": np.sort(val), "test": np.sort(test)}


def load_slice(path: str | Path, size: int) -> np.ndarray:
    """A slice as grey float32 ``[size, size]`` in [0, 1] (percentile stretch, aspect not kept)."""
    from PIL import Image as PILImage

    try:
        with PILImage.open(path) as img:
            grey = img.convert("L").resize((size, size), PILImage.Resampling.BILINEAR)
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read the slice image: {exc}", path) from None
    arr = np.asarray(grey, np.float32)
    lo, hi = np.percentile(arr, [1, 99])
    return np.clip((arr - lo) / max(hi - lo, 1.0), 0, 1).astype(np.float32)


def build_slice_cnn(width: int = 16) -> Any:
    """Four conv-BN-ReLU-pool blocks, global average pooling, one logit (COVID)."""
    import torch.nn as nn

    layers: list[nn.Module] = []
    channels = 1
    for k in range(4):
        out = width * 2 ** k
        layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True),
                   nn.MaxPool2d(2)]
        channels = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(channels, 1)]
    return nn.Sequential(*layers)


class SliceDataset(Dataset):
    """Tensors ``([1, H, W], label)``; training adds flips, small shifts and contrast jitter."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, augment: bool, seed: int = 0) -> None:
        self.images, self.labels, self.augment = images, labels.astype(np.float32), augment
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        image = self.images[index]
        if self.augment:
            if self.rng.random() < 0.5:
                image = image[:, ::-1]
            shift = self.rng.integers(-8, 9, size=2)
            image = np.roll(image, tuple(int(s) for s in shift), axis=(0, 1))
            image = np.clip(image * self.rng.uniform(0.85, 1.15) + self.rng.uniform(-0.1, 0.1), 0, 1)
        return torch.from_numpy(np.ascontiguousarray(image)[None]), torch.tensor([self.labels[index]])


def predict_scores(model: Any, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """COVID probability per image ``[N, H, W]``."""
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(images[start:start + batch_size])[:, None])
            out.append(torch.sigmoid(model(batch)).squeeze(1).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def auc_validation(model: Any, loader: Any) -> dict[str, float]:
    """Validation hook for the training engine: ROC AUC and mean BCE over the loader."""
    from biomedai.metrics import roc_auc

    model.eval()
    scores, targets, losses = [], [], []
    with torch.no_grad():
        for images, labels in loader:
            logits = model(images)
            losses.append(float(torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)) * len(labels))
            scores.append(torch.sigmoid(logits).squeeze(1).numpy())
            targets.append(labels.squeeze(1).numpy())
    s, t = np.concatenate(scores), np.concatenate(targets).astype(int)
    return {"val_auc": float(roc_auc(t, s)), "val_loss": float(np.sum(losses) / len(t))}


def _rgb(path: str | Path, size: int) -> np.ndarray:
    from PIL import Image as PILImage

    with PILImage.open(path) as img:
        return np.asarray(img.convert("RGB").resize((size, size), PILImage.Resampling.BILINEAR), np.float32)


def colour_marks_only(path: str | Path, size: int) -> np.ndarray:
    """Shortcut probe 1: only the authors' coloured marks (channel spread > 40) on mid-grey; a slice
    without marks becomes a blank grey picture."""
    rgb = _rgb(path, size)
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    grey = rgb @ np.array([0.299, 0.587, 0.114], np.float32) / 255.0
    return np.where(spread > 40, grey, 0.5).astype(np.float32)


def outside_body_only(path: str | Path, size: int) -> np.ndarray:
    """Shortcut probe 2: everything outside the patient's body outline (text, panel letters, rulers,
    borders, marks), the body itself painted mid-grey."""
    from scipy import ndimage as ndi
    from skimage.filters import threshold_otsu

    grey = _rgb(path, size) @ np.array([0.299, 0.587, 0.114], np.float32) / 255.0
    level = threshold_otsu(grey) if np.ptp(grey) > 0 else 0.5
    labels, n = ndi.label(grey > level)
    if n == 0:
        return grey.astype(np.float32)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    body = ndi.binary_dilation(ndi.binary_fill_holes(labels == int(np.argmax(sizes))), iterations=2)
    return np.where(body, 0.5, grey).astype(np.float32)


def shortcut_features(path: str | Path) -> np.ndarray:
    """Features that carry no lung information: height, width, aspect, colour fraction, near-white and
    near-black fractions, and 8x8 JPEG blockiness."""
    from PIL import Image as PILImage

    with PILImage.open(path) as img:
        rgb = np.asarray(img.convert("RGB"), np.float32)
    h, w = rgb.shape[:2]
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    grey = rgb.mean(axis=2)
    dx = np.abs(np.diff(grey, axis=1))
    block = dx[:, 7::8].mean() / max(dx.mean(), 1e-6) if dx.shape[1] > 8 else 1.0
    return np.array([h, w, w / h, (spread > 40).mean(), (grey >= 250).mean(), (grey <= 5).mean(), block],
                    np.float32)
