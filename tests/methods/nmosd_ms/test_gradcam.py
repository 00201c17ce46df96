"""Grad-CAM of both classifiers (MONAI GradCAM at layer4) on tiny tensors: shapes, range, the two-view map's
back-projection, and known answers from networks wired so that only a bright cube can raise the NMOSD logit."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from biomedai.errors import ConfigError, InvalidInputError
from biomedai.methods.nmosd_ms.config import NmosdMsConfig
from biomedai.methods.nmosd_ms.explain import explanation_maps, gradcam_map, write_map
from biomedai.methods.nmosd_ms.networks import ResNet3D, TwoViewResNet

SIDE = 32
CUBE = (slice(4, 10), slice(20, 26), slice(22, 28))  # h, w, l of the evidence (h != w on purpose)
CENTRE = (7, 23, 25)


def _cube_volume() -> np.ndarray:
    vol = np.zeros((SIDE,) * 3, np.float32)
    vol[CUBE] = 1.0
    return vol


def _positive(module: nn.Module) -> None:
    for p in module.parameters():
        nn.init.constant_(p, 0.01)


def _wire(trunk: nn.Module, first: nn.Module, layer4: nn.Module, fc: nn.Module) -> None:
    """Positive first convolution(s), identity layers 1-3, a positive 1x1 ``layer4`` and fc: the NMOSD logit grows
    with the input's brightness, and only the cube is non-zero."""
    _positive(first)
    trunk.layer1 = trunk.layer2 = trunk.layer3 = nn.Identity()
    trunk.layer4 = layer4
    _positive(layer4)
    _positive(fc)


def _wired_twoview() -> TwoViewResNet:
    model = TwoViewResNet(18, input_side=SIDE)
    _wire(model, model.compression, nn.Conv2d(64, 512, 1), model.fc)
    return model.eval()


def _wired_3d() -> ResNet3D:
    model = ResNet3D(18)
    _wire(model.net, model.net.conv1, nn.Conv3d(64, 512, 1), model.net.fc)
    return model.eval()


def test_gradcam_3d_resnet_finds_the_cube():
    heat = gradcam_map(_wired_3d(), _cube_volume())
    assert heat.shape == (SIDE,) * 3 and heat.min() >= 0 and heat.max() == pytest.approx(1.0)
    peak = np.unravel_index(int(np.argmax(heat)), heat.shape)
    assert all(abs(int(p) - c) <= 4 for p, c in zip(peak, CENTRE)), peak  # a flipped / permuted map fails
    assert heat[CUBE].mean() > 3 * heat[-8:, :8, :8].mean()


def test_gradcam_twoview_backprojects_each_view_along_its_compressed_axis():
    heat = gradcam_map(_wired_twoview(), _cube_volume())
    assert heat.shape == (SIDE,) * 3 and heat.min() >= 0 and heat.max() == pytest.approx(1.0)
    assert np.allclose(heat, heat.transpose(1, 0, 2), atol=1e-6)  # M(h, w, l) = (C(w, l) + C(h, l)) / 2
    assert heat[CENTRE] > 0.8  # the cube itself is among the strongest voxels
    profile = heat[CENTRE[0], CENTRE[1], :]
    assert abs(int(np.argmax(profile)) - CENTRE[2]) <= 4  # the uncompressed axis l keeps its localisation
    assert heat[CENTRE] > 3 * heat[16, 12, 4]  # a voxel away from both cube planes and from its l-slab


@pytest.mark.parametrize("model", [TwoViewResNet(18, input_side=SIDE), ResNet3D(18)], ids=["twoview", "3d"])
def test_gradcam_on_random_networks_and_files(model, tmp_path):
    torch.manual_seed(0)
    vol = np.random.default_rng(0).normal(size=(SIDE,) * 3).astype(np.float32)
    maps = explanation_maps(model.eval(), vol, ("gradcam",))
    assert set(maps) == {"gradcam"} and maps["gradcam"].shape == (SIDE,) * 3
    assert np.isfinite(maps["gradcam"]).all() and 0 <= maps["gradcam"].min() <= maps["gradcam"].max() <= 1
    files = write_map(maps["gradcam"], vol, tmp_path / "s_gradcam")
    assert [f.name for f in files] == ["s_gradcam.nii.gz", "s_gradcam.png"] and all(f.stat().st_size for f in files)


def test_explanation_names_are_checked():
    with pytest.raises(ValueError, match="unknown explanation"):
        explanation_maps(ResNet3D(18), _cube_volume(), ("saliency",))
    with pytest.raises(ConfigError, match="explain_maps"):
        NmosdMsConfig(explain_maps="gradcam,shap").validate()
    assert NmosdMsConfig(explain_maps=" gradcam ").explanation_kinds() == ("gradcam",)


def _forward_counter(model: nn.Module) -> list[int]:
    calls: list[int] = []
    model.register_forward_hook(lambda *_: calls.append(1))
    return calls


@pytest.mark.parametrize("shape", [(SIDE, SIDE - 4, SIDE), (SIDE - 4, SIDE - 4, SIDE), (SIDE, SIDE)],
                         ids=["h!=w", "not-the-compression-depth", "2-D"])
def test_gradcam_refuses_a_bad_two_view_input_before_computing(shape):
    model = TwoViewResNet(18, input_side=SIDE).eval()
    calls = _forward_counter(model)
    with pytest.raises(InvalidInputError, match="two-view network needs a cube|3-D"):
        gradcam_map(model, np.zeros(shape, np.float32))
    assert not calls  # refused before any forward pass


def test_gradcam_refuses_a_non_finite_or_flat_3d_input_before_computing():
    model = ResNet3D(18).eval()
    calls = _forward_counter(model)
    bad = _cube_volume()
    bad[0, 0, 0] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        gradcam_map(model, bad)
    with pytest.raises(InvalidInputError, match="3-D"):
        gradcam_map(model, np.zeros((SIDE, SIDE), np.float32))
    assert not calls
    with pytest.raises(ValueError, match="unsupported classifier"):
        gradcam_map(nn.Linear(2, 2), _cube_volume())
