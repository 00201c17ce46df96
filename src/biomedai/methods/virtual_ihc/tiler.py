"""MIL bags of instances and bag labels (paper 2.3; spec 2.9); the tissue mask is the data layer's
(:func:`biomedai.data.tissue.tissue_mask`).

* :func:`make_bags` - non-overlapping ``bag_size`` squares (2,240 px in the paper) with enough tissue,
  each holding its ``tile_size`` instances (224 px: 10 x 10) with their coordinates. Bags at the image edge
  are clipped to the image (our tiles are smaller than one paper bag).
* :func:`bag_labels_from_regions` - tumour/normal labels from region annotations (GeoJSON/Labelme polygons
  labelled "tumour"/"tumor"/"normal"); :func:`read_bag_label_csv` - from a CSV ``image,x,y,label``.

Example:
    >>> from biomedai.data.tissue import tissue_mask
    >>> img = np.full((300, 300, 3), 240, np.uint8); img[:200, :200] = 120
    >>> bags = make_bags(img, tissue_mask(img), bag_size=200, tile_size=100, min_tissue=0.5)
    >>> [(b.x, b.y, len(b.instances)) for b in bags]
    [(0, 0, 4)]
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

TUMOUR_NAMES = ("tumour", "tumor", "positive", "1")
NORMAL_NAMES = ("normal", "negative", "0")


@dataclass
class Bag:
    """One MIL bag: top-left ``(x, y)``, size, tissue fraction and its instances' top-left corners."""

    x: int
    y: int
    width: int
    height: int
    tissue: float
    instances: list[tuple[int, int]] = field(default_factory=list)
    label: int | None = None   # 1 tumour, 0 normal, None unknown
    source: str = ""


def make_bags(rgb: np.ndarray, mask: np.ndarray, bag_size: int = 2240, tile_size: int = 224,
              min_tissue: float = 0.5, instance_min_tissue: float = 0.0, source: str = "") -> list[Bag]:
    """Bags of at least ``min_tissue`` tissue, each with the instances (top-left ``(x, y)``) it contains."""
    h, w = mask.shape
    if min(h, w) < tile_size:
        raise InvalidInputError(f"image {w}x{h} is smaller than one {tile_size} px instance", source or None)
    bags = []
    for y in range(0, h - tile_size + 1, bag_size):
        for x in range(0, w - tile_size + 1, bag_size):
            bh, bw = min(bag_size, h - y), min(bag_size, w - x)
            fraction = float(mask[y:y + bh, x:x + bw].mean())
            if fraction < min_tissue:
                continue
            instances = [(x + i, y + j) for j in range(0, bh - tile_size + 1, tile_size)
                         for i in range(0, bw - tile_size + 1, tile_size)
                         if mask[y + j:y + j + tile_size, x + i:x + i + tile_size].mean() >= instance_min_tissue]
            if instances:
                bags.append(Bag(x, y, bw, bh, fraction, instances, source=source))
    return bags


def bag_instances(rgb: np.ndarray, bag: Bag, tile_size: int) -> np.ndarray:
    """The bag's instance tiles ``[n, tile, tile, 3]`` uint8."""
    return np.stack([rgb[y:y + tile_size, x:x + tile_size, :3] for x, y in bag.instances])


def _label_value(text: Any, source: Any) -> int:
    value = str(text).strip().lower()
    if value in TUMOUR_NAMES:
        return 1
    if value in NORMAL_NAMES:
        return 0
    raise InvalidInputError(f"bag label {text!r} is neither tumour ({'/'.join(TUMOUR_NAMES)}) nor normal "
                            f"({'/'.join(NORMAL_NAMES)})", source)


def read_bag_label_csv(path: str | Path) -> dict[tuple[str, int, int], int]:
    """``{(image name, x, y): label}`` from a CSV with columns ``image,x,y,label`` (bag top-left corners)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError("bag label CSV not found", path)
    out = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"image", "x", "y", "label"} - set(reader.fieldnames or ())
        if missing:
            raise InvalidInputError(f"bag label CSV lacks the columns {sorted(missing)}", path)
        for row in reader:
            out[(row["image"], int(float(row["x"])), int(float(row["y"])))] = _label_value(row["label"], path)
    return out


def bag_labels_from_regions(bags: list[Bag], annotations: list[Any], shape: tuple[int, int]) -> list[Bag]:
    """Label bags from tumour/normal polygons: tumour if any of its pixels is in a tumour region (the paper:
    "at least one tumour cell"), normal if it touches only normal regions; unlabelled otherwise."""
    from biomedai.io.annotations import polygons_to_label_map

    tumour = [a for a in annotations if a.label is not None and str(a.label).lower() in TUMOUR_NAMES]
    normal = [a for a in annotations if a.label is not None and str(a.label).lower() in NORMAL_NAMES]
    t_map = polygons_to_label_map(tumour, shape) > 0
    n_map = polygons_to_label_map(normal, shape) > 0
    for bag in bags:
        window = (slice(bag.y, bag.y + bag.height), slice(bag.x, bag.x + bag.width))
        if t_map[window].any():
            bag.label = 1
        elif n_map[window].any():
            bag.label = 0
    return bags
