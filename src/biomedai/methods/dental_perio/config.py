"""Settings of Deetal-Perio (Li et al. 2021). Defaults follow the paper's Mask R-CNN configuration (spec
``../shared/specs/xray-ct.md`` 4.3, matterport defaults) and the spec's decisions where the paper is silent."""
from __future__ import annotations

import dataclasses
from typing import Literal

from biomedai.config import BaseConfig
from biomedai.errors import ConfigError


@dataclasses.dataclass
class DentalPerioConfig(BaseConfig):
    # --- Mask R-CNN (spec 4.3 table) ----------------------------------------------------------------------
    #: "resnet50" is torchvision's maskrcnn_resnet50_fpn (closest to the paper's ResNet-101 matterport model);
    #: "resnet18" is a light GroupNorm FPN model that trains from scratch on a CPU
    backbone: Literal["resnet50", "resnet18"] = "resnet50"
    #: image side after resizing (paper: 1,024, aspect ratio kept); the model pads to a square internally
    image_size: int = 1024
    #: min detection confidence (paper 0.7) and detection NMS threshold (paper 0.3)
    min_confidence: float = 0.7
    nms_threshold: float = 0.3
    #: training (paper: 30 epochs, lr 0.001, momentum 0.9, weight decay 1e-4, batch 1)
    epochs: int = 30
    lr: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 1e-4
    batch_size: int = 1
    #: "sgd" as the paper (matterport); "adamw" trains a from-scratch light model faster
    optimizer: Literal["sgd", "adamw"] = "sgd"
    #: linear learning-rate warm-up over this many steps (0: none) and gradient-norm clipping (0: none)
    warmup_steps: int = 0
    grad_clip_norm: float = 5.0
    #: stop after this many optimiser steps per model (0: no limit); for bounded CPU runs
    max_steps: int = 0
    #: optional local COCO checkpoint (torchvision maskrcnn_resnet50_fpn state dict) and its SHA-256
    coco_checkpoint: str | None = None
    coco_sha256: str | None = None
    #: mild augmentation (brightness/contrast); never a horizontal flip, which would swap FDI quadrants
    augment: bool = True
    device: str = "auto"
    # --- numbering calibration (spec 4.3) -----------------------------------------------------------------
    #: reject a label transfer farther than this many median tooth widths (0: never reject)
    max_transfer_widths: float = 0.5
    #: passes of the calibration loop before unresolved teeth are reported (termination guarantee)
    max_passes: int = 32
    #: display convention: "standard" puts the patient's right (FDI 1x/4x) on the image left
    display: Literal["standard", "mirrored"] = "standard"
    #: multi-class detections kept for label transfer (the paper keeps its 0.7 confidence cut for both)
    transfer_min_confidence: float = 0.7
    # --- bone loss and stage (optional in predict; the ABL half: bone.py, abl.py, staging.py) --------------
    #: bone segmentation weights (bone.save_bone_model) and a fitted staging model (StagingModel.save)
    bone_weights: str | None = None
    staging_model: str | None = None
    #: bone line per tooth: the deterministic crest line (default) or the paper's two random contour points
    abl_line: Literal["deterministic", "random"] = "deterministic"

    def validate(self) -> None:
        super().validate()
        checks = [
            ("image_size", self.image_size >= 64, "must be >= 64"),
            ("min_confidence", 0.0 <= self.min_confidence < 1.0, "must be in [0, 1)"),
            ("nms_threshold", 0.0 < self.nms_threshold <= 1.0, "must be in (0, 1]"),
            ("epochs", self.epochs >= 1, "must be >= 1"),
            ("lr", self.lr > 0, "must be > 0"),
            ("momentum", 0.0 <= self.momentum < 1.0, "must be in [0, 1)"),
            ("weight_decay", self.weight_decay >= 0, "must be >= 0"),
            ("batch_size", self.batch_size >= 1, "must be >= 1"),
            ("max_steps", self.max_steps >= 0, "must be >= 0"),
            ("warmup_steps", self.warmup_steps >= 0, "must be >= 0"),
            ("grad_clip_norm", self.grad_clip_norm >= 0, "must be >= 0"),
            ("optimizer", self.optimizer in ("sgd", "adamw"), "must be 'sgd' or 'adamw'"),
            ("max_transfer_widths", self.max_transfer_widths >= 0, "must be >= 0"),
            ("max_passes", self.max_passes >= 1, "must be >= 1"),
            ("transfer_min_confidence", 0.0 <= self.transfer_min_confidence < 1.0, "must be in [0, 1)"),
            ("backbone", self.backbone in ("resnet50", "resnet18"), "must be 'resnet50' or 'resnet18'"),
            ("display", self.display in ("standard", "mirrored"), "must be 'standard' or 'mirrored'"),
            ("abl_line", self.abl_line in ("deterministic", "random"), "must be 'deterministic' or 'random'"),
        ]
        self.check_rules(checks)
        if self.staging_model is not None and self.bone_weights is None:
            raise ConfigError("key 'staging_model' needs 'bone_weights' (the stage is computed from bone loss)")
        if self.coco_sha256 is not None and self.coco_checkpoint is None:
            raise ConfigError("key 'coco_sha256' is set but 'coco_checkpoint' is not")
