"""Wang et al. classifiers (Table 3 parameter counts, shapes) and the spec 3.5 pre-processing."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from biomedai.errors import InvalidInputError
from biomedai.methods.nmosd_ms.config import NmosdMsConfig
from biomedai.methods.nmosd_ms.networks import (TwoViewCompression, TwoViewResNet, build_classifier,
                                                count_parameters)
from biomedai.methods.nmosd_ms.preprocess import (classifier_input, crop_kernel, normalise_flair,
                                                  resize_volume, shift_flip)


@pytest.mark.parametrize("arch, expected", [("twoview-r18", 11_475_330), ("twoview-r34", 21_583_490),
                                            ("3d-r18", 33_161_986), ("3d-r34", 63_471_618)])
def test_parameter_counts_equal_table3(arch, expected):
    assert count_parameters(build_classifier(arch)) == expected


def test_compression_block_shapes_and_views_differ():
    block = TwoViewCompression(98).eval()
    x = torch.randn(2, 1, 98, 98, 98)
    y = block(x)
    assert y.shape == (2, 64, 33, 33)
    # view 1 reads h as channels, view 2 reads w: transposing h and w swaps what the two halves see
    block.view_w.load_state_dict(block.view_h.state_dict())
    y = block(x)
    yt = block(x.transpose(2, 3))
    assert torch.allclose(y[:, :32], yt[:, 32:], atol=1e-5)
    assert not torch.allclose(y[:, :32], y[:, 32:], atol=1e-3)
    with pytest.raises(ValueError):
        block(torch.randn(1, 1, 100, 100, 100))


def test_twoview_forward_dropout_and_3d_forward():
    model = TwoViewResNet(18).eval()
    assert model.dropout.p == pytest.approx(0.15)
    assert model(torch.randn(1, 1, 98, 98, 98)).shape == (1, 2)
    net3d = build_classifier("3d-r18").eval()
    assert net3d(torch.randn(1, 1, 40, 40, 40)).shape == (1, 2)


def test_crop_kernel_applied_identically_to_flair_and_mask():
    rng = np.random.default_rng(0)
    flair = np.zeros((60, 70, 50), np.float32)
    flair[10:50, 5:65, 8:40] = rng.uniform(1, 2, (40, 60, 32))
    mask = np.zeros(flair.shape, bool)
    mask[20:25, 30:34, 10:12] = True
    k = crop_kernel(flair)
    assert k.start == (10, 5, 8) and k.stop == (50, 65, 40)
    fc, mc = k.apply(flair), k.apply(mask)
    assert fc.shape == mc.shape == (40, 60, 32)
    assert np.array_equal(np.argwhere(mc).min(0), [10, 25, 2])  # lesion moved by exactly the crop start
    x = classifier_input(flair, mask, "wmh_mask", side=100)
    assert x.shape == (100, 100, 100) and set(np.unique(x)) == {0.0, 1.0}
    # the lesion's centre lands where the resize maps it: (22.5-10)/40, (32-5)/60, (11-8)/32 of the side
    centre = np.argwhere(x > 0).mean(0) + 0.5
    assert np.allclose(centre, [100 * 12.5 / 40, 100 * 27 / 60, 100 * 3 / 32], atol=1.5)
    y = classifier_input(flair, mask, "flair_masked_by_wmh", side=100)
    assert np.array_equal(y > 0, x > 0)
    with pytest.raises(InvalidInputError, match="grid"):
        k.apply(mask[:-1])


def test_resize_mask_nearest_image_linear_and_bad_input():
    m = np.zeros((10, 10, 10), bool); m[2:5, 2:5, 2:5] = True
    r = resize_volume(m, 20, is_mask=True)
    assert r.dtype == bool and r.sum() == 27 * 8
    img = np.arange(1000, dtype=np.float32).reshape(10, 10, 10)
    assert resize_volume(img, 20).shape == (20, 20, 20)
    with pytest.raises(InvalidInputError, match="3-D"):
        crop_kernel(np.ones((5, 5)))
    with pytest.raises(InvalidInputError, match="background"):
        crop_kernel(np.zeros((5, 5, 5)))


def test_shift_flip_and_normalise():
    vol = np.arange(100 ** 3, dtype=np.float32).reshape(100, 100, 100)
    centre = shift_flip(vol, 98, None)
    assert centre.shape == (98, 98, 98) and centre[0, 0, 0] == vol[1, 1, 1]
    rng = np.random.default_rng(1)
    seen = {shift_flip(vol, 98, rng, flip_probability=0.5)[0, 0, 0] for _ in range(30)}
    assert len(seen) > 3  # shifts and flips change the corner voxel
    brain = np.zeros((8, 8, 8), bool); brain[2:6, 2:6, 2:6] = True
    z = normalise_flair(np.random.default_rng(2).normal(5, 3, (8, 8, 8)), brain)
    assert abs(z[brain].mean()) < 1e-5 and abs(z[brain].std() - 1) < 1e-4 and not z[~brain].any()


def test_config_defaults_are_papers():
    cfg = NmosdMsConfig()
    assert (cfg.resize_side, cfg.dropout, cfg.lr, cfg.folds, cfg.repeats) == (100, 0.15, 0.01, 5, 15)
    with pytest.raises(Exception):
        NmosdMsConfig.from_dict({"arch": "vgg"})
