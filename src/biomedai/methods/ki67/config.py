"""Settings of the Ki-67 method: Liu et al. 2020 (Front. Mol. Biosci., PMC7438787) and the IHC quantifier.

Spec: ``shared/specs/pathology.md`` section 1. Paper values cite their table; values the paper leaves
open are marked "[decide]" with the reason, and values from the authors' public notebook "[external]".
"""
from __future__ import annotations

import dataclasses
from typing import Literal

from biomedai.config import BaseConfig
from biomedai.errors import ConfigError

#: class index order of the public notebook [external], also the row order of Tables 4 and 5
CLASS_NAMES = ("negative", "positive", "background")
NEGATIVE, POSITIVE, BACKGROUND = 0, 1, 2
#: display colours (RGB) of the three-value colour map [external: public notebook]
CLASS_COLOURS = ((0, 0, 160), (139, 71, 38), (255, 255, 255))


@dataclasses.dataclass
class Ki67Config(BaseConfig):
    # ---------------------------------------------------------------- IHC quantification
    #: "deconvolution": scikit-image colour deconvolution (Ruifrok & Johnston H-DAB) [decide: issue 4];
    #: "channel_filter": the public notebook's BGR ranges [external], the paper's "colour channel filtering"
    ihc_map_mode: Literal["deconvolution", "channel_filter"] = "deconvolution"
    #: per-nucleus mean DAB optical density (rgb2hed units) above which a nucleus is Ki-67 positive;
    #: tuned on the two DeepLIIF training tiles only (Lung1, Bladder1), never on the test tiles [decide]
    dab_threshold: float = 0.04
    #: smoothed-DAB pixel value above which a pixel counts as nuclear foreground even when its
    #: haematoxylin is weak (strongly positive nuclei hide the counterstain) [decide]
    dab_pixel_threshold: float = 0.04
    #: let DAB alone make nuclear foreground (right for Ki-67, a nuclear antigen); set false for membrane or
    #: cytoplasm stains (e.g. scikit-image's ihc.png, FHL2), where DAB outlines whole cells [decide]
    dab_in_nuclear_mask: bool = True
    #: haematoxylin threshold for nuclear foreground; None = Otsu per image, never below the floor
    hematoxylin_threshold: float | None = None
    hematoxylin_floor: float = 0.02
    #: Gaussian smoothing (pixels) of the stain channels before thresholding
    smoothing_sigma: float = 1.5
    #: nucleus diameter in pixels at the image's magnification; null (default): measured on each image by
    #: granulometry (scale.py), or from the file's pixel size (7 um nuclei) when that fails [decide]
    nucleus_diameter_px: float | None = None
    #: public notebook's BGR inRange limits [external]: negative B>=150 and R<=160; positive B<=160
    filter_negative_min_blue: int = 150
    filter_negative_max_red: int = 160
    filter_positive_max_blue: int = 160

    # ---------------------------------------------------------------- patch classifier (Tables 2, 3)
    #: "resnet18": Table 2 as published (zero padding: the FCN map only approximates patch-wise
    #: classification); "resnet18_valid": the padding-free variant whose FCN map equals patch-wise
    #: classification exactly (networks.py) [decide: see README]
    architecture: Literal["resnet18", "resnet18_valid"] = "resnet18_valid"
    patch_size: int = 64              # Table 2: 3x64x64 input
    num_classes: int = 3              # Table 2: FC out = 3
    batch_size: int = 64              # Table 3
    epochs: int = 20                  # Table 3
    lr: float = 1e-3                  # Table 3: 1e-3 for epochs 1-10
    lr_step_epochs: int = 10          # Table 3: 1e-4 for epochs 11-20
    lr_gamma: float = 0.1
    weight_decay: float = 1e-5        # Table 3: Adam, weight decay 1e-5
    #: Table 3 says ImageNet-pretrained; this toolkit installs offline, so weights are only used when
    #: torchvision finds them in its local cache. Default off [decide]; see README "known differences".
    pretrained: bool = False
    #: oversample minority classes (jittered re-cuts) to equal counts. The paper's patch set was balanced
    #: by choosing all-positive / all-negative regions (section 1.3), which tissue tiles with natural
    #: frequencies cannot reproduce; on the DeepLIIF sample, oversampling its 26 positive cells made the
    #: network over-call positives (test accuracy 0.49 vs majority rate 0.60, CPU, 6 epochs), so the
    #: default keeps natural frequencies [decide]
    balance_classes: bool = False
    #: class imbalance during training [decide]: "none" (natural frequencies, positive recall was 0 on
    #: DeepLIIF), "weighted_loss" (cross-entropy weighted n/(K n_c)), "sampler" (classes drawn equally often)
    class_balance: Literal["none", "weighted_loss", "sampler"] = "weighted_loss"
    #: patches drawn (with replacement) per epoch; None = one pass over the training patches. The paper's
    #: 15,000 training patches gave ~235 steps per epoch; a few hundred tissue cells give 4 [decide]
    samples_per_epoch: int | None = None
    #: on-the-fly augmentation: "flips" (Table 3), "dihedral" (flips + 90-degree rotations), "none"
    augmentation: Literal["none", "flips", "dihedral"] = "dihedral"
    #: stain-like jitter of each RGB channel's optical density (0 = off). Off by default: 0.1 lowered the
    #: validation balanced accuracy on DeepLIIF (0.76 vs 0.81, resnet18_valid, 3 seeds) [decide]
    colour_jitter: float = 0.0
    #: images of the DeepLIIF train tiles to cut training patches from: "hematoxylin" (the panel) and/or
    #: "deconvolved" (our haematoxylin-only rendering of the IHC panel: same cells, a second stain rendering)
    training_views: tuple[str, ...] = ("hematoxylin",)
    #: train/validation split ratio (paper: random 8:2 at patch level, section 1.3)
    val_fraction: float = 0.2
    #: background boxes: a candidate box of ``patch_size`` is kept only if it overlaps no cell box of
    #: ``cell_box_size`` centred on an annotated cell (paper's rule, Fig. 3; box size presumably 64)
    cell_box_size: int = 64
    #: background boxes per image as a fraction of its cells (paper: 6,776 bg / 11,986 cells = 0.57)
    background_per_cell: float = 0.57
    #: points closer than patch_size/2 to the border: "drop" them or "pad" the image (reflect) [decide]
    border_policy: Literal["drop", "pad"] = "pad"
    #: data-loader device for training/inference: "auto", "cpu", "cuda"
    device: str = "auto"

    # ---------------------------------------------------------------- FCN map -> areas (public notebook)
    map_background_prob: float = 0.6  # background if P(bg) > 0.6 [external]
    map_positive_prob: float = 0.3    # else positive if P(pos) > 0.3, else negative [external]
    #: FCN tile side in pixels (None: one pass over the region, as the paper's sub_num=1)
    fcn_tile: int | None = None
    #: whole-slide mode: "auto" reads the level nearest the model's training microns per pixel (model.json
    #: preprocessing.mpp) and resamples the rest, level 0 as it is when the model or the slide
    #: states none; an integer reads that level as it is. Tile side in pixels the model sees
    wsi_level: int | Literal["auto"] = "auto"
    wsi_tile: int = 2048

    def validate(self) -> None:
        super().validate()
        checks = [
            ("dab_threshold", self.dab_threshold > 0, "must be > 0"),
            ("dab_pixel_threshold", self.dab_pixel_threshold > 0, "must be > 0"),
            ("hematoxylin_threshold", self.hematoxylin_threshold is None or self.hematoxylin_threshold > 0,
             "must be > 0 or null"),
            ("hematoxylin_floor", self.hematoxylin_floor >= 0, "must be >= 0"),
            ("smoothing_sigma", self.smoothing_sigma >= 0, "must be >= 0"),
            ("nucleus_diameter_px", self.nucleus_diameter_px is None or self.nucleus_diameter_px >= 4,
             "must be >= 4 or null (measured per image)"),
            ("patch_size", self.patch_size >= 32 and self.patch_size % 32 == 0, "must be a multiple of 32"),
            ("num_classes", self.num_classes == 3, "must be 3 (negative, positive, background)"),
            ("batch_size", self.batch_size >= 1, "must be >= 1"),
            ("epochs", self.epochs >= 1, "must be >= 1"),
            ("lr", self.lr > 0, "must be > 0"),
            ("lr_step_epochs", self.lr_step_epochs >= 1, "must be >= 1"),
            ("val_fraction", 0 <= self.val_fraction < 1, "must be in [0, 1)"),
            ("architecture", self.architecture in ("resnet18", "resnet18_valid"), "must be resnet18 or resnet18_valid"),
            ("class_balance", self.class_balance in ("none", "weighted_loss", "sampler"),
             "must be none, weighted_loss or sampler"),
            ("augmentation", self.augmentation in ("none", "flips", "dihedral"), "must be none, flips or dihedral"),
            ("colour_jitter", 0 <= self.colour_jitter < 1, "must be in [0, 1)"),
            ("samples_per_epoch", self.samples_per_epoch is None or self.samples_per_epoch >= 1,
             "must be >= 1 or null"),
            ("training_views", len(self.training_views) > 0
             and set(self.training_views) <= {"hematoxylin", "deconvolved"},
             "must list hematoxylin and/or deconvolved"),
            ("pretrained", not (self.pretrained and self.architecture != "resnet18"),
             "needs architecture resnet18 (no ImageNet weights for the padding-free variant)"),
            ("cell_box_size", self.cell_box_size >= 1, "must be >= 1"),
            ("background_per_cell", self.background_per_cell >= 0, "must be >= 0"),
            ("map_background_prob", 0 < self.map_background_prob < 1, "must be in (0, 1)"),
            ("map_positive_prob", 0 < self.map_positive_prob < 1, "must be in (0, 1)"),
            ("fcn_tile", self.fcn_tile is None or self.fcn_tile >= 2 * self.patch_size, "must be >= 2*patch_size"),
            ("wsi_level", self.wsi_level == "auto" or self.wsi_level >= 0, "must be 'auto' or >= 0"),
            ("wsi_tile", self.wsi_tile >= 2 * self.patch_size, "must be >= 2*patch_size"),
        ]
        self.check_rules(checks)
        for key in ("filter_negative_min_blue", "filter_negative_max_red", "filter_positive_max_blue"):
            if not 0 <= getattr(self, key) <= 255:
                raise ConfigError(f"key {key!r} must be in 0..255, got {getattr(self, key)!r}")
