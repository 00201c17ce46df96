"""Settings of the Fan et al. DBT 3-D Mask R-CNN. Defaults are the paper's where it fixes them and the spec's
decisions where it does not (``../shared/specs/breast-neuro.md`` section 1); the light CPU variant and the
reduced simulated cohort are ours and say so."""
from __future__ import annotations

import dataclasses

from biomedai.config import BaseConfig
from biomedai.errors import ConfigError


@dataclasses.dataclass
class DbtSimConfig(BaseConfig):
    """The simulated cohort (all data SIMULATED; reduced from the paper's 364 breasts / 716 views)."""

    #: breasts in the training and test parts (paper: 201 and 163, spec 1.2; ours reduced for 2 CPU cores)
    n_train_breasts: int = 40
    n_test_breasts: int = 30
    #: fraction of breasts with one view only (paper: 716 views for 364 breasts, about 3 %)
    one_view_fraction: float = 0.03
    #: volume (z, y, x) and spacing in mm; the paper reconstructs 1 mm slices at 0.106 mm in-plane, resampled per the
    #: spec decision 1.3 to 0.4-0.5 mm; ours 0.6 mm and a 32 mm compressed breast to fit CPU training
    shape: tuple[int, int, int] = (32, 96, 96)
    spacing: tuple[float, float, float] = (1.0, 0.6, 0.6)
    #: maximum mass diameter range in mm (paper 10.15-140.9, median 33.4; ours from the paper's minimum up to what
    #: the 58 x 32 mm phantom holds; masses under 10 mm were outside the paper's range and 3-5 voxels at 1.2 mm)
    diameter_mm: tuple[float, float] = (10.0, 25.0)
    #: acquisition (spec 1.1: 20 projections over a 20 degree arc) and SART iterations
    n_projections: int = 20
    half_angle_deg: float = 10.0
    sart_iterations: int = 3
    #: Gaussian noise on the projections, as a fraction of the largest line integral
    noise: float = 0.01

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the first bad key."""
        super().validate()
        checks = [("n_train_breasts", self.n_train_breasts >= 2), ("n_test_breasts", self.n_test_breasts >= 2),
                  ("one_view_fraction", 0.0 <= self.one_view_fraction < 1.0),
                  ("shape", len(self.shape) == 3 and min(self.shape) >= 8),
                  ("spacing", len(self.spacing) == 3 and min(self.spacing) > 0),
                  ("diameter_mm", 0 < self.diameter_mm[0] <= self.diameter_mm[1]),
                  ("n_projections", self.n_projections >= 2), ("half_angle_deg", 0 < self.half_angle_deg < 60),
                  ("sart_iterations", self.sart_iterations >= 1), ("noise", self.noise >= 0)]
        for key, ok in checks:
            if not ok:
                raise ConfigError(f"key {key!r}: value {getattr(self, key)!r} is out of range")


@dataclasses.dataclass
class DbtMaskRcnnConfig(BaseConfig):
    """The 3-D Mask R-CNN (spec 1.4-1.6). Defaults: the paper-size model (ResNet-50-FPN, P2-P5); ``variant:
    light`` swaps in :data:`LIGHT_MODEL` (our CPU variant) for every setting left at its paper default."""

    #: "paper" (the defaults below) or "light" (see :meth:`effective`)
    variant: str = "paper"

    # --- backbone and FPN (1.4 decision: 3-D ResNet-50 [3, 4, 6, 3] bottleneck, widths 64/256/512/1024/2048) ---
    block: str = "bottleneck"
    layers: tuple[int, int, int, int] = (3, 4, 6, 3)
    widths: tuple[int, int, int, int, int] = (64, 256, 512, 1024, 2048)
    fpn_channels: int = 256
    #: FPN levels used by the RPN and RoIAlign (2 = P2 ... 5 = P5)
    levels: tuple[int, ...] = (2, 3, 4, 5)
    groups: int = 8  # GroupNorm groups (batch norm is unreliable at 3-D batch sizes)
    # --- anchors (1.4 decision: in-plane {16, 32, 64, 128} voxels on P2-P5, z scaled by the spacing ratio) -----
    anchor_sizes: tuple[float, ...] = (16.0, 32.0, 64.0, 128.0)
    #: extra sizes per level as multiples of the base size
    anchor_scales: tuple[float, ...] = (1.0, 1.5)
    #: voxel spacing (z, y, x) in mm the model works at (spec 1.3: 1 mm slices; in-plane resampled)
    spacing: tuple[float, float, float] = (1.0, 0.5, 0.5)
    # --- RPN (1.4 decision: positive IoU >= 0.5, negative < 0.3) -------------------------------------------------
    rpn_pos_iou: float = 0.5
    rpn_neg_iou: float = 0.3
    rpn_batch_anchors: int = 64
    rpn_pos_fraction: float = 0.5
    rpn_pre_nms: int = 1000
    rpn_post_nms_train: int = 200
    rpn_post_nms_test: int = 100
    rpn_nms_iou: float = 0.7
    # --- RoI heads (1.6: 32 ROIs per batch at 3:2 positive to negative) --------------------------------------
    roi_batch: int = 32
    roi_pos_fraction: float = 0.6
    roi_pos_iou: float = 0.5
    box_roi_size: tuple[int, int, int] = (7, 7, 7)
    mask_roi_size: tuple[int, int, int] = (14, 14, 14)
    #: RoIAlign samples per bin per axis
    roi_sampling_ratio: int = 2
    box_hidden: int = 1024
    mask_channels: int = 256
    # --- inference ---------------------------------------------------------------------------------------------
    score_threshold: float = 0.05
    nms_iou: float = 0.3
    max_detections: int = 20
    #: patch (z, y, x) for training and sliding inference (spec 1.3: 64 x 256 x 256) and the overlap margin
    patch: tuple[int, int, int] = (64, 256, 256)
    margin: tuple[int, int, int] = (0, 64, 64)
    #: random training crops (z, y, x); the spec trains on the 64 x 256 x 256 patches themselves
    train_patch: tuple[int, int, int] = (64, 256, 256)
    # --- training (1.6: Adam, lr 1e-3 halved every 50 epochs) -------------------------------------------------
    lr: float = 1e-3
    lr_halving_epochs: int = 50
    epochs: int = 200
    batch_size: int = 2
    #: training stops after this many wall minutes (best validation checkpoint kept); 0: no limit
    max_minutes: float = 0.0
    #: share of training breasts held out for validation (the paper tunes by 10-fold CV inside train)
    val_fraction: float = 0.2
    #: demo: simulated breasts and minutes of training when no bundled model exists
    demo_breasts: int = 8
    demo_minutes: float = 2.0

    def effective(self) -> DbtMaskRcnnConfig:
        """The config with the light variant's values where this one keeps the paper defaults."""
        if self.variant == "paper":
            return self
        paper = DbtMaskRcnnConfig()
        values = dataclasses.asdict(self)
        for key, light in LIGHT_MODEL.items():
            if values[key] == getattr(paper, key):
                values[key] = light
        values["variant"] = "paper"  # already applied
        resolved = DbtMaskRcnnConfig(**values)
        resolved.variant = self.variant
        return resolved

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the first bad key."""
        super().validate()
        checks = [("variant", self.variant in ("paper", "light")), ("block", self.block in ("basic", "bottleneck")), ("layers", len(self.layers) == 4),
                  ("widths", len(self.widths) == 5), ("levels", all(2 <= lv <= 5 for lv in self.levels)),
                  ("anchor_sizes", len(self.anchor_sizes) >= len(self.levels)),
                  ("roi_pos_fraction", 0 < self.roi_pos_fraction <= 1), ("roi_batch", self.roi_batch >= 2),
                  ("rpn_neg_iou", self.rpn_neg_iou <= self.rpn_pos_iou), ("patch", len(self.patch) == 3),
                  ("margin", len(self.margin) == 3 and all(2 * m < p for m, p in zip(self.margin, self.patch)))]
        for key, ok in checks:
            if not ok:
                raise ConfigError(f"key {key!r}: value {getattr(self, key)!r} is out of range")


#: the light variant trained on CPU in the benchmark (ours): basic blocks, narrow, P2-P3, patches 32 x 64 x 64
LIGHT_MODEL: dict[str, object] = {
    "block": "basic", "layers": (1, 1, 1, 1), "widths": (8, 16, 24, 32, 48), "fpn_channels": 16, "levels": (2, 3),
    "groups": 4, "anchor_sizes": (8.0, 16.0), "spacing": (1.0, 1.2, 1.2), "rpn_batch_anchors": 64,
    "rpn_pre_nms": 300, "rpn_post_nms_train": 48, "rpn_post_nms_test": 32, "box_roi_size": (4, 7, 7),
    "mask_roi_size": (8, 14, 14), "roi_sampling_ratio": 1, "box_hidden": 128, "mask_channels": 16,
    "patch": (32, 40, 40), "margin": (0, 8, 8), "train_patch": (32, 32, 32), "epochs": 300, "lr_halving_epochs": 50,
    "batch_size": 2,
}
