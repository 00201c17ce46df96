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
