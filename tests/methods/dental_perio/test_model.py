"""Mask R-CNN builders: class counts, a training step, detection output, COCO checkpoint loading with sha256."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from biomedai.errors import WeightsError
from biomedai.methods.dental_perio.data import instances_from_label_map
from biomedai.methods.dental_perio.model import build_maskrcnn, detect_teeth, image_tensor
from biomedai.methods.dental_perio.training import target_dict


def small_film() -> tuple[np.ndarray, np.ndarray]:
    lm = np.zeros((96, 128), np.uint8)
    for k, fdi in enumerate((13, 12, 11, 21)):
        lm[10:45, 20 + 22 * k:34 + 22 * k] = fdi
    image = np.where(lm > 0, 200, 60).astype(np.uint8)
    return image, lm


@pytest.mark.parametrize("classes", [32])  # the binary model runs in test_pipeline's slow tests
def test_light_model_trains_and_detects(classes: int) -> None:
    torch.manual_seed(0)
    model = build_maskrcnn(classes, "resnet18", image_size=128, min_confidence=0.3)
    assert model.roi_heads.box_predictor.cls_score.out_features == classes + 1
    assert model.roi_heads.mask_predictor.mask_fcn_logits.out_channels == classes + 1
    image, lm = small_film()
    target = target_dict(instances_from_label_map(lm), "binary" if classes == 1 else "multiclass")
    assert target["labels"].tolist() == ([1] * 4 if classes == 1 else [1, 2, 3, 9])
    model.train()
    losses = model([image_tensor(image)], [target])
    assert {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"} <= set(losses)
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    teeth = detect_teeth(model, image, "binary" if classes == 1 else "multiclass")
    assert teeth.masks.shape[1:] == image.shape and teeth.boxes.shape == (len(teeth), 4)
    assert len(teeth.scores) == len(teeth)
    if classes == 32 and len(teeth):
        assert set(teeth.fdi.tolist()) <= set(range(11, 49))


@pytest.mark.slow
def test_coco_checkpoint_loads_with_checksum(tmp_path: Path) -> None:
    from torchvision.models.detection import maskrcnn_resnet50_fpn

    from biomedai.train import save_weights

    torch.manual_seed(1)
    coco = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91)
    path = tmp_path / "coco.pt"
    digest = save_weights(coco, path)
    model = build_maskrcnn(32, "resnet50", coco_checkpoint=path, coco_sha256=digest)
    assert model.roi_heads.box_predictor.cls_score.out_features == 33
    key = "backbone.body.layer1.0.conv1.weight"
    assert torch.equal(model.state_dict()[key], coco.state_dict()[key])
    with pytest.raises(WeightsError):
        build_maskrcnn(32, "resnet50", coco_checkpoint=path, coco_sha256="0" * 64)
    with pytest.raises(WeightsError, match="resnet50"):
        build_maskrcnn(32, "resnet18", coco_checkpoint=path)
