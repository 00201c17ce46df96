"""SFCM on a two-class phantom with known answer."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.methods.dce_nact.segmentation import spatial_fcm
from biomedai.metrics.segmentation import dice


def _phantom(noise=0.35, seed=0):
    z, y, x = np.meshgrid(*[np.arange(40)] * 3, indexing="ij")
    truth = ((z - 20) ** 2 / 64 + (y - 18) ** 2 / 100 + (x - 21) ** 2 / 49) <= 1
    rng = np.random.default_rng(seed)
    img = 1.0 + truth * 1.0 + rng.normal(0, noise, truth.shape)
    img[30:, 30:, 30:] += 1.0            # a bright structure outside the seed box
    return img, truth


def test_sfcm_two_class_phantom():
    img, truth = _phantom()
    box = ((8, 33), (5, 32), (10, 33))
    res = spatial_fcm(img, box)
    assert res.mask[30:, 30:, 30:].sum() == 0          # nothing outside the box
    d = dice(truth, res.mask)
    assert d > 0.9, d
    # the spatial term helps against noise: plain FCM (q = 0) on the same noisy box does worse
    plain = spatial_fcm(img, box, q=0.0)
    assert d > dice(truth, plain.mask)
    assert res.centroids[1] == pytest.approx(2.0, abs=0.25)


@pytest.mark.parametrize("box", [((0, 50), (0, 10), (0, 10)), ((5, 5), (0, 10), (0, 10)), ((0, 10), (0, 10))])
def test_box_outside_volume(box):
    with pytest.raises(InvalidInputError, match="box"):
        spatial_fcm(np.random.default_rng(0).random((20, 20, 20)), box)


def test_flat_box_is_an_error():
    with pytest.raises(InvalidInputError, match="flat"):
        spatial_fcm(np.ones((10, 10, 10)), ((0, 5), (0, 5), (0, 5)))
