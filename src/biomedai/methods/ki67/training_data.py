"""Training patches for ``Ki67Method.train`` from either data layout.

* **DeepLIIF** (a folder with ``train/<name>.png`` six-panel images): cells of the haematoxylin panel at
  the nucleus centroids of the segmentation panel, labelled positive / negative by it.
* **Point annotations**: images (``*.png``, ``*.jpg``, ``*.tif``) each beside an annotation file of the same
  stem (``.json`` Labelme, ``.geojson`` QuPath, ``.csv`` ``x,y,label``), in ``data/`` or ``data/images``.

Patches are split 8:2 at random (section 1.3), cell by cell, so that a cell seen in several views
(``training_views``) is either in training or in validation; with ``balance_classes`` the training part
is then balanced by jittered re-cuts.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

from .config import CLASS_NAMES, Ki67Config
from .deepliif import cell_points, load_deepliif
from .ihc import as_rgb, hematoxylin_only_rgb
from .patches import (ANNOTATION_SUFFIXES, IMAGE_SUFFIXES, balance_by_jitter, build_patch_set, cell_patches,
                      read_cell_points)

Source = tuple[list[np.ndarray], np.ndarray, np.ndarray]  # views of one image, centres xy, classes


def _deepliif_sources(data: Path, config: Ki67Config, rng: np.random.Generator) -> list[Source]:
    sources = []
    for tile in load_deepliif(data):
        if tile.split != "train" or tile.hematoxylin is None:
            continue
        xy, classes = cell_points(tile)
        n_bg = int(round(config.background_per_cell * len(xy)))
        _, labels, centres = build_patch_set(tile.hematoxylin, xy, classes, config.patch_size, n_bg,
                                             config.cell_box_size, config.border_policy, rng, tile.source)
        views = {"hematoxylin": lambda t=tile: t.hematoxylin, "deconvolved": lambda t=tile: hematoxylin_only_rgb(t.ihc)}
        sources.append(([views[v]() for v in config.training_views], centres, labels))
    return sources


def _annotated_sources(data: Path, config: Ki67Config, rng: np.random.Generator) -> list[Source]:
    from biomedai.io import read_image

    folder = data / "images" if (data / "images").is_dir() else data
    sources = []
    for image_path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        candidates = [c for base in (image_path.parent, data / "annotations", data)
                      for c in (base / (image_path.stem + s) for s in ANNOTATION_SUFFIXES) if c.is_file()]
        if not candidates:
            continue
        image = as_rgb(read_image(image_path).array, image_path)
        xy, classes = read_cell_points(candidates[0])
        n_bg = int(round(config.background_per_cell * int((classes != 2).sum())))
        _, labels, centres = build_patch_set(image, xy, classes, config.patch_size, n_bg, config.cell_box_size,
                                             config.border_policy, rng, candidates[0])
        sources.append(([image], centres, labels))
    return sources


def training_patches(data: Path, config: Ki67Config, per_class: int | None = None
                     ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], dict[str, Any]]:
    """``((x_train, y_train), (x_val, y_val), counts)``; uint8 patches ``[n, p, p, 3]``.

    ``per_class`` is the balanced count per class (default: the largest class), used only with
    ``config.balance_classes``.
    """
    data = Path(data)
    if not data.is_dir():
        raise InvalidInputError("training data must be a folder", data)
    rng = np.random.default_rng(config.seed)
    deepliif = (data / "train").is_dir() and any((data / "train").glob("*.png"))
    sources = _deepliif_sources(data, config, rng) if deepliif else _annotated_sources(data, config, rng)
    sources = [s for s in sources if len(s[2])]
    if not sources:
        raise InvalidInputError("no annotated images found: expected DeepLIIF train/*.png panels, or images with "
                                "a .json / .geojson / .csv point file of the same name", data)
    counts = {name: int(sum((s[2] == c).sum() for s in sources)) for c, name in enumerate(CLASS_NAMES)}
    train_src, val_parts = [], []
    for images, xy, cls in sources:
        is_val = rng.random(len(cls)) < config.val_fraction
        for image in images:
            train_src.append((image, xy[~is_val], cls[~is_val]))
            if is_val.any():
                val_parts.append(cell_patches(image, xy[is_val], cls[is_val], config.patch_size, "pad"))
    if config.balance_classes:
        if per_class is None:
            per_class = max(int(sum((s[2] == c).sum() for s in train_src)) for c in range(3))
        x_train, y_train = balance_by_jitter(train_src, config, rng, per_class)
    else:
        parts = [cell_patches(image, xy, cls, config.patch_size, "pad") for image, xy, cls in train_src if len(cls)]
        x_train, y_train = np.concatenate([p for p, _ in parts]), np.concatenate([y for _, y in parts])
    if val_parts:
        x_val, y_val = np.concatenate([p for p, _ in val_parts]), np.concatenate([y for _, y in val_parts])
    else:
        x_val = np.zeros((0, config.patch_size, config.patch_size, 3), np.uint8)
        y_val = np.zeros(0, np.int64)
    layout = "deepliif" if deepliif else "point annotations"
    views = list(config.training_views) if deepliif else ["image"]
    return (x_train, y_train), (x_val, y_val), {"layout": layout, "views": views, **counts}
