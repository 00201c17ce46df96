"""Table 2 network and its FCN form."""
from __future__ import annotations

import numpy as np
import torch

from biomedai.methods.ki67.config import Ki67Config
from biomedai.methods.ki67.model import Ki67ResNet18, map_to_classes, probability_map


def _eval_model() -> Ki67ResNet18:
    torch.manual_seed(0)
    model = Ki67ResNet18()
    for m in model.modules():  # non-trivial BN statistics, so that eval mode is a real test
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def test_table2_shapes():
    model = _eval_model()
    feats = model.trunk(torch.zeros(1, 3, 64, 64))
    assert tuple(feats.shape) == (1, 512, 2, 2) and model.fc.in_features == 2048 and model.fc.out_features == 3


def test_fcn_equals_classifier_on_each_patch_and_has_stride_32():
    model = _eval_model()
    fcn = model.to_fcn()
    assert fcn.stride == 32
    x = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(fcn(x)[:, :, 0, 0], torch.softmax(model(x), 1), rtol=1e-4, atol=1e-5)
        # map of a 3,864 x 7,556 ROI is 120 x 236 (spec 1.6); checked on a crop with the same remainders
        assert tuple(fcn(torch.zeros(1, 3, 3864 - 32 * 118, 7556 - 32 * 234)).shape[2:]) == (120 - 118, 236 - 234)


def test_probability_map_and_notebook_rule():
    model = _eval_model()
    rgb = np.random.default_rng(0).integers(0, 255, (128, 192, 3), dtype=np.uint8)
    prob = probability_map(model, rgb, Ki67Config())
    assert prob.shape == (3, 3, 5) and np.allclose(prob.sum(0), 1, atol=1e-5)
    tiled = probability_map(model, rgb, Ki67Config(fcn_tile=128))
    assert tiled.shape == prob.shape
    p = np.zeros((3, 1, 4), np.float32)
    p[:, 0, 0] = [0.1, 0.2, 0.7]    # bg > 0.6 -> background
    p[:, 0, 1] = [0.3, 0.35, 0.35]  # pos > 0.3 -> positive
    p[:, 0, 2] = [0.5, 0.25, 0.25]  # else negative
    p[:, 0, 3] = [0.05, 0.31, 0.64]  # background wins over positive
    assert map_to_classes(p, Ki67Config()).tolist() == [[2, 1, 0, 2]]
