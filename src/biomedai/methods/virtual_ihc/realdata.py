"""Real tiles for training and testing: H&E from the nucleus sets, Ki-67 IHC and paired haematoxylin from DeepLIIF.

``shared/data/nuclei/{miccai2015,gbm40}/images/*.png`` are H&E tiles (no tumour/normal labels);
``shared/data/ki67/deepliif_sample/`` holds IHC images (non-commercial terms) and two pixel-registered
haematoxylin / IHC / mask panel sets (read with the Ki-67 method's DeepLIIF reader).

Example:
    >>> grid_tiles(np.zeros((130, 260, 3), np.uint8), 64).shape
    (8, 64, 64, 3)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.methods.ki67.deepliif import DeepliifTile, load_deepliif
from biomedai.methods.ki67.ihc import as_rgb

#: the image files the method reads from a folder (predict/evaluate/train folders, MIL bags)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


def read_rgb(path: Path) -> np.ndarray:
    from biomedai.io import read_image

    return as_rgb(read_image(path).array, path)


def grid_tiles(rgb: np.ndarray, tile: int) -> np.ndarray:
    """Non-overlapping ``tile`` px tiles in row order (the remainder at the right and bottom is dropped)."""
    h, w = rgb.shape[:2]
    tiles = [rgb[y:y + tile, x:x + tile, :3] for y in range(0, h - tile + 1, tile) for x in range(0, w - tile + 1, tile)]
    if not tiles:
        raise InvalidInputError(f"image {w}x{h} is smaller than one {tile} px tile")
    return np.stack(tiles)


def he_images(nuclei_root: Path) -> list[tuple[str, np.ndarray]]:
    """``(name, rgb)`` of every H&E image under ``nuclei/{miccai2015,gbm40}/images``, sorted."""
    paths = sorted((Path(nuclei_root) / "miccai2015" / "images").glob("*.png")) + \
        sorted((Path(nuclei_root) / "gbm40" / "images").glob("*.png"))
    if not paths:
        raise InvalidInputError("no H&E images under miccai2015/images or gbm40/images", nuclei_root)
    return [(f"{p.parent.parent.name}/{p.name}", read_rgb(p)) for p in paths]


def ihc_images(deepliif_root: Path) -> list[tuple[str, np.ndarray]]:
    """``(name, rgb)`` of every real IHC image of the DeepLIIF sample (train panels and test inputs)."""
    return [(f"{t.split}/{t.name}", t.ihc) for t in load_deepliif(Path(deepliif_root))]


def paired_panels(deepliif_root: Path) -> list[DeepliifTile]:
    """The registered training sets (haematoxylin panel, IHC panel, mask)."""
    tiles = [t for t in load_deepliif(Path(deepliif_root)) if t.split == "train" and t.hematoxylin is not None]
    if not tiles:
        raise InvalidInputError("no registered haematoxylin/IHC panels (train/*.png)", deepliif_root)
    return tiles


def random_crops(images: list[np.ndarray], n: int, size: int, seed: int) -> np.ndarray:
    """``n`` random ``size`` px crops spread evenly over ``images``."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        img = images[k % len(images)]
        y = int(rng.integers(0, img.shape[0] - size + 1))
        x = int(rng.integers(0, img.shape[1] - size + 1))
        out.append(img[y:y + size, x:x + size, :3])
    return np.stack(out)
