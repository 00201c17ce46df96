"""Han-Net settings. Defaults are the paper's (He et al., Sec. "Implementation details", Table 1; spec
pathology.md 3.2-3.5) where it gives them, FullNet-varCE's (Qu et al. 2019, whose split and set-up
Han-Net follows) where it does not; every other default is a decision written in README.md."""
from __future__ import annotations

import dataclasses
from typing import Literal

from biomedai.config import BaseConfig

#: the rows of the paper's Table 1 (see model.VARIANTS)
VARIANT_NAMES = ("unet", "nunet", "nunet_attention", "nunet_dense_top", "hannet", "unetpp")


@dataclasses.dataclass
class HanNetConfig(BaseConfig):
    # ---------------------------------------------------------------- architecture (spec 3.2-3.3)
    #: Table 1 row: "unet", "nunet", "nunet_attention", "nunet_dense_top", "hannet"; or "unetpp", the MONAI
    #: BasicUNetPlusPlus peer (features base * (1, 1, 2, 4, 8, 1)), the architecture of the bundled model
    variant: str = "hannet"
    #: channels at full resolution; depth i has base * 2**i (paper: 64..1024, Sec. 3.2)
    base_channels: int = 64
    #: dense block: L_n = 6 layers of 16 maps, dilations (2, 4, 8, 4, 2) for the five top-row blocks
    dense_layers: int = 6
    growth_rate: int = 16
    dilations: tuple[int, int, int, int, int] = (2, 4, 8, 4, 2)
    #: "drop rate 0.1", read as dropout in the dense layers (FullNet convention; README decision 5)
    drop_rate: float = 0.1
    #: A-part branch kernels (series, parallel) and SE reduction (decisions: README 2)
    attention_kernels: tuple[int, int] = (3, 1)
    se_reduction: int = 16
    #: feature normalisation in every block: "instance" (default) or "batch". The paper does not say; with batch
    #: norm, AJI on an unseen stain source fell to 0.41 against 0.67 with instance norm (README decision 11)
    norm: Literal["batch", "instance"] = "instance"
    # ---------------------------------------------------------------- targets and post-processing (3.5)
    #: erosion radius of the inside class; the boundary band is the dilation minus the erosion
    boundary_radius: int = 1
    #: "morphological" (the paper's seeds + growth), "watershed", or "distance" (seeds split at the
    #: h-maxima of their distance transform first; postprocess.split_touching_seeds). Default "distance":
    #: +0.12..0.21 AJI over "morphological" for short-trained networks (README decision 7)
    postprocess: Literal["morphological", "watershed", "distance"] = "distance"
    #: "distance" post-processing: h of the h-maxima (pixels) and Gaussian sigma of the distance map
    split_h: float = 1.0
    split_sigma: float = 1.0
    #: objects smaller than this (pixels) are removed (FullNet: 20)
    min_object_size: int = 20
    #: seeds are grown back by this many pixels; None = ``boundary_radius``, the width the target's erosion
    #: took away (growing by more inflates every nucleus: with perfect maps AJI falls from 0.98 to 0.83 on
    #: miccai2015 at radius 2; benchmarks/results/RESULTS-nuclei_hannet.md)
    dilation_radius: int | None = None
    # ---------------------------------------------------------------- training (paper: Adam, lr 1e-3, 300 epochs)
    epochs: int = 300
    lr: float = 1e-3
    weight_decay: float = 1e-4
    #: "constant", "cosine" decay to 0, or "onecycle" (5 % linear warm-up, then cosine to lr / 100); both
    #: over ``epochs`` or over ``max_minutes``, whichever ends training first. The paper states no schedule;
    #: default "onecycle" (README decision 5)
    lr_schedule: Literal["constant", "cosine", "onecycle"] = "onecycle"
    #: "ce" (pixel-wise cross-entropy, implied by the paper) or "ce_dice" (default; README decision 5):
    #: class-weighted cross-entropy plus the soft Dice loss of the inside and boundary classes
    loss: Literal["ce", "ce_dice"] = "ce_dice"
    #: cross-entropy weights of (background, inside, boundary) for ``loss="ce_dice"``
    class_weights: tuple[float, float, float] = (1.0, 1.0, 2.0)
    #: validate (and so allow a "best" checkpoint) only after this fraction of the training (epochs or time)
    #: has passed; 0 validates from the start. Early checkpoints chosen on one noisy validation tile were
    #: worse on test than the last one (RESULTS-nuclei_hannet.md)
    val_from: float = 0.5
    batch_size: int = 8
    #: training crop (FullNet: 208); must be divisible by 16
    crop_size: int = 208
    #: random crops per training tile and epoch
    crops_per_tile: int = 16
    #: stop training after this many minutes (None: run all epochs); the best checkpoint is kept
    max_minutes: float | None = None
    #: what ``max_minutes`` counts: "wall" clock, or "cpu" time of this process (fair budgets on a shared
    #: machine; data-loading worker processes are not counted)
    time_budget_clock: Literal["wall", "cpu"] = "wall"
    device: str = "auto"
    amp: bool = True
    #: data-loading processes; None: 0 on CPU, min(8, cores - 1) when training on CUDA
    num_workers: int | None = None
    #: the split: "default" (split.json: gbm40 is an unseen-source test set), "all_sources"
    #: (split_all_sources.json: held-out tiles of both sources), or the path of a split JSON file
    split: str = "default"
    #: "split": train on the split's training tiles; "all": on every labelled tile found (for a final model)
    train_on: Literal["split", "all"] = "split"
    #: validate (AJI on the validation tiles) every N epochs
    val_every: int = 1
    # augmentation (paper: colour, crop, flip, elastic, rotation)
    aug_color: bool = True
    aug_flip: bool = True
    aug_rotate: bool = True
    aug_elastic: bool = True
    #: HED stain jitter (Tellez et al. 2019): each haematoxylin/eosin/DAB channel scaled by U(1 - s, 1 + s) and
    #: shifted by U(-s, s) optical density; 0 = off (the paper's augmentation has none; README decision 12)
    aug_stain: float = 0.0
    #: stain normalisation before the network: "none", "reinhard" (to the training tiles' mean L*a*b*
    #: statistics) or "macenko" (to Macenko's reference); stored with the weights
    stain_normalization: Literal["none", "reinhard", "macenko"] = "none"
    # ---------------------------------------------------------------- inference
    tile_size: int = 256
    tile_overlap: int = 64
    infer_batch_size: int = 4
    #: 8-fold flip/rotation test-time augmentation (FullNet)
    tta: bool = False
    #: whole-slide / large images: blocks of this size (pixels) with this margin are segmented one by one
    block_size: int = 2048
    block_margin: int = 128
    #: whole slides: "auto" reads the level nearest the model's training microns per pixel (model.json
    #: preprocessing.mpp) and resamples the rest; level 0 as it is when the model or the slide states none.
    #: An integer reads that pyramid level as it is
    wsi_level: int | Literal["auto"] = "auto"
    #: images with more pixels than this go through the block (seam-merging) path
    max_whole_image_pixels: int = 4096 * 4096
    # ---------------------------------------------------------------- evaluation
    eval_part: Literal["train", "val", "test"] = "test"

    @property
    def grow_radius(self) -> int:
        """Pixels by which inside seeds are grown back (``dilation_radius``, default ``boundary_radius``)."""
        return self.boundary_radius if self.dilation_radius is None else self.dilation_radius

    def validate(self) -> None:
        super().validate()
        checks = [
            ("variant", self.variant in VARIANT_NAMES, f"must be one of {list(VARIANT_NAMES)}"),
            ("base_channels", self.base_channels >= 1, "must be >= 1"),
            ("dense_layers", self.dense_layers >= 1, "must be >= 1"),
            ("growth_rate", self.growth_rate >= 1, "must be >= 1"),
            ("dilations", all(d >= 1 for d in self.dilations), "must be >= 1"),
            ("drop_rate", 0 <= self.drop_rate < 1, "must lie in [0, 1)"),
            ("attention_kernels", all(k >= 1 and k % 2 == 1 for k in self.attention_kernels), "must be odd"),
            ("se_reduction", self.se_reduction >= 1, "must be >= 1"),
            ("norm", self.norm in ("batch", "instance"), "must be 'batch' or 'instance'"),
            ("boundary_radius", self.boundary_radius >= 1, "must be >= 1"),
            ("min_object_size", self.min_object_size >= 0, "must be >= 0"),
            ("dilation_radius", self.dilation_radius is None or self.dilation_radius >= 0, "must be >= 0 or null"),
            ("postprocess", self.postprocess in ("morphological", "watershed", "distance"),
             "must be 'morphological', 'watershed' or 'distance'"),
            ("split_h", self.split_h > 0, "must be > 0"),
            ("split_sigma", self.split_sigma >= 0, "must be >= 0"),
            ("loss", self.loss in ("ce", "ce_dice"), "must be 'ce' or 'ce_dice'"),
            ("lr_schedule", self.lr_schedule in ("constant", "cosine", "onecycle"),
             "must be 'constant', 'cosine' or 'onecycle'"),
            ("class_weights", len(self.class_weights) == 3 and all(w > 0 for w in self.class_weights),
             "must be three positive numbers"),
            ("val_from", 0 <= self.val_from < 1, "must lie in [0, 1)"),
            ("split", self.split in ("default", "all_sources") or str(self.split).endswith(".json"),
             "must be 'default', 'all_sources' or the path of a split .json file"),
            ("time_budget_clock", self.time_budget_clock in ("wall", "cpu"), "must be 'wall' or 'cpu'"),
            ("epochs", self.epochs >= 1, "must be >= 1"),
            ("lr", self.lr > 0, "must be > 0"),
            ("weight_decay", self.weight_decay >= 0, "must be >= 0"),
            ("batch_size", self.batch_size >= 1, "must be >= 1"),
            ("crop_size", self.crop_size >= 16 and self.crop_size % 16 == 0, "must be a multiple of 16"),
            ("crops_per_tile", self.crops_per_tile >= 1, "must be >= 1"),
            ("aug_stain", 0 <= self.aug_stain < 1, "must lie in [0, 1)"),
            ("max_minutes", self.max_minutes is None or self.max_minutes > 0, "must be > 0 or null"),
            ("val_every", self.val_every >= 1, "must be >= 1"),
            ("num_workers", self.num_workers is None or self.num_workers >= 0, "must be >= 0 or null"),
            ("tile_size", self.tile_size >= 16 and self.tile_size % 16 == 0, "must be a multiple of 16"),
            ("tile_overlap", 0 <= self.tile_overlap < self.tile_size, "must lie in [0, tile_size)"),
            ("infer_batch_size", self.infer_batch_size >= 1, "must be >= 1"),
            ("block_size", self.block_size >= self.tile_size, "must be >= tile_size"),
            ("block_margin", 0 <= 2 * self.block_margin < self.block_size, "must be < block_size / 2"),
            ("wsi_level", self.wsi_level == "auto" or self.wsi_level >= 0, "must be 'auto' or >= 0"),
            ("max_whole_image_pixels", self.max_whole_image_pixels >= 1, "must be >= 1"),
        ]
        self.check_rules(checks)

    #: keys that define the network and its input; stored beside the weights
    ARCH_KEYS = ("variant", "base_channels", "dense_layers", "growth_rate", "dilations", "drop_rate",
                 "attention_kernels", "se_reduction", "norm", "boundary_radius", "stain_normalization")
