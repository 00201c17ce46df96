"""The FDI U-Net (the bundled teeth model): flip class swap, network shape, instance splitting, augmentation."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from biomedai.methods.dental_perio.data import CLASS_TO_FDI, FDI_TO_CLASS
from biomedai.methods.dental_perio.fdi_unet import FLIP_CLASS, N_CLASSES, FDIUNet, instances_from_probabilities


def test_flip_swaps_quadrants_and_is_an_involution() -> None:
    assert N_CLASSES == 33 and FLIP_CLASS[0] == 0
    assert np.array_equal(FLIP_CLASS[FLIP_CLASS], np.arange(N_CLASSES))
    for a, b in ((11, 21), (18, 28), (36, 46), (41, 31)):
        assert CLASS_TO_FDI[int(FLIP_CLASS[FDI_TO_CLASS[a]])] == b


def test_network_keeps_the_input_size() -> None:
    net = FDIUNet((8, 16, 32)).eval()
    with torch.no_grad():
        out = net(torch.zeros(2, 1, 96, 64))
    assert tuple(out.shape) == (2, N_CLASSES, 96, 64)


def test_instances_one_per_class_component_with_known_answer() -> None:
    probs = np.zeros((N_CLASSES, 40, 60), np.float32)
    probs[0] = 1.0
    cls11, cls21 = FDI_TO_CLASS[11], FDI_TO_CLASS[21]
    for cls, (r, c), p in ((cls11, (5, 5), 0.9), (cls21, (5, 40), 0.8), (cls11, (25, 40), 0.95)):
        probs[0, r:r + 10, c:c + 8] = 0.0
        probs[cls, r:r + 10, c:c + 8] = p
    probs[cls21, 30:32, 2:4] = 1.0  # a 4-pixel speck: below min_pixels
    probs[0, 30:32, 2:4] = 0.0
    teeth = instances_from_probabilities(probs, (80, 120), min_pixels=10, secondary_weight=0.5)
    assert sorted(teeth.fdi.tolist()) == [11, 11, 21]
    assert teeth.masks.shape == (3, 80, 120) and all(m.sum() == 20 * 16 for m in teeth.masks)
    scores = dict(zip(zip(teeth.fdi.tolist(), teeth.boxes[:, 1].tolist()), teeth.scores.tolist()))
    assert scores[(21, 10.0)] == pytest.approx(0.8)
    # both 11 components are the same size: one keeps its probability, the other is halved
    assert sorted(round(v, 3) for k, v in scores.items() if k[0] == 11) in ([0.45, 0.95], [0.475, 0.9])
    assert np.array_equal(teeth.boxes[teeth.fdi == 21][0], [80.0, 10.0, 96.0, 30.0])


def test_flip_augmentation_keeps_numbers_on_the_right_side(tmp_path) -> None:
    from PIL import Image as PILImage

    from biomedai.methods.dental_perio.data import UFBADataset
    from biomedai.methods.dental_perio.fdi_unet_training import FDIFilms

    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    image = np.full((64, 64), 40, np.uint8)
    label = np.zeros((64, 64), np.uint8)
    label[10:30, 4:12], label[10:30, 40:48] = 11, 21  # 11 on the image left, as on a standard film
    image[label > 0] = 200
    PILImage.fromarray(image).save(tmp_path / "images" / "a.png")
    PILImage.fromarray(label).save(tmp_path / "labels" / "a.png")
    films = FDIFilms(UFBADataset(tmp_path), ["a"], 64, augment=True, seed=0)
    for _ in range(8):
        x, y = films[0]
        assert x.shape == (1, 64, 64) and y.shape == (1, 64, 64)
        cols11 = np.nonzero((y[0] == FDI_TO_CLASS[11]).numpy())[1]
        cols21 = np.nonzero((y[0] == FDI_TO_CLASS[21]).numpy())[1]
        assert len(cols11) and len(cols21) and cols11.mean() < cols21.mean()
