"""Reading nucleus data sets (``images/*.png`` + ``labels/*.png``), the fixed split, and input checks.

A data folder is either one set (it holds ``images/`` and ``labels/``) or a folder of sets (for example
``shared/data/nuclei`` with ``miccai2015/`` and ``gbm40/``). Tiles are matched by file stem. The split
comes from ``split.json`` beside this module; sets it does not name are split by the same rule.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

from .postprocess import check_instance_labels

logger = logging.getLogger(__name__)

SPLIT_FILE = Path(__file__).with_name("split.json")
#: bundled splits by name: "default" (gbm40 is an unseen-source test set) and "all_sources" (both sources
#: in training, held-out tiles of each to test on)
BUNDLED_SPLITS = {"default": SPLIT_FILE, "all_sources": Path(__file__).with_name("split_all_sources.json")}
IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")


@dataclass
class Tile:
    """One image with its instance labels (labels None for unlabelled inputs)."""

    dataset: str
    name: str
    image: np.ndarray
    labels: np.ndarray | None
    path: Path | None = None


def as_rgb_uint8(array: Any, source: str | Path = "image") -> np.ndarray:
    """An RGB uint8 ``[y, x, 3]`` array: alpha dropped, 16-bit and float images rescaled; grey refused.

    >>> as_rgb_uint8(np.full((4, 4, 4), 65535, np.uint16)).max()
    np.uint8(255)
    """
    array = np.asarray(getattr(array, "array", array))
    if array.ndim == 2 or (array.ndim == 3 and array.shape[-1] == 1):
        raise InvalidInputError("is a grey-level image; Han-Net segments nuclei in RGB H&E images "
                                "(convert a grey scan to RGB only if it really is H&E)", source)
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise InvalidInputError(f"must be an RGB image [y, x, 3], got shape {array.shape}", source)
    rgb = array[..., :3]
    if rgb.dtype == np.uint8:
        return np.ascontiguousarray(rgb)
    if rgb.dtype == np.uint16:
        top = 65535.0 if rgb.max() > 255 else 255.0
        return np.rint(rgb.astype(np.float64) * (255.0 / top)).astype(np.uint8)
    if rgb.dtype.kind == "f":
        if not np.all(np.isfinite(rgb)):
            raise InvalidInputError("holds NaN or infinite values", source)
        scale = 255.0 if rgb.max() <= 1.0 else 1.0
        return np.clip(np.rint(rgb * scale), 0, 255).astype(np.uint8)
    raise InvalidInputError(f"has unsupported pixel type {rgb.dtype}", source)


def read_rgb(path: Path) -> np.ndarray:
    from biomedai.io import read_image

    return as_rgb_uint8(read_image(path).array, path)


def read_labels(path: Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    from biomedai.io import read_image

    image = read_image(path, palette="index") if path.suffix.lower() == ".png" else read_image(path)
    try:
        labels = check_instance_labels(image.array, "label map")
    except InvalidInputError as exc:
        raise InvalidInputError(exc.problem, path) from None
    if shape is not None and labels.shape != tuple(shape):
        raise InvalidInputError(f"label map is {labels.shape[1]}x{labels.shape[0]} but its image is "
                                f"{shape[1]}x{shape[0]} (width x height)", path)
    return labels


def _files(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}


def find_datasets(root: Path) -> dict[str, Path]:
    """``{name: folder}`` of the sets under ``root`` (``root`` itself when it holds ``images/``)."""
    root = Path(root)
    if not root.is_dir():
        raise InvalidInputError("data folder not found", root)
    if (root / "images").is_dir():
        return {root.name: root}
    found = {p.name: p for p in sorted(root.iterdir()) if (p / "images").is_dir()}
    if not found:
        raise InvalidInputError("holds no images/ folder (expected images/ + labels/, or sub-folders with them)",
                                root)
    return found


def load_split_file(path: str | Path | None = None) -> dict[str, Any]:
    """A split: a bundled one by name (``BUNDLED_SPLITS``), a JSON file, or the default one (None)."""
    path = BUNDLED_SPLITS.get(str(path), path) if path else SPLIT_FILE
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"cannot read the split file ({exc}); bundled splits by name: "
                                f"{sorted(BUNDLED_SPLITS)}", path) from exc


def split_names(dataset: str, names: list[str], split: dict[str, Any]) -> dict[str, list[str]]:
    """``{"train": [...], "val": [...], "test": [...]}`` for one set's tile names."""
    names = sorted(names)
    entry = split.get(dataset)
    if isinstance(entry, dict):
        parts = {}
        for part in ("train", "val", "test"):
            value = entry.get(part, [])
            parts[part] = list(names) if value == "*" else [n for n in value if n in names]
        missing = {n for part in ("train", "val", "test") for n in (entry.get(part) or []) if n != "*"} - set(names)
        if missing and entry.get("test") != "*":
            logger.warning("%s: split names tiles that are absent: %s", dataset, sorted(missing))
        return parts
    order = [names[i] for i in np.random.default_rng(0).permutation(len(names))]
    n_test = int(round(0.25 * len(order)))
    n_val = max(1, int(round(0.1 * len(order)))) if len(order) - n_test > 1 else 0
    return {"test": order[:n_test], "val": order[n_test:n_test + n_val], "train": order[n_test + n_val:]}


