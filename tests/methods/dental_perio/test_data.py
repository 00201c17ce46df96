"""Radiograph checks, label maps -> tooth instances, COCO JSON, and the fixed UFBA split."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from biomedai.errors import InvalidInputError
from biomedai.methods.dental_perio.data import (N_TEST, SPLIT_PATH, UFBADataset, coco_document,
                                                instances_from_label_map, load_ufba_split, make_split,
                                                read_panoramic, write_coco_json)
from tests.conftest import shared_subdir


def label_map() -> np.ndarray:
    lm = np.zeros((40, 60), np.uint8)
    lm[5:20, 10:16] = 11
    lm[5:20, 20:27] = 21
    lm[22:38, 10:15] = 41
    return lm


def test_instances_from_label_map() -> None:
    teeth = instances_from_label_map(label_map())
    assert teeth.fdi.tolist() == [11, 21, 41]
    assert teeth.boxes.tolist() == [[10, 5, 16, 20], [20, 5, 27, 20], [10, 22, 15, 38]]
    assert teeth.masks.shape == (3, 40, 60) and teeth.masks.sum() == 15 * 6 + 15 * 7 + 16 * 5
    np.testing.assert_array_equal(teeth.label_map(), label_map())


def test_labels_outside_fdi_are_named() -> None:
    lm = label_map()
    lm[30:35, 40:45] = 19
    lm[0:3, 50:55] = 52  # a deciduous number
    with pytest.raises(InvalidInputError, match=r"lm\.png: labels \[19, 52\] are not FDI"):
        instances_from_label_map(lm, where="lm.png")


def _save(array: np.ndarray, path: Path) -> Path:
    PILImage.fromarray(array).save(path)
    return path


def test_read_panoramic_checks(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 255, (32, 48), dtype=np.uint8)
    image, notes = read_panoramic(_save(np.repeat(grey[..., None], 3, -1), tmp_path / "grey_rgb.png"))
    np.testing.assert_array_equal(image, grey)
    assert notes == []
    colour = rng.integers(0, 255, (32, 48, 3), dtype=np.uint8)
    with pytest.raises(InvalidInputError, match=r"colour\.png: a colour image"):
        read_panoramic(_save(colour, tmp_path / "colour.png"))
    deep = (np.linspace(0, 40000, 32 * 48).reshape(32, 48)).astype(np.uint16)
    image, notes = read_panoramic(_save(deep, tmp_path / "deep.png"))
    assert image.dtype == np.uint8 and image.max() == 255 and "uint16 image windowed" in notes[0]
    with pytest.raises(InvalidInputError, match="blank"):
        read_panoramic(_save(np.full((32, 48), 7, np.uint8), tmp_path / "blank.png"))


def test_coco_document_round_trip() -> None:
    teeth = instances_from_label_map(label_map())
    doc = coco_document([("a.png", (40, 60))], [teeth])
    assert [c["id"] for c in doc["categories"]][:3] == [11, 12, 13]
    anns = doc["annotations"]
    assert [a["category_id"] for a in anns] == [11, 21, 41]
    assert anns[0]["bbox"] == [10.0, 5.0, 6.0, 15.0] and anns[0]["area"] == 90
    from skimage.draw import polygon

    for ann, mask in zip(anns, teeth.masks):  # the polygon fills the mask again (outline traced between pixels)
        xy = np.asarray(ann["segmentation"][0]).reshape(-1, 2)
        filled = np.zeros(mask.shape, bool)
        rr, cc = polygon(xy[:, 1], xy[:, 0], mask.shape)
        filled[rr, cc] = True
        assert (filled & mask).sum() / (filled | mask).sum() > 0.9


def test_write_coco_json(tmp_path: Path) -> None:
    teeth = instances_from_label_map(label_map())
    teeth.scores = np.array([0.9, 0.8, 0.7])
    path = write_coco_json(tmp_path / "x.json", [("a.png", (40, 60))], [teeth])
    doc = json.loads(path.read_text())
    assert [a["score"] for a in doc["annotations"]] == [0.9, 0.8, 0.7]


def test_split_file_is_fixed() -> None:
    split = load_ufba_split()
    assert len(split["train"]) == 290 and len(split["test"]) == N_TEST
    assert not set(split["train"]) & set(split["test"])
    again = make_split(split["train"] + split["test"])
    assert again.parts == split.parts, f"{SPLIT_PATH} no longer matches its seeded rule"


def test_ufba_dataset(shared_data: Path) -> None:
    root = shared_subdir(shared_data, "teeth", "ufba_subset")
    ds = UFBADataset(root)
    assert len(ds) == 365 and set(ds.ids) == set(load_ufba_split()["train"]) | set(load_ufba_split()["test"])
    image, teeth = ds.load("cate1-00002")
    assert image.shape == (512, 512) and image.dtype == np.uint8
    assert sorted(teeth.fdi.tolist()) == sorted(int(v) for v in np.unique(
        np.asarray(PILImage.open(root / "labels" / "cate1-00002.png"))) if v)
    assert len(teeth) == 32 and (teeth.boxes[:, 2] > teeth.boxes[:, 0]).all()


def test_dataset_folder_checks(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="images/ and labels/"):
        UFBADataset(tmp_path)
