"""The classifier -> FCN conversion: the map must equal patch-wise classification where that is exact."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from biomedai.errors import InvalidInputError
from biomedai.nn.fcn import classifier_to_fcn, fcn_map_tiled, linear_to_conv, sliding_window_classify


class _Classifier(nn.Module):
    def __init__(self, trunk: nn.Module, fc: nn.Linear) -> None:
        super().__init__()
        self.trunk, self.fc = trunk, fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.trunk(x), 1))


def _valid_trunk() -> nn.Module:
    """A padding-free trunk with BN and pooling: stride 8, 32x32 patch -> 64 x 2 x 2 features."""
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2), nn.BatchNorm2d(16), nn.ReLU(),   # 32 -> 15
        nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),                # 15 -> 13 -> 6
        nn.Conv2d(32, 64, 3, stride=2), nn.ReLU(),                       # 6 -> 2
    )


def _randomised_bn(model: nn.Module) -> nn.Module:
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def test_fcn_map_equals_patchwise_classifier_on_random_image():
    torch.manual_seed(0)
    trunk = _valid_trunk()
    fc = nn.Linear(64 * 2 * 2, 3)
    classifier = _randomised_bn(_Classifier(trunk, fc))
    fcn = classifier_to_fcn(trunk, fc, patch_size=32, softmax=True).eval()
    assert fcn.stride == 8
    image = torch.rand(3, 101, 77)
    with torch.no_grad():
        dense = fcn(image[None])[0]
    naive = sliding_window_classify(classifier, image, 32, fcn.stride, batch_size=17, softmax=True)
    rows, cols = fcn.output_size(101, 77)
    assert naive.shape == (3, rows, cols) and dense.shape[1] >= rows and dense.shape[2] >= cols
    torch.testing.assert_close(dense[:, :rows, :cols], naive, rtol=1e-5, atol=1e-6)
    # spot check the geometry by hand: position (i, j) <-> window at (8i, 8j)
    i, j = 5, 3
    by_hand = torch.softmax(classifier(image[None, :, 8 * i:8 * i + 32, 8 * j:8 * j + 32]), 1)[0]
    torch.testing.assert_close(dense[:, i, j], by_hand, rtol=1e-5, atol=1e-6)


def test_tiled_fcn_equals_one_pass():
    torch.manual_seed(1)
    trunk = _randomised_bn(_valid_trunk())
    fcn = classifier_to_fcn(trunk, nn.Linear(256, 2), patch_size=32).eval()
    image = torch.rand(3, 150, 133)
    whole = fcn_map_tiled(fcn, image)
    for tile in (40, 64, 100):
        torch.testing.assert_close(fcn_map_tiled(fcn, image, tile=tile), whole, rtol=1e-5, atol=1e-5)


def test_padded_resnet_patch_input_is_exact():
    """For ResNet18 (zero padding) the FCN equals the classifier exactly on a single patch."""
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(2)
    net = torchvision.models.resnet18(num_classes=3)
    trunk = nn.Sequential(*list(net.children())[:-2])
    fc = nn.Linear(512 * 2 * 2, 3)
    classifier = _randomised_bn(_Classifier(trunk, fc))
    fcn = classifier_to_fcn(trunk, fc, patch_size=64).eval()
    assert fcn.stride == 32 and fcn.output_size(3864, 7556) == (119, 235)
    x = torch.rand(4, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(fcn(x)[:, :, 0, 0], classifier(x), rtol=1e-4, atol=1e-5)


def test_linear_to_conv_checks_sizes_and_fcn_refuses_small_input():
    with pytest.raises(InvalidInputError, match="inputs"):
        linear_to_conv(nn.Linear(10, 2), (4, 2, 2))
    fcn = classifier_to_fcn(_valid_trunk(), nn.Linear(256, 2), patch_size=32).eval()
    with pytest.raises(InvalidInputError, match="H, W >="):
        fcn(torch.zeros(1, 3, 16, 64))
    with pytest.raises(InvalidInputError, match="smaller"):
        sliding_window_classify(fcn, torch.zeros(3, 20, 20), 32, 8)
