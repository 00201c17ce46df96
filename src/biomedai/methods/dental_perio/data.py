"""Panoramic radiographs and per-tooth FDI instances: reading and checking inputs, the UFBA-425 subset
(label map -> instances, boxes, masks), the fixed train/test split, and COCO JSON of instances."""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

from .calibration import FDI_NUMBERS, check_fdi

logger = logging.getLogger(__name__)

SPLIT_PATH = Path(__file__).resolve().parent / "splits" / "ufba_split.json"
SPLIT_SEED = 2021
N_TEST = 75
#: FDI number -> contiguous class index 1..32 of the 32-class model (0 is background)
FDI_TO_CLASS = {fdi: i + 1 for i, fdi in enumerate(FDI_NUMBERS)}
CLASS_TO_FDI = {v: k for k, v in FDI_TO_CLASS.items()}


@dataclasses.dataclass
class ToothInstances:
    """Teeth of one radiograph: FDI numbers (0 = not numbered), boolean masks, x1,y1,x2,y2 boxes, scores."""

    fdi: np.ndarray
    masks: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.fdi)

    def label_map(self) -> np.ndarray:
        """One label image (value = FDI number; unnumbered teeth get 99); the more confident tooth wins."""
        out = np.zeros(self.masks.shape[1:], np.uint8)
        order = np.argsort(self.scores) if self.scores is not None else np.arange(len(self))
        for i in order:
            out[self.masks[i]] = self.fdi[i] if self.fdi[i] else 99
        return out


def read_panoramic(path: str | Path) -> tuple[np.ndarray, list[str]]:
    """A panoramic radiograph as a 2-D uint8 array, plus notes on what was done to it.

    Grey content stored as RGB (as in UFBA) is accepted; real colour is refused. 16-bit (or float) images are
    windowed to 8 bits (0.5-99.5 percentile) with a note. A blank image is refused.
    """
    from biomedai.io import read_image
    from biomedai.viz import to_display

    image = read_image(path)
    array = np.asarray(image.array)
    notes: list[str] = []
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        rgb = array[..., :3].astype(np.int16)
        spread = np.abs(rgb - rgb.mean(axis=-1, keepdims=True)).max(axis=-1)
        if float(np.mean(spread > 24)) > 0.01:
            raise InvalidInputError("a colour image: a panoramic radiograph must be greyscale (more than 1% of "
                                    "the pixels have clearly different red, green and blue values)", path)
        array = np.round(array[..., :3].astype(np.float32).mean(axis=-1)).astype(array.dtype)
    if array.ndim != 2:
        raise InvalidInputError(f"expected a 2-D greyscale radiograph, got an array of shape {array.shape}", path)
    if array.dtype != np.uint8:
        notes.append(f"{array.dtype} image windowed to 8 bits (0.5-99.5 percentile)")
        logger.info("%s: %s", path, notes[-1])
        array = to_display(array)
    if int(array.max()) - int(array.min()) < 8:
        raise InvalidInputError("the image is blank (almost constant grey values)", path)
    return np.ascontiguousarray(array), notes


def instances_from_label_map(label_map: np.ndarray, min_pixels: int = 10, where: Any = None) -> ToothInstances:
    """One instance per FDI value of a label map (0 = background); values outside FDI raise an error naming them.

    Pieces smaller than ``min_pixels`` are dropped (annotation specks).
    """
    label_map = np.asarray(label_map)
    if label_map.ndim != 2 or label_map.dtype.kind not in "biu":
        raise InvalidInputError(f"a label map must be a 2-D integer image, got {label_map.shape} {label_map.dtype}",
                                where)
    values = [int(v) for v in np.unique(label_map) if v != 0]
    check_fdi(values, where)
    fdi, masks, boxes = [], [], []
    for value in values:
        mask = label_map == value
        if mask.sum() < min_pixels:
            continue
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        fdi.append(value)
        masks.append(mask)
        boxes.append([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1])
    shape = label_map.shape
    return ToothInstances(np.asarray(fdi, int), np.asarray(masks, bool).reshape(-1, *shape),
                          np.asarray(boxes, float).reshape(-1, 4))


