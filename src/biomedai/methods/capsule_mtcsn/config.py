"""MTCSN settings. Paper: Kong et al., "Multi-Task Classification and Segmentation for Explicable Capsule
Endoscopy Diagnostics", Front. Mol. Biosci. 2021 (spec section 2).

The paper fixes: 240 x 240 inputs, batch 8, 30k iterations (2.7), three CD classes, an 8-class tissue
map (2.2), a ResNet-50 / ResNet-101 / DenseNet-121 shared backbone (2.3), the cross fusion of Eq. 1 with
GAP (Table 6), Eqs. 2-5 with alpha = 0.1 (2.4). Everything it leaves open (spec 2.10: placement and count
of fusion modules, Pad, non-linearity, heads, lambda values, the marking rule, optimiser) is our choice,
each one written in README.md.
"""
from __future__ import annotations

import dataclasses
from typing import Literal

from biomedai.config import BaseConfig
from biomedai.errors import ConfigError

#: the four rows of our Tables 3-4 ablation (spec 2.8) plus the paper's full model
VARIANTS = ("cd_only", "tss_only", "hard_sharing", "mtcsn")
BACKBONES = ("light", "resnet50", "resnet101", "densenet121")


@dataclasses.dataclass
class MtcsnConfig(BaseConfig):
    # --- network (spec 2.3; open points are ours, README "Decisions") ----------------------------
    backbone: Literal["light", "resnet50", "resnet101", "densenet121"] = "light"  # paper: resnet50 best (Table 5)
    #: widths of the light CPU encoder's four stages (ours; the paper's backbones are 50-121 layers)
    light_widths: tuple[int, ...] = (16, 32, 64, 96)
    variant: Literal["cd_only", "tss_only", "hard_sharing", "mtcsn"] = "mtcsn"
    #: cross-fusion modules, one after each branch stage (spec 2.10 #1: ours)
    fusion_sites: int = 2
    #: channels of the classification (C1) and segmentation (C2) branch features (C1 != C2, spec 2.3)
    cls_channels: int = 128
    seg_channels: int = 64
    pooling: Literal["gap", "gmp"] = "gap"          # Table 6: GAP better than GMP
    #: "none": M is the bare 1x1 conv weight (the text); "relu": ReLU after M and M^T (the word "non-linearity")
    fusion_activation: Literal["none", "relu"] = "none"
    dropout: float = 0.2                            # classification head (ours; spec 2.10 #4)
    input_size: int = 240                           # paper 2.2/2.7
    # --- losses (Eqs. 2-5) ---------------------------------------------------------------------------
    lambda_cls: float = 1.0                         # lambda_i not reported (spec 2.10 #5): equal weights
    lambda_seg: float = 1.0
    alpha: float = 0.1                              # Eq. 3, paper 2.4
    #: pixels with this mask value are left out of the segmentation loss and metrics
    ignore_index: int = 255
    # --- training (2.7: batch 8, 30k iterations; optimiser/LR absent -> AdamW 1e-3, ours) ------------
    batch_size: int = 8
    iterations: int = 30000
    lr: float = 1e-3
    weight_decay: float = 1e-4
    #: stop training after this many minutes (validated and checkpointed first); None: all iterations
    max_minutes: float | None = None
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    augment: bool = True
    device: str = "auto"
    # --- video triage (spec 2.9; the rule is ours, README "Keyframe rule") ---------------------------
    #: frames scored per second of video (0: every decoded frame)
    sample_fps: float = 2.0
    start_s: float = 0.0
    end_s: float | None = None
    infer_batch: int = 16
    #: a frame is marked when it shows lesion: not invisible and %lesion >= lesion_threshold ...
    lesion_threshold: float = 0.02
    #: ... or as a representative clear view: p_clear >= clear_threshold and %tissue >= tissue_threshold,
    #: at most one every ``representative_interval_s`` seconds of video
    clear_threshold: float = 0.8
    tissue_threshold: float = 0.5
    representative_interval_s: float = 30.0
    thumbnail_size: int = 160
    #: write the colour overlay of each marked frame beside its thumbnail
    overlays: bool = True

    def validate(self) -> None:
        super().validate()
        checks = [
            ("backbone", self.backbone in BACKBONES, f"must be one of {BACKBONES}"),
            ("variant", self.variant in VARIANTS, f"must be one of {VARIANTS}"),
            ("pooling", self.pooling in ("gap", "gmp"), "must be 'gap' or 'gmp'"),
            ("fusion_activation", self.fusion_activation in ("none", "relu"), "must be 'none' or 'relu'"),
            ("fusion_sites", 1 <= self.fusion_sites <= 4, "must be 1..4"),
            ("light_widths", len(self.light_widths) == 4 and all(w >= 1 for w in self.light_widths),
             "must be four positive widths"),
            ("input_size", self.input_size >= 32 and self.input_size % 16 == 0, "must be >= 32 and a multiple of 16"),
            ("alpha", self.alpha >= 0, "must be >= 0"),
            ("lambda_cls", self.lambda_cls >= 0, "must be >= 0"),
            ("lambda_seg", self.lambda_seg >= 0, "must be >= 0"),
            ("dropout", 0 <= self.dropout < 1, "must be in [0, 1)"),
            ("sample_fps", self.sample_fps >= 0, "must be >= 0 (0: every frame)"),
            ("start_s", self.start_s >= 0, "must be >= 0"),
            ("end_s", self.end_s is None or self.end_s > self.start_s, "must be > start_s or null"),
            ("infer_batch", self.infer_batch >= 1, "must be >= 1"),
            ("lesion_threshold", 0 <= self.lesion_threshold <= 1, "must be in [0, 1]"),
            ("clear_threshold", 0 <= self.clear_threshold <= 1, "must be in [0, 1]"),
            ("tissue_threshold", 0 <= self.tissue_threshold <= 1, "must be in [0, 1]"),
            ("representative_interval_s", self.representative_interval_s >= 0, "must be >= 0"),
            ("batch_size", self.batch_size >= 1, "must be >= 1"),
            ("iterations", self.iterations >= 1, "must be >= 1"),
            ("val_fraction", 0 < self.val_fraction < 0.5, "must be in (0, 0.5)"),
            ("test_fraction", 0 <= self.test_fraction < 0.5, "must be in [0, 0.5)"),
        ]
        for key, ok, text in checks:
            if not ok:
                raise ConfigError(f"key {key!r} {text}, got {getattr(self, key)!r}")
