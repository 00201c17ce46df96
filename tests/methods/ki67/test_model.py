"""Table 2 network, the padding-free variant, and their FCN forms."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from biomedai.errors import ConfigError
from biomedai.methods.ki67.config import Ki67Config
from biomedai.methods.ki67.model import (
    FlipPatchDataset,
    Ki67ResNet18,
    Ki67ValidResNet18,
    class_weights,
    load_classifier,
    map_to_classes,
    probability_map,
)
from biomedai.nn.fcn import classifier_to_fcn, fcn_map_tiled, sliding_window_classify


def _eval_model(cls: type = Ki67ResNet18) -> torch.nn.Module:
    torch.manual_seed(0)
    model = cls()
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


def test_valid_variant_shapes_and_receptive_field():
    model = _eval_model(Ki67ValidResNet18)
    assert tuple(model.trunk(torch.zeros(1, 3, 64, 64)).shape) == (1, 512, 1, 1) and model.fc.in_features == 512
    # receptive field: a change at pixel (62, 62) reaches the output, one at (63, 63) does not (field 63 px)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        base = model(x)
        for (r, c), reaches in (((62, 62), True), ((0, 0), True), ((63, 63), False)):
            y = x.clone()
            y[..., r, c] += 0.5
            assert bool((model(y) - base).abs().max() > 0) == reaches, (r, c)


def test_valid_variant_fcn_map_equals_patchwise_classification_on_random_image():
    """Issue 4: every FCN map position equals the classifier on the 64x64 patch at (32 i, 32 j), to float tolerance."""
    model = _eval_model(Ki67ValidResNet18)
    logits_fcn = classifier_to_fcn(model.trunk, model.fc, 64).eval()
    assert logits_fcn.stride == 32
    image = torch.rand(3, 64 + 32 * 6 + 21, 64 + 32 * 9 + 7, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        dense = logits_fcn(image[None])[0]
    naive = sliding_window_classify(model, image, 64, 32, batch_size=16)
    assert dense.shape == naive.shape == (3, 7, 10)  # exactly the windows inside the image, no edge extras
    torch.testing.assert_close(dense, naive, rtol=1e-4, atol=1e-4)
    assert float((dense - naive).abs().max()) < 1e-4
    assert bool((dense.argmax(0) == naive.argmax(0)).all())
    i, j = 4, 7  # geometry by hand
    with torch.no_grad():
        by_hand = model(image[None, :, 32 * i:32 * i + 64, 32 * j:32 * j + 64])[0]
    torch.testing.assert_close(dense[:, i, j], by_hand, rtol=1e-4, atol=1e-4)


def test_padded_variant_fcn_is_only_approximately_patchwise():
    """The reason the valid variant exists: with zero padding interior positions differ from a lone patch."""
    model = _eval_model(Ki67ResNet18)
    image = torch.rand(3, 160, 192, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        dense = classifier_to_fcn(model.trunk, model.fc, 64).eval()(image[None])[0, :, :4, :5]
    naive = sliding_window_classify(model, image, 64, 32)
    assert float((dense - naive).abs().max()) > 1e-3


def test_valid_variant_tiled_map_equals_one_pass():
    model = _eval_model(Ki67ValidResNet18)
    rgb = np.random.default_rng(1).integers(0, 255, (227, 291, 3), dtype=np.uint8)
    whole = probability_map(model, rgb, Ki67Config())
    for tile in (96, 160):  # tiles of 2 and 4 map positions, plus ragged last tiles
        tiled = probability_map(model, rgb, Ki67Config(fcn_tile=tile))
        assert whole.shape == tiled.shape == (3, 6, 8)
        np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-5)  # float rounding only


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


def test_load_classifier_reads_the_architecture_from_the_weights(tmp_path):
    from biomedai.train.checkpoint import save_weights

    for cls, arch in ((Ki67ValidResNet18, "resnet18_valid"), (Ki67ResNet18, "resnet18")):
        model = _eval_model(cls)
        save_weights(model, tmp_path / f"{arch}.pt")
        other = "resnet18" if arch == "resnet18_valid" else "resnet18_valid"
        loaded = load_classifier(tmp_path / f"{arch}.pt", Ki67Config(architecture=other))
        assert isinstance(loaded, cls)
        x = torch.rand(2, 3, 64, 64)
        with torch.no_grad():
            torch.testing.assert_close(loaded(x), model(x))


def test_config_refuses_pretrained_valid_variant_and_unknown_keys():
    with pytest.raises(ConfigError, match="pretrained"):
        Ki67Config.from_dict({"architecture": "resnet18_valid", "pretrained": True})
    with pytest.raises(ConfigError, match="architecture"):
        Ki67Config.from_dict({"architecture": "vgg"})
    with pytest.raises(ConfigError, match="training_views"):
        Ki67Config.from_dict({"training_views": ["ihc"]})


def test_class_weights_and_augmentation():
    w = class_weights(np.array([0] * 8 + [1] * 2 + [2] * 6))
    np.testing.assert_allclose(w.numpy(), [16 / 24, 16 / 6, 16 / 18])
    patch = np.random.default_rng(0).integers(0, 255, (1, 64, 64, 3), dtype=np.uint8)
    torch.manual_seed(0)
    data = FlipPatchDataset(patch, np.array([1]), "dihedral", colour_jitter=0.1)
    x0 = data.x[0]
    seen = set()
    for _ in range(40):
        x, y = data[0]
        assert x.shape == x0.shape and int(y) == 1 and 0 <= float(x.min()) and float(x.max()) <= 1
        assert not torch.equal(x, x0)  # the jitter changes every draw
        seen.add(tuple(x.mean(0)[0, :3].round(decimals=1).tolist()))
    assert len(seen) > 4
    plain = FlipPatchDataset(patch, np.array([1]), "none")
    assert torch.equal(plain[0][0], x0)
