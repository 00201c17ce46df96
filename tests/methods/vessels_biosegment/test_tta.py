"""Flip test-time augmentation of the U-Net and its validation choice."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from biomedai.methods.vessels_biosegment import training
from biomedai.methods.vessels_biosegment.segmentation import vessel_probability


def _asymmetric_net() -> torch.nn.Module:
    net = torch.nn.Conv2d(1, 1, 3, padding=1, bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[[[0.0, 0.0, 0.0], [0.0, 1.0, 4.0], [0.0, -3.0, 0.0]]]]))
    return net


def test_tta_is_the_mean_of_the_four_flipped_predictions_flipped_back():
    rng = np.random.default_rng(0)
    x = rng.random((64, 64)).astype(np.float32)
    net = _asymmetric_net()
    plain = vessel_probability(net, x, tile=64)
    flips = [lambda a: a, lambda a: a[:, ::-1], lambda a: a[::-1, :], lambda a: a[::-1, ::-1]]
    expected = np.mean([f(vessel_probability(net, np.ascontiguousarray(f(x)), tile=64)) for f in flips], axis=0)
    got = vessel_probability(net, x, tile=64, tta=True)
    assert np.allclose(got, expected, atol=1e-5)
    assert not np.allclose(got, plain, atol=1e-3)        # the kernel is not flip-symmetric, so TTA changes it


def test_choose_tta_switches_it_on_only_when_the_validation_dice_is_higher(monkeypatch):
    truth = np.zeros((8, 8), bool)
    truth[2:6, 2:6] = True
    case = training.PreparedCase("v", np.zeros((8, 8), np.float32), truth, np.ones((8, 8), bool))
    without = np.where(truth, 0.7, 0.3).astype(np.float32)
    without[2, 2] = 0.1                                   # one missed vessel pixel: best Dice 30/31 without TTA
    good, bad = truth.astype(np.float32), np.full((8, 8), 0.5, np.float32)
    for with_tta, expect in ((good, True), (bad, False), (without, False)):   # a tie keeps it off
        monkeypatch.setattr(training, "vessel_probability",
                            lambda net, x, tta=False, p=with_tta: p if tta else without)
        chosen = training.choose_tta(None, [case])
        assert chosen["tta"] is expect
        assert chosen["val_dice"] == pytest.approx(max(chosen["val_dice_with_tta"], chosen["val_dice_without_tta"]))
