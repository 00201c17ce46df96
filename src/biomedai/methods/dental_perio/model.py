"""The two Mask R-CNNs of Deetal-Perio (torchvision): binary tooth / background and the 32-class FDI model.

``backbone="resnet50"`` is torchvision's ``maskrcnn_resnet50_fpn`` (the paper used matterport's ResNet-101
Mask R-CNN in TF1); a local COCO checkpoint can initialise it (heads replaced, as matterport's
``exclude=heads``). ``backbone="resnet18"`` is a light GroupNorm ResNet-18 FPN Mask R-CNN with tall anchors
(teeth are about 4x taller than wide) that trains from scratch on a CPU. No weights are downloaded.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from biomedai.errors import WeightsError

from .data import CLASS_TO_FDI, ToothInstances

logger = logging.getLogger(__name__)

N_FDI_CLASSES = 32


def _group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, channels // 4) or 1, channels)


def build_maskrcnn(num_classes: int, backbone: str = "resnet50", image_size: int = 1024,
                   min_confidence: float = 0.7, nms_threshold: float = 0.3, coco_checkpoint: str | Path | None = None,
                   coco_sha256: str | None = None) -> nn.Module:
    """A torchvision Mask R-CNN with ``num_classes`` foreground classes (1: binary, 32: FDI).

    Images are resized so that the longer side is ``image_size`` (aspect ratio kept), as the paper's 1,024.
    ``coco_checkpoint`` (resnet50 only) is a local ``maskrcnn_resnet50_fpn`` COCO state dict, checked against
    ``coco_sha256`` (or its ``.sha256`` sidecar) before loading.

    >>> m = build_maskrcnn(1, "resnet18", image_size=128)
    >>> m.roi_heads.box_predictor.cls_score.out_features
    2
    """
    from torchvision.models.detection import MaskRCNN, maskrcnn_resnet50_fpn
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone

    common = dict(min_size=image_size, max_size=image_size, box_score_thresh=min_confidence,
                  box_nms_thresh=nms_threshold, box_detections_per_img=100)
    if backbone == "resnet50":
        coco = coco_checkpoint is not None
        model = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91 if coco else num_classes + 1,
                                      **common)
        if coco:
            from biomedai.train import load_weights

            load_weights(model, coco_checkpoint, expected_sha256=coco_sha256)
            replace_heads(model, num_classes)
            logger.info("initialised from the COCO checkpoint %s (heads replaced)", coco_checkpoint)
        return model
    if backbone != "resnet18":
        raise WeightsError(f"unknown backbone {backbone!r} (use 'resnet50' or 'resnet18')")
    if coco_checkpoint is not None:
        raise WeightsError("a COCO checkpoint fits the 'resnet50' backbone only")
    body = resnet_fpn_backbone(backbone_name="resnet18", weights=None, norm_layer=_group_norm, trainable_layers=5)
    anchors = AnchorGenerator(sizes=((16,), (32,), (64,), (128,), (256,)), aspect_ratios=((1.0, 2.0, 4.0),) * 5)
    return MaskRCNN(body, num_classes=num_classes + 1, rpn_anchor_generator=anchors,
                    rpn_pre_nms_top_n_train=1000, rpn_post_nms_top_n_train=500, rpn_pre_nms_top_n_test=500,
                    rpn_post_nms_top_n_test=300, box_batch_size_per_image=128, **common)


def replace_heads(model: nn.Module, num_classes: int) -> None:
    """New box and mask predictors for ``num_classes`` foreground classes (the rest keeps its weights)."""
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor
    from torchvision.models.detection.mask_rcnn import MaskRCNNPredictor

    box = model.roi_heads.box_predictor
    model.roi_heads.box_predictor = FastRCNNPredictor(box.cls_score.in_features, num_classes + 1)
    mask = model.roi_heads.mask_predictor
    model.roi_heads.mask_predictor = MaskRCNNPredictor(mask.conv5_mask.in_channels, 256, num_classes + 1)


def build_from_config(config: Any, task: str) -> nn.Module:
    """The ``"binary"`` or ``"multiclass"`` model for a :class:`DentalPerioConfig`."""
    n = 1 if task == "binary" else N_FDI_CLASSES
    return build_maskrcnn(n, config.backbone, config.image_size, config.min_confidence, config.nms_threshold,
                          config.coco_checkpoint, config.coco_sha256)


def image_tensor(image: np.ndarray) -> torch.Tensor:
    """A grey uint8 radiograph as the 3-channel float tensor Mask R-CNN expects."""
    t = torch.from_numpy(np.ascontiguousarray(image)).float().div_(255.0)
    return t.expand(3, *t.shape).contiguous()


@torch.no_grad()
def detect_teeth(model: nn.Module, image: np.ndarray, task: str, mask_threshold: float = 0.5) -> ToothInstances:
    """Run one model on one radiograph; ``fdi`` is 0 for the binary model, else the FDI number."""
    model.eval()
    device = next(model.parameters()).device
    out = model([image_tensor(image).to(device)])[0]
    scores = out["scores"].cpu().numpy()
    labels = out["labels"].cpu().numpy()
    masks = (out["masks"][:, 0] > mask_threshold).cpu().numpy() if len(scores) else np.zeros((0, *image.shape), bool)
    fdi = np.zeros(len(scores), int) if task == "binary" else np.array([CLASS_TO_FDI[int(v)] for v in labels], int)
    return ToothInstances(fdi, masks.reshape(-1, *image.shape), out["boxes"].cpu().numpy().reshape(-1, 4), scores)