class UFBADataset:
    """The UFBA-425 subset: ``images/NAME.jpg`` and ``labels/NAME.png`` (pixel value = FDI number)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        images, labels = self.root / "images", self.root / "labels"
        if not images.is_dir() or not labels.is_dir():
            raise InvalidInputError("not a panoramic data set: expected folders images/ and labels/", self.root)
        self.ids = sorted(p.stem for p in images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")
                          and (labels / f"{p.stem}.png").is_file())
        if not self.ids:
            raise InvalidInputError("no image has a label map (labels/NAME.png)", self.root)
        self._suffix = {p.stem: p.suffix for p in images.iterdir()}

    def __len__(self) -> int:
        return len(self.ids)

    def image_path(self, name: str) -> Path:
        return self.root / "images" / f"{name}{self._suffix[name]}"

    def label_path(self, name: str) -> Path:
        return self.root / "labels" / f"{name}.png"

    def load(self, name: str) -> tuple[np.ndarray, ToothInstances]:
        """The radiograph (uint8) and its tooth instances."""
        from biomedai.io import read_image

        image, _ = read_panoramic(self.image_path(name))
        labels = np.asarray(read_image(self.label_path(name)).array)
        if labels.shape != image.shape:
            raise InvalidInputError(f"label map {labels.shape} and image {image.shape} differ in size",
                                    self.label_path(name))
        return image, instances_from_label_map(labels, where=self.label_path(name))


def make_split(ids: Sequence[str], n_test: int = N_TEST, seed: int = SPLIT_SEED) -> Any:
    """The seeded train/test split: sorted ids, ``default_rng(seed).permutation``, the first ``n_test`` for test."""
    from biomedai.data.splits import Split

    ids = sorted(ids)
    if not 0 < n_test < len(ids):
        raise InvalidInputError(f"cannot hold out {n_test} of {len(ids)} images")
    order = np.random.default_rng(seed).permutation(len(ids))
    test = sorted(ids[i] for i in order[:n_test])
    train = sorted(ids[i] for i in order[n_test:])
    return Split({"train": train, "test": test}, seed=seed, method="sorted ids, numpy default_rng(seed)."
                 f"permutation, first {n_test} -> test",
                 info={"data": "UFBA-425 subset (../shared/data/teeth/ufba_subset)",
                       "note": "cate4-00107 duplicates cate4-00101, which is held out of this subset"})


def load_ufba_split(path: str | Path = SPLIT_PATH) -> Any:
    """The fixed split written in the repository (``splits/ufba_split.json``)."""
    from biomedai.data.splits import load_split

    return load_split(path)


def split_ids(dataset: UFBADataset, part: str, split_path: str | Path | None = None) -> list[str]:
    """Ids of ``part`` (``train``/``test``/``all``) present in ``dataset``; unknown ids in the split are skipped."""
    if part == "all":
        return list(dataset.ids)
    split = load_ufba_split(split_path or SPLIT_PATH)
    if part not in split.parts:
        raise InvalidInputError(f"the split has no part {part!r} (parts: {sorted(split.parts)})", split_path)
    present = set(dataset.ids)
    ids = [str(i) for i in split.parts[part] if str(i) in present]
    if not ids:
        raise InvalidInputError(f"no image of the {part!r} split is in the data set", dataset.root)
    return ids


# --------------------------------------------------------------------------------------------- COCO JSON
def coco_categories() -> list[dict[str, Any]]:
    return [{"id": fdi, "name": str(fdi), "supercategory": "tooth"} for fdi in FDI_NUMBERS] + [
        {"id": 0, "name": "tooth (unnumbered)", "supercategory": "tooth"}]


def coco_document(images: Sequence[tuple[str, tuple[int, int]]], instances: Sequence[ToothInstances],
                  info: dict[str, Any] | None = None) -> dict[str, Any]:
    """COCO instances (polygons, boxes as x, y, w, h; ``category_id`` = FDI number, 0 = not numbered)."""
    from biomedai.io.annotations import label_map_to_polygons

    doc: dict[str, Any] = {"info": info or {}, "images": [], "annotations": [], "categories": coco_categories()}
    ann_id = 1
    for image_id, ((name, (h, w)), teeth) in enumerate(zip(images, instances), start=1):
        doc["images"].append({"id": image_id, "file_name": name, "height": int(h), "width": int(w)})
        for k in range(len(teeth)):
            mask = teeth.masks[k]
            polygons = [a.coordinates.round(2).ravel().tolist() for a in label_map_to_polygons(mask.astype(np.uint8))]
            x1, y1, x2, y2 = (float(v) for v in teeth.boxes[k])
            ann = {"id": ann_id, "image_id": image_id, "category_id": int(teeth.fdi[k]),
                   "segmentation": polygons, "area": int(mask.sum()), "bbox": [x1, y1, x2 - x1, y2 - y1],
                   "iscrowd": 0}
            if teeth.scores is not None:
                ann["score"] = round(float(teeth.scores[k]), 4)
            doc["annotations"].append(ann)
            ann_id += 1
    return doc


def write_coco_json(path: str | Path, images: Sequence[tuple[str, tuple[int, int]]],
                    instances: Sequence[ToothInstances], info: dict[str, Any] | None = None) -> Path:
    """Write :func:`coco_document` atomically."""
    from biomedai.utils import write_json_atomic

    return write_json_atomic(path, coco_document(images, instances, info))
