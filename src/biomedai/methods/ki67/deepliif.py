"""Reading the DeepLIIF Ki-67 sample set (Ghahremani et al. 2022) and scoring cell calls against its masks.

Layout (``shared/data/ki67/deepliif_sample/README.md``): ``train/<name>.png`` are six 512x512 panels side
by side (IHC, haematoxylin, DAPI, Lap2, Ki-67 marker, segmentation); ``test_cli/<name>.png`` are IHC tiles
with masks in ``test_groundtruth/<name>.png`` and DeepLIIF's inferred haematoxylin in
``test_DeepLIIF_results/<name>_fake_B_1.png``. Mask colours: red = positive nucleus, blue = negative,
green = boundary, black = background.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

from .config import NEGATIVE, POSITIVE
from .ihc import as_rgb

PANELS = ("ihc", "hematoxylin", "dapi", "lap2", "marker", "seg")


@dataclass
class DeepliifTile:
    """One registered tile: IHC, a haematoxylin view, the ground-truth mask and where it came from."""

    name: str
    split: str                     # "train" (6-panel images) or "test" (test_cli + test_groundtruth)
    ihc: np.ndarray
    seg: np.ndarray
    hematoxylin: np.ndarray | None  # real panel (train) or DeepLIIF's inferred one (test), None if absent
    source: Path


def _read_rgb(path: Path) -> np.ndarray:
    from biomedai.io import read_image

    return as_rgb(read_image(path).array, path)


def split_panels(array: np.ndarray, source: Path | None = None) -> dict[str, np.ndarray]:
    """The six panels of a DeepLIIF training image ``[h, 6h, 3]``."""
    h = array.shape[0]
    if array.ndim != 3 or array.shape[1] != 6 * h:
        raise InvalidInputError(f"a DeepLIIF training image is six square panels side by side, got shape "
                                f"{array.shape}", source)
    return {name: array[:, i * h:(i + 1) * h] for i, name in enumerate(PANELS)}


def load_deepliif(root: str | Path) -> list[DeepliifTile]:
    """All tiles of a DeepLIIF-style folder, train tiles first, each group sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise InvalidInputError("not a folder", root)
    tiles = []
    for path in sorted((root / "train").glob("*.png")):
        panels = split_panels(_read_rgb(path), path)
        tiles.append(DeepliifTile(path.stem, "train", panels["ihc"], panels["seg"], panels["hematoxylin"], path))
    for path in sorted((root / "test_cli").glob("*.png")):
        truth = root / "test_groundtruth" / path.name
        if not truth.is_file():
            continue
        hema = root / "test_DeepLIIF_results" / f"{path.stem}_fake_B_1.png"
        tiles.append(DeepliifTile(path.stem, "test", _read_rgb(path), _read_rgb(truth),
                                  _read_rgb(hema) if hema.is_file() else None, path))
    if not tiles:
        raise InvalidInputError("no DeepLIIF tiles (train/*.png or test_cli/*.png with test_groundtruth/)", root)
    return tiles


def seg_to_instances(seg: np.ndarray, min_area: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Instances ``[y, x]`` int32 and ``classes[id]`` (1 positive, 0 negative; index 0 unused).

    Red and blue interiors (green boundaries excluded) are split into 4-connected components;
    components of ``min_area`` pixels or fewer are dropped (stray pixels). A component's class is the
    majority colour of its pixels. Channels are thresholded at 127, as the README advises.
    """
    from scipy import ndimage as ndi
    from skimage.measure import label
    from skimage.morphology import remove_small_objects
    from skimage.segmentation import relabel_sequential

    red, green, blue = (seg[..., c] > 127 for c in range(3))
    pos, neg = red & ~green & ~blue, blue & ~green & ~red
    labels = label(pos | neg, connectivity=1)
    labels = relabel_sequential(remove_small_objects(labels, max_size=min_area))[0].astype(np.int32)
    ids = np.arange(1, labels.max() + 1)
    classes = np.zeros(labels.max() + 1, np.int64)
    if ids.size:
        classes[1:] = (np.asarray(ndi.mean(pos, labels, ids)) > 0.5).astype(np.int64)
    return labels, classes


def match_cells(true_labels: np.ndarray, true_classes: np.ndarray, x: np.ndarray, y: np.ndarray,
                positive: np.ndarray) -> dict[str, Any]:
    """Score detected cells (centroids ``x, y`` and calls) against ground-truth nuclei.

    A detection is a true positive when its rounded centroid lies inside a true nucleus not already
    taken by an earlier detection (one-to-one). Per class ``k``, a TP needs the pair to agree on ``k``;
    F1_k = 2 TP_k / (n_true_k + n_pred_k).
    """
    n_true = int(true_labels.max())
    rows = np.clip(np.rint(np.asarray(y)).astype(int), 0, true_labels.shape[0] - 1)
    cols = np.clip(np.rint(np.asarray(x)).astype(int), 0, true_labels.shape[1] - 1)
    taken: set[int] = set()
    pairs = []
    for k, t in enumerate(true_labels[rows, cols]):
        if t > 0 and int(t) not in taken:
            taken.add(int(t))
            pairs.append((int(t), k))
    positive = np.asarray(positive, bool)
    n_pred, tp = int(positive.size), len(pairs)
    out: dict[str, Any] = {"n_true": n_true, "n_pred": n_pred, "tp": tp,
                           "precision": tp / n_pred if n_pred else 0.0, "recall": tp / n_true if n_true else 0.0,
                           "f1": 2 * tp / (n_true + n_pred) if n_true + n_pred else 1.0}
    true_pos = int(true_classes[1:].sum()) if n_true else 0
    for name, k in (("positive", 1), ("negative", 0)):
        n_t = true_pos if k == 1 else n_true - true_pos
        n_p = int(positive.sum()) if k == 1 else n_pred - int(positive.sum())
        tp_k = sum(1 for t, p in pairs if true_classes[t] == k and int(positive[p]) == k)
        out[f"f1_{name}"] = 2 * tp_k / (n_t + n_p) if n_t + n_p else 1.0
    agree = [int(true_classes[t]) == int(positive[p]) for t, p in pairs]
    out["call_accuracy_on_matched"] = float(np.mean(agree)) if agree else None
    out["true_positive_cells"], out["true_negative_cells"] = true_pos, n_true - true_pos
    out["true_labelling_index_pct"] = 100.0 * true_pos / n_true if n_true else None
    return out


def cell_points(tile: DeepliifTile) -> tuple[np.ndarray, np.ndarray]:
    """``(xy, classes)`` of a tile's ground-truth cells: nucleus centroids, positive or negative."""
    from scipy import ndimage as ndi

    labels, classes = seg_to_instances(tile.seg)
    ids = np.arange(1, labels.max() + 1)
    if ids.size == 0:
        return np.zeros((0, 2)), np.zeros(0, np.int64)
    yx = np.asarray(ndi.center_of_mass(np.ones_like(labels), labels, ids), float).reshape(-1, 2)
    return yx[:, ::-1], np.where(classes[ids] == 1, POSITIVE, NEGATIVE).astype(np.int64)