def load_tiles(root: Path, part: str | None = None, split: dict[str, Any] | None = None,
               datasets: list[str] | None = None) -> list[Tile]:
    """Labelled tiles of ``part`` ("train", "val", "test", or None for all) of every set under ``root``."""
    split = split if split is not None else load_split_file()
    tiles = []
    for name, folder in find_datasets(root).items():
        if datasets and name not in datasets:
            continue
        images = _files(folder / "images")
        label_dir = folder / "labels"
        if not label_dir.is_dir():
            raise InvalidInputError("has images/ but no labels/ folder", folder)
        labels = _files(label_dir)
        unlabelled = sorted(set(images) - set(labels))
        if unlabelled:
            raise InvalidInputError(f"images without a label map in labels/: {unlabelled[:5]}", folder)
        chosen = sorted(images) if part is None else split_names(name, sorted(images), split)[part]
        for stem in chosen:
            rgb = read_rgb(images[stem])
            tiles.append(Tile(name, stem, rgb, read_labels(labels[stem], rgb.shape[:2]), images[stem]))
    return tiles


def split_table(root: Path, split: dict[str, Any] | None = None) -> dict[str, dict[str, list[str]]]:
    """The realised split of every set under ``root`` (for result.json)."""
    split = split if split is not None else load_split_file()
    return {name: split_names(name, sorted(_files(folder / "images")), split)
            for name, folder in find_datasets(root).items()}


#: the shared sets' names and terms (``shared/data/README.md``), for the demo's real samples
SET_TERMS = {"miccai2015": ("MICCAI 2015 nucleus segmentation challenge (TCGA-derived)",
                            "none stated (challenge data): research only"),
             "gbm40": ("GBM40 glioblastoma H&E (Emory)", "none stated (clinical archive): research only")}


def held_out_tiles(root: Path, split: str = "all_sources") -> list[tuple[str, str, Path, Path]]:
    """The first test tile of each shared nucleus set under ``root`` (``shared/data``) in ``split`` (the bundled
    model's split): ``(set, tile, image path, label path)``; [] when the nuclei folder is absent."""
    folder = Path(root) / "nuclei"
    if not folder.is_dir():
        return []
    chosen = load_split_file(split)
    out = []
    for name, set_folder in find_datasets(folder).items():
        images, labels = _files(set_folder / "images"), _files(set_folder / "labels")
        test = [n for n in split_names(name, sorted(set(images) & set(labels)), chosen)["test"]]
        if test:
            out.append((name, test[0], images[test[0]], labels[test[0]]))
    return out
