"""Han-Net architecture, 3-class targets, instance post-processing and the classical baseline."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.data.phantoms import nuclei_phantom
from biomedai.errors import ConfigError, InvalidInputError
from biomedai.methods.nuclei_hannet.config import HanNetConfig
from biomedai.methods.nuclei_hannet.evaluation import score_tile
from biomedai.methods.nuclei_hannet.postprocess import (BOUNDARY, INSIDE, instances_from_probabilities,
                                                        three_class_targets)

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("variant", ["unet", "nunet", "nunet_attention", "nunet_dense_top", "hannet"])
def test_every_variant_maps_rgb_to_three_classes(variant):
    from biomedai.methods.nuclei_hannet.model import build_model

    torch.manual_seed(0)
    model = build_model(variant, base_channels=4, growth_rate=2).eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 32, 16))
    assert out.shape == (1, 3, 32, 16)
    with pytest.raises(ValueError, match="divisible by 16"):
        model(torch.zeros(1, 3, 40, 16))


def test_hannet_structure_follows_the_paper():
    from biomedai.methods.nuclei_hannet.model import HanNet, build_model
    from biomedai.nn.dense_dilated import DenseDilatedBlock
    from biomedai.nn.hybrid_attention import HybridAttentionBlock

    net = build_model("hannet", base_channels=4, growth_rate=2)
    assert net.channels == [4, 8, 16, 32, 64]
    dense = [m for m in net.modules() if isinstance(m, DenseDilatedBlock)]
    assert [b.layers[0].conv.dilation[0] for b in dense] == [2, 4, 8, 4, 2]  # five top-row blocks
    assert all(len(b.layers) == 6 for b in dense)
    # 15 nodes (i + j <= 4); every node of the nested part and every top-row node carries an A-part
    assert sorted(net.nodes) == sorted(f"{i}_{j}" for i in range(5) for j in range(5) if i + j <= 4)
    assert sum(isinstance(m, HybridAttentionBlock) for m in net.modules()) == 15
    unet = build_model("unet", base_channels=4)
    assert not any(isinstance(m, (DenseDilatedBlock, HybridAttentionBlock)) for m in unet.modules())
    with pytest.raises(ValueError):
        HanNet(nested=False, dense_top=True)


def test_norm_option_swaps_every_batch_norm_and_old_weights_keep_batch_norm():
    from biomedai.methods.nuclei_hannet.config import HanNetConfig
    from biomedai.methods.nuclei_hannet.model import build_model, count_parameters
    from biomedai.methods.nuclei_hannet.segmenter import NucleiSegmenter, arch_from_config

    def kinds(net):
        return {type(m).__name__ for m in net.modules() if type(m).__name__.endswith(("Norm2d", "Norm3d"))}

    for variant in ("unet", "hannet"):
        batch = build_model(variant, base_channels=4, growth_rate=2)
        inst = build_model(variant, base_channels=4, growth_rate=2, norm="instance")
        assert kinds(batch) == {"BatchNorm2d"} and kinds(inst) == {"InstanceNorm2d"}
        assert count_parameters(batch) == count_parameters(inst)  # both affine: the same weights to learn
    arch = arch_from_config(HanNetConfig(base_channels=4, growth_rate=2, norm="instance"))
    assert arch["norm"] == "instance"
    del arch["norm"]  # an architecture file written before the option existed
    assert kinds(NucleiSegmenter.build_network(arch)) == {"BatchNorm2d"}


def test_full_width_unet_has_the_papers_parameter_count():
    from biomedai.methods.nuclei_hannet.model import build_model, count_parameters

    n = count_parameters(build_model("unet", base_channels=64))
    assert abs(n / 30.58e6 - 1) < 0.05  # paper: 30.58 M for UNet with bilinear up-sampling


def test_three_class_targets_separate_touching_nuclei():
    labels = np.zeros((12, 20), np.int64)
    labels[2:10, 2:10] = 3
    labels[2:10, 10:18] = 7  # touching, ids with gaps
    t = three_class_targets(labels, radius=1)
    assert set(np.unique(t)) == {0, INSIDE, BOUNDARY}
    assert (t[:, 9:11] != INSIDE).all()  # the contact line is boundary
    assert t[5, 5] == INSIDE and t[5, 14] == INSIDE
    assert t[0, 5] == 0 and t[1, 5] == BOUNDARY  # band just outside
    inside = np.asarray(t == INSIDE)
    from scipy import ndimage as ndi

    assert ndi.label(inside)[1] == 2


def _perfect_probabilities(labels, radius=1):
    t = three_class_targets(labels, radius)
    return np.stack([(t == k).astype(np.float32) for k in range(3)])


@pytest.mark.parametrize("method", ["morphological", "watershed"])
def test_instances_from_perfect_maps_recover_the_blobs(method):
    _, labels = nuclei_phantom((160, 160), n_nuclei=25, radius_range=(5, 9), seed=3, min_gap=0)
    labels = labels.array
    pred = instances_from_probabilities(_perfect_probabilities(labels), method=method, min_size=10,
                                        dilation_radius=1)
    assert pred.dtype == np.uint16
    assert int(pred.max()) == 25
    scores = score_tile(labels, pred)
    assert scores["aji"] > 0.9 and scores["f1"] == 1.0


def test_small_objects_are_removed():
    probs = np.zeros((3, 30, 30), np.float32)
    probs[0] = 1
    probs[:, 5:15, 5:15] = [[[0]], [[1]], [[0]]]
    probs[:, 20:22, 20:22] = [[[0]], [[1]], [[0]]]  # 4 pixels
    pred = instances_from_probabilities(probs, min_size=10, dilation_radius=0)
    assert int(pred.max()) == 1 and pred[21, 21] == 0


def test_classical_baseline_finds_separated_nuclei():
    from biomedai.methods.nuclei_hannet.classical import classical_nuclei

    image, labels = nuclei_phantom((128, 128), n_nuclei=12, radius_range=(5, 8), seed=4, min_gap=3)
    assert score_tile(labels.array, classical_nuclei(image.array))["f1"] > 0.9


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="crop_size"):
        HanNetConfig.from_dict({"crop_size": 100})
    with pytest.raises(ConfigError, match="variant"):
        HanNetConfig.from_dict({"variant": "resnet"})
    assert HanNetConfig().dilations == (2, 4, 8, 4, 2)


def test_bad_label_maps_are_refused():
    with pytest.raises(InvalidInputError, match="RGB"):
        three_class_targets(np.zeros((5, 5, 3), np.uint8))
    with pytest.raises(InvalidInputError, match="integer"):
        three_class_targets(np.full((5, 5), 0.5))


def test_training_crops_are_augmented_consistently_and_small_tiles_padded():
    from biomedai.methods.nuclei_hannet.training import CropDataset, augmented_crop

    image, labels = nuclei_phantom((40, 50), n_nuclei=3, radius_range=(4, 6), seed=5)
    rng = np.random.default_rng(0)
    img, lab = augmented_crop(image.array, labels.array, 64, rng)  # tile smaller than the crop
    assert img.shape == (64, 64, 3) and img.dtype == np.float32 and 0 <= img.min() and img.max() <= 1
    assert lab.shape == (64, 64) and set(np.unique(lab)) <= set(np.unique(labels.array))
    # geometry is shared: nuclei (dark in haematoxylin) stay under their labels after rotation/elastic
    dark = img.mean(-1)
    assert dark[lab > 0].mean() < dark[lab == 0].mean() - 0.1
    torch.manual_seed(0)
    x, y = CropDataset([image.array], [labels.array], 32, 2)[1]
    assert tuple(x.shape) == (3, 32, 32) and tuple(y.shape) == (32, 32) and int(y.max()) <= 2


def test_stain_jitter_changes_colours_not_labels():
    from biomedai.methods.nuclei_hannet.training import augmented_crop

    image, labels = nuclei_phantom((64, 64), n_nuclei=4, radius_range=(4, 6), seed=2)
    off = dict(flip=False, rotate=False, elastic=False, color=False)
    plain, lab0 = augmented_crop(image.array, labels.array, 64, np.random.default_rng(3), **off)
    jittered, lab1 = augmented_crop(image.array, labels.array, 64, np.random.default_rng(3), stain=0.2, **off)
    assert np.array_equal(lab0, lab1)
    assert np.abs(jittered - plain).mean() > 0.005 and 0 <= jittered.min() and jittered.max() <= 1


@pytest.mark.parametrize("radius", [1, 2])
def test_default_growth_undoes_the_target_erosion(radius):
    """Regression: seeds were grown by 2 px after a 1 px erosion, so even perfect class maps gave every
    nucleus a 1 px halo (AJI 0.83 instead of 0.98 on miccai2015 with the ground-truth maps)."""
    _, labels = nuclei_phantom((160, 160), n_nuclei=25, radius_range=(5, 9), seed=3, min_gap=0)
    labels = labels.array
    cfg = HanNetConfig(boundary_radius=radius)
    assert cfg.grow_radius == radius and HanNetConfig(dilation_radius=3).grow_radius == 3
    probs = _perfect_probabilities(labels, radius)
    pred = instances_from_probabilities(probs, min_size=10, dilation_radius=cfg.grow_radius)
    assert score_tile(labels, pred)["aji"] > 0.95
    too_far = instances_from_probabilities(probs, min_size=10, dilation_radius=radius + 1)
    assert score_tile(labels, too_far)["aji"] < score_tile(labels, pred)["aji"] - 0.03
    if radius == 1:  # the function's own default matches the default target radius
        assert score_tile(labels, instances_from_probabilities(probs, min_size=10))["aji"] > 0.95


def test_cross_entropy_dice_loss_is_small_for_confident_right_answers_and_has_gradients():
    from biomedai.methods.nuclei_hannet.training import CrossEntropyDiceLoss

    target = torch.randint(0, 3, (2, 16, 16))
    good = torch.nn.functional.one_hot(target, 3).permute(0, 3, 1, 2).float() * 20.0
    loss = CrossEntropyDiceLoss((1.0, 1.0, 2.0))
    assert float(loss(good, target)) < 1e-3
    logits = torch.zeros(2, 3, 16, 16, requires_grad=True)
    value = loss(logits, target)
    value.backward()
    # uniform logits: CE = log 3 whatever the weights; Dice of p = 1/3 against the true class masks
    t = torch.nn.functional.one_hot(target, 3).permute(0, 3, 1, 2).float()
    dice = [(2 * t[:, k].sum() / 3 + 1) / (t[:, k].numel() / 3 + t[:, k].sum() + 1) for k in (1, 2)]
    assert value.item() == pytest.approx(np.log(3) + 1 - float(sum(dice)) / 2, rel=1e-5)
    assert logits.grad is not None and float(logits.grad.abs().sum()) > 0


def test_learning_rate_schedules_follow_steps_or_the_budget():
    import types

    from biomedai.methods.nuclei_hannet.training import lr_schedule

    spent = {"f": 0.0}  # the engine's budget fraction (tests/methods/nuclei_hannet/test_training_budget.py runs it)
    trainer = types.SimpleNamespace(budget_fraction=lambda: spent["f"])
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    onecycle = lr_schedule("onecycle", 100)(opt, trainer).lr_lambdas[0]
    cosine = lr_schedule("cosine", 100)(opt, trainer).lr_lambdas[0]
    assert onecycle(0) == pytest.approx(0.04) and onecycle(5) == pytest.approx(1.0)  # by steps: 5 % warm-up
    assert onecycle(100) == pytest.approx(0.01) and cosine(100) == pytest.approx(0.0) and cosine(50) == pytest.approx(0.5)
    spent["f"] = 0.525  # by the budget, whichever is further
    assert onecycle(5) == pytest.approx(0.505) and cosine(5) == pytest.approx(0.5 * (1 + np.cos(np.pi * 0.525)))
    spent["f"] = 1.0
    assert onecycle(1) == pytest.approx(0.01) and cosine(1) == pytest.approx(0.0)
    assert lr_schedule("constant", 100) is None
    with pytest.raises(ConfigError, match="lr_schedule"):
        HanNetConfig.from_dict({"lr_schedule": "step"})
    with pytest.raises(ConfigError, match="split"):
        HanNetConfig.from_dict({"split": "everything"})
    with pytest.raises(ConfigError, match="norm"):
        HanNetConfig.from_dict({"norm": "layer"})
    with pytest.raises(ConfigError, match="class_weights"):
        HanNetConfig.from_dict({"class_weights": [1.0, 0.0, 2.0]})
