"""Bags with coordinates (on the data layer's tissue mask), seam-free stitching, MIL top-1 selection."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.data.tissue import tissue_mask
from biomedai.errors import InvalidInputError
from biomedai.io.annotations import Annotation
from biomedai.methods.virtual_ihc.stitch import translate_image
from biomedai.methods.virtual_ihc.tiler import bag_instances, bag_labels_from_regions, make_bags, read_bag_label_csv


def _slide() -> np.ndarray:
    img = np.full((500, 700, 3), 235, np.uint8)  # glass
    img[50:450, 100:400] = (150, 80, 160)        # tissue block
    return img


def test_bags_hold_instances_with_coordinates() -> None:
    img = _slide()
    bags = make_bags(img, tissue_mask(img), bag_size=200, tile_size=50, min_tissue=0.5, instance_min_tissue=0.5)
    assert sorted((b.x, b.y) for b in bags) == [(0, 200), (200, 0), (200, 200), (200, 400)]
    for b in bags:
        assert b.tissue >= 0.5
        for x, y in b.instances:
            assert b.x <= x and x + 50 <= b.x + b.width and b.y <= y and y + 50 <= b.y + b.height
    inst = bag_instances(img, bags[0], 50)
    x0, y0 = bags[0].instances[3]
    assert inst.shape == (len(bags[0].instances), 50, 50, 3) and np.array_equal(inst[3], img[y0:y0 + 50, x0:x0 + 50])
    with pytest.raises(InvalidInputError, match="smaller than one"):
        make_bags(img[:40], tissue_mask(img)[:40], 200, 50)


def test_paper_bag_has_100_instances() -> None:
    img = np.full((2240, 2240, 3), 120, np.uint8)
    img[0, 0] = 255
    bags = make_bags(img, np.ones(img.shape[:2], bool))
    assert len(bags) == 1 and len(bags[0].instances) == 100


def test_bag_labels_from_csv_and_regions(tmp_path) -> None:
    csv = tmp_path / "labels.csv"
    csv.write_text("image,x,y,label\na.png,0,0,tumour\na.png,200,0,Normal\n")
    assert read_bag_label_csv(csv) == {("a.png", 0, 0): 1, ("a.png", 200, 0): 0}
    csv.write_text("image,x,y,label\na.png,0,0,maybe\n")
    with pytest.raises(InvalidInputError, match="neither tumour"):
        read_bag_label_csv(csv)
    img = _slide()
    bags = make_bags(img, tissue_mask(img), bag_size=200, tile_size=50, min_tissue=0.3)
    tumour = Annotation("polygon", [[110, 60], [180, 60], [180, 120]], label="Tumor")
    normal = Annotation("rectangle", [[0, 0], [699, 499]], label="normal")
    labelled = bag_labels_from_regions(bags, [tumour, normal], img.shape[:2])
    assert {(b.x, b.y): b.label for b in labelled}[(0, 0)] == 1
    assert sum(b.label == 1 for b in labelled) == 1 and all(b.label is not None for b in labelled)


def test_constant_image_stays_constant_across_tile_borders() -> None:
    img = np.full((300, 410, 3), (180, 120, 200), np.uint8)
    shift = lambda x, c: np.clip(x * 0.5 - 0.2, -1, 1)  # noqa: E731 - a colour change, the same in every tile
    out, probs = translate_image(img, shift, lambda x: np.full(len(x), 0.7), tile=64, overlap=16)
    expected = np.round(((img / 127.5 - 1) * 0.5 - 0.2 + 1) * 127.5)
    assert np.abs(out.astype(int) - expected).max() <= 1
    assert probs.shape == (6, 9) and np.allclose(probs, 0.7)


def test_blending_hides_a_generator_border_artefact() -> None:
    """A generator that darkens the 4 px rim of every tile (what zero padding does) leaves dark lines at the
    tile borders without overlap; with overlap and tent weights the rim gets almost no weight."""

    def rim_darkening(x: np.ndarray, c: np.ndarray) -> np.ndarray:
        out = x.copy()
        out[:, :, :4], out[:, :, -4:], out[:, :, :, :4], out[:, :, :, -4:] = -1, -1, -1, -1
        return out

    img = np.full((160, 224, 3), 200, np.uint8)
    no_blend, _ = translate_image(img, rim_darkening, lambda x: np.zeros(len(x)), tile=64, overlap=0, blend="constant")
    blended, _ = translate_image(img, rim_darkening, lambda x: np.zeros(len(x)), tile=64, overlap=32, blend="linear")
    inner = (slice(8, -8), slice(8, -8))  # the image's own outer rim is darkened in both
    assert int(no_blend[inner].min()) == 0               # dark seams inside the image
    seam = np.abs(blended[inner].astype(int) - 200)
    assert seam.max() <= 50 and seam.mean() < 6  # the rim's tent weight is <= 0.11: a 200-level seam drops to <= 22
                                                 # (<= 41 where two rims cross)


def test_reflect_padded_generator_keeps_a_constant_image_constant() -> None:
    torch = pytest.importorskip("torch")
    from biomedai.methods.virtual_ihc.networks import TableTwoGenerator

    torch.manual_seed(0)
    reflect = TableTwoGenerator(3, 3, width=4, res_blocks=1, padding_mode="reflect").eval()
    img = np.full((128, 192, 3), (170, 110, 190), np.uint8)
    with torch.no_grad():
        const, _ = translate_image(img, lambda x, c: reflect(torch.from_numpy(x)).numpy(), lambda x: np.zeros(len(x)),
                                   tile=64, overlap=16)
    spread = const.reshape(-1, 3).max(0).astype(int) - const.reshape(-1, 3).min(0)
    assert spread.max() <= 2  # a constant tile maps to a constant tile (up to rounding): no seam


def test_translate_rejects_bad_tile_and_grey_image() -> None:
    with pytest.raises(InvalidInputError, match="multiple of 4"):
        translate_image(np.zeros((64, 64, 3), np.uint8), lambda x, c: x, lambda x: np.zeros(len(x)), tile=30)
    with pytest.raises(InvalidInputError, match="RGB"):
        translate_image(np.zeros((64, 64), np.uint8), lambda x, c: x, lambda x: np.zeros(len(x)))


def test_select_top_k() -> None:
    from biomedai.methods.virtual_ihc.mil import select_top_k

    p = [np.array([0.2, 0.8, 0.8, 0.1]), np.array([0.5]), np.array([0.3, 0.9, 0.4])]
    assert [a.tolist() for a in select_top_k(p, 1)] == [[1], [0], [1]]
    assert [a.tolist() for a in select_top_k(p, 2)] == [[1, 2], [0], [1, 2]]


def test_mil_learns_to_pick_the_one_tumour_instance() -> None:
    """Tumour bags hold one dark-purple instance among pale ones; normal bags only pale ones. After top-1 MIL
    the tumour bag's selected instance is the dark one and bag probabilities separate the classes."""
    pytest.importorskip("torch")
    from biomedai.methods.virtual_ihc.config import VirtualIHCConfig
    from biomedai.methods.virtual_ihc.mil import bag_probabilities, select_top_k, train_mil

    rng = np.random.default_rng(0)

    def bag(tumour: bool) -> tuple[np.ndarray, int]:
        tiles = rng.integers(190, 230, (6, 16, 16, 3)).astype(np.uint8)
        k = int(rng.integers(6))
        if tumour:
            tiles[k] = rng.integers(40, 90, (16, 16, 3))
        return tiles, k

    train = [bag(i % 2 == 0) for i in range(16)]
    val = [bag(i % 2 == 0) for i in range(6)]
    cfg = VirtualIHCConfig(mil_width=4, mil_layers=(1, 1, 1, 1), mil_input_size=16, mil_epochs=12, mil_lr=3e-3,
                           mil_batch_size=8)
    result = train_mil([b for b, _ in train], [1 - i % 2 for i in range(16)], [b for b, _ in val],
                       [1 - i % 2 for i in range(6)], cfg)
    probs = bag_probabilities(result.model, [b for b, _ in val], 16)
    chosen = select_top_k(probs, 1)
    assert all(int(chosen[i][0]) == val[i][1] for i in range(0, 6, 2))
    assert min(probs[i].max() for i in (0, 2, 4)) > max(probs[i].max() for i in (1, 3, 5))
    assert result.best_epoch >= 0 and len(result.history) == 12
