"""MIL training data from a folder: labelled bags of instances.

Folder layout for ``biomedai train virtual_ihc --set model=mil`` (README "MIL"):

* images in ``DATA/images/`` (or in ``DATA/`` itself): PNG/TIFF/JPEG, H&E (or IHC for the IHC-domain classifier);
* bag labels either in ``DATA/labels.csv`` (``image,x,y,label``: the top-left corner of each labelled bag, as the
  ``bags`` tool writes them; label tumour/normal or 1/0), or tumour/normal polygons per image in
  ``DATA/regions/<stem>.geojson`` (or ``.json``, GeoJSON or Labelme) - a bag is tumour when it touches a
  tumour region (the paper: "at least one tumour cell").

Bags come from the tiler (:func:`.tiler.make_bags`: Otsu tissue mask, ``bag_size`` squares with at least
``bag_min_tissue`` tissue, ``tile_size`` instances with at least ``instance_min_tissue``); unlabelled bags are
dropped. Validation: every fifth bag of each class (at least one per class), in file order (bags of one image
can fall on both sides: the split is optimistic; use separate images for a test).

Example:
    >>> split_bags([1, 1, 1, 0, 0, 0, 1, 0, 1, 0])
    ([1, 2, 4, 5, 6, 7, 8, 9], [0, 3])
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biomedai.data.tissue import tissue_mask
from biomedai.errors import InvalidInputError

from .config import VirtualIHCConfig
from .realdata import IMAGE_SUFFIXES, read_rgb
from .tiler import bag_instances, bag_labels_from_regions, make_bags, read_bag_label_csv

logger = logging.getLogger(__name__)

VALIDATION_EVERY = 5


@dataclass
class LabelledBag:
    image: str
    x: int
    y: int
    label: int
    instances: np.ndarray            # uint8 [n, tile, tile, 3]
    corners: list[tuple[int, int]]   # instance top-left (x, y)


def _images(folder: Path) -> list[Path]:
    root = folder / "images" if (folder / "images").is_dir() else folder
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _regions_file(folder: Path, stem: str) -> Path | None:
    for base in (folder / "regions", folder / "images", folder):
        for suffix in (".geojson", ".json"):
            if (base / f"{stem}{suffix}").is_file():
                return base / f"{stem}{suffix}"
    return None


def labelled_bags(folder: Path, cfg: VirtualIHCConfig) -> list[LabelledBag]:
    """Every labelled bag of every image in ``folder`` (layout in the module doc)."""
    from biomedai.io.annotations import read_annotations

    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInputError("MIL training needs a folder of images with bag labels", folder)
    paths = _images(folder)
    if not paths:
        raise InvalidInputError("no images (png/tif/jpg) in the folder or its images/ subfolder", folder)
    table = read_bag_label_csv(folder / "labels.csv") if (folder / "labels.csv").is_file() else None
    out = []
    for path in paths:
        regions = None if table is not None else _regions_file(folder, path.stem)
        if table is None and regions is None:
            continue
        rgb = read_rgb(path)
        mask = tissue_mask(rgb)
        bags = make_bags(rgb, mask, cfg.bag_size, cfg.tile_size, cfg.bag_min_tissue, cfg.instance_min_tissue,
                         source=path.name)
        if table is not None:
            for bag in bags:
                bag.label = table.get((path.name, bag.x, bag.y))
        else:
            bag_labels_from_regions(bags, read_annotations(regions), mask.shape)
        out += [LabelledBag(path.name, b.x, b.y, int(b.label), bag_instances(rgb, b, cfg.tile_size), b.instances)
                for b in bags if b.label is not None]
    labels = {b.label for b in out}
    if labels != {0, 1}:
        raise InvalidInputError(f"MIL training needs tumour and normal bags; found {len(out)} labelled bags with "
                                f"labels {sorted(labels)} (labels.csv image,x,y,label of bag corners, or "
                                "regions/<stem>.geojson)", folder)
    return out


def split_bags(labels: list[int]) -> tuple[list[int], list[int]]:
    """``(train, validation)`` indices: every fifth bag of each class (at least one per class) validates."""
    val: list[int] = []
    for cls in sorted(set(labels)):
        members = [i for i, y in enumerate(labels) if y == cls]
        val += members[::VALIDATION_EVERY] if len(members) > 1 else []
    val = sorted(val)
    return [i for i in range(len(labels)) if i not in set(val)], val
