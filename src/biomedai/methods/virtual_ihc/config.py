"""Virtual Ki-67 IHC settings. Paper: Xu et al., Front. Mol. Biosci. 7 (2020) 571180 (spec pathology.md, section 2).

The paper fixes the 224 px GAN tiles and 2,240 px MIL bags (2.2-2.3), ResNet34 MIL with top-1 instance
selection, CE and Adam 1e-4 for 100 epochs (2.4), the Table 2 generator and discriminator, a label channel
appended to the generator input, "BCE for the discriminator, MSE for the generator" and Adam 1e-4 for 100
epochs (2.5). Everything it leaves open (spec 2.10) is decided here and in README.md, with the
CycleGAN reference (Zhu et al. 2017, junyanz/pytorch-CycleGAN-and-pix2pix) as the default where one exists.
"""
from __future__ import annotations

import dataclasses
from typing import Literal

from biomedai.config import BaseConfig
from biomedai.errors import ConfigError

CONDITION_MODES = ("none", "plane", "onehot")
CONDITION_SOURCES = ("hard", "probability")
GAN_LOSSES = ("paper", "lsgan", "bce")
MODES = ("cyclegan", "pix2pix")
INPUT_VIEWS = ("rgb", "hematoxylin")
TRAIN_MODELS = ("positivity", "pix2pix", "cyclegan", "conditional_cyclegan", "mil")


@dataclasses.dataclass
class VirtualIHCConfig(BaseConfig):
    # --- tiling (paper 2.3) --------------------------------------------------------------------------
    tile_size: int = 224               # GAN and MIL instance tiles: 224 x 224
    bag_size: int = 2240               # MIL bags ("large patches"): 2,240 x 2,240 = 10 x 10 instances
    bag_min_tissue: float = 0.5        # ours: a bag needs half of its pixels in the Otsu tissue mask
    instance_min_tissue: float = 0.1   # ours: instances with less tissue are not scored by the MIL
    tile_overlap: int = 32             # ours: GAN tiles overlap by 32 px at inference (the paper does not say)
    blend: Literal["linear", "gaussian", "constant"] = "linear"  # ours: tent weights hide the seams
    # --- generator / discriminator (Table 2) ---------------------------------------------------------
    gen_width: int = 64                # first conv: 3 -> 64
    gen_res_blocks: int = 1            # Table 2 prints one conv-IN-ReLU-conv-IN unit; skip added (spec 2.10.3)
    gen_padding: Literal["zeros", "reflect"] = "zeros"  # Table 2: zero padding p=3 / p=1
    disc_width: int = 64               # first conv: 3 -> 64
    disc_global_pool: bool = True      # Table 2 ends with AveragePool: one logit per image (False: patch map)
    # --- condition (paper 2.5; spec 2.10.1-2) --------------------------------------------------------
    mode: Literal["cyclegan", "pix2pix"] = "cyclegan"
    condition: Literal["none", "plane", "onehot"] = "plane"  # paper: the class label as one extra channel
    condition_source: Literal["hard", "probability"] = "hard"  # paper: the MIL label (hard)
    condition_in_discriminator: bool = False  # Table 2: D has in_c = 3 (no condition)
    #: the label given to F with a fake Ki-67 tile (and to G with a fake H&E): "reuse" the source tile's label
    #: (ours), or "reclassify" the fake with the other domain's MIL classifier
    cycle_label: Literal["reuse", "reclassify"] = "reuse"
    # --- losses (paper 2.5 "BCE for D, MSE for G"; lambdas from the CycleGAN reference) -------------
    gan_loss: Literal["paper", "lsgan", "bce"] = "paper"
    lambda_cycle: float = 10.0         # CycleGAN default (paper: not given)
    lambda_identity: float = 0.5       # times lambda_cycle, CycleGAN default; 0 switches it off
    lambda_l1: float = 100.0           # pix2pix mode: the pix2pix default
    pool_size: int = 50                # CycleGAN image pool (paper: not given)
    # --- optimisation (paper 2.5: Adam 1e-4, 100 epochs; the rest from CycleGAN) ---------------------
    lr: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.999
    epochs: int = 100
    decay_epochs: int = 50             # ours: the last 50 of the 100 epochs decay linearly to 0
    batch_size: int = 1                # CycleGAN default (paper: not given)
    #: stop after this many seconds (None: all epochs); the best checkpoint on validation is kept
    train_seconds: float | None = None
    steps_per_epoch: int | None = None  # None: one pass over the larger domain
    # --- positivity-aware pix2pix (ours; README "Positivity head"): haematoxylin -> Ki-67 on paired tiles ----
    #: "hematoxylin": every input is reduced to its deconvolved haematoxylin (``positivity.haematoxylin_view``)
    input_view: Literal["rgb", "hematoxylin"] = "rgb"
    positivity_head: bool = False      # a 4th generator output: per-pixel positive-nucleus logit that draws DAB
    lambda_positivity: float = 10.0    # weight of the head's BCE against the L1 (x lambda_l1) term
    positive_weight: float = 5.0       # BCE pos_weight (positive-nucleus pixels are ~3 % of all pixels)
    lambda_gan: float = 1.0            # pix2pix adversarial weight (the pix2pix default: 1)
    positivity_threshold: float = 0.5  # DAB is drawn above this probability (set on validation tiles)
    dab_od: float = 0.09               # DAB optical density drawn (median of DeepLIIF Bladder1 positive nuclei)
    # --- MIL classifier (paper 2.4) ------------------------------------------------------------------
    mil_layers: tuple[int, ...] = (3, 4, 6, 3)  # ResNet34
    mil_width: int = 64                # first stage width (ResNet34: 64); smaller for CPU
    mil_lr: float = 1e-4
    mil_epochs: int = 100
    mil_top_k: int = 1                 # paper: the single most probable instance per bag
    mil_batch_size: int = 32
    mil_train_seconds: float | None = None
    mil_input_size: int = 224          # instances are resized to this before the network (ours, for CPU)
    # --- the train action (ours; README "Train"): which model ``biomedai train virtual_ihc`` trains ---------
    #: positivity | pix2pix (paired DeepLIIF panels), cyclegan | conditional_cyclegan (he/ + ihc/), mil (bags)
    model: Literal["positivity", "pix2pix", "cyclegan", "conditional_cyclegan", "mil"] = "cyclegan"
    train_crops: int = 400             # unpaired models: random training crops per domain (+16 for validation)
    mil_he: str = ""                   # conditional_cyclegan: MIL classifier folder for H&E tiles (model=mil)
    mil_ihc: str = ""                  # conditional_cyclegan: MIL classifier folder for Ki-67 IHC tiles
    budget_clock: Literal["wall", "cpu"] = "wall"  # what train_seconds and mil_train_seconds count
    # --- quantification and inference ---------------------------------------------------------------
    nucleus_diameter_px: float = 16.0  # passed to the Ki-67 method's IHC quantifier
    brown_warning_fraction: float = 0.003  # warn that an "H&E" input looks like IHC above this share of brown pixels
    device: str = "auto"
    batch_tiles: int = 4
    real_ihc: str = ""                # predict: a real Ki-67 image of the same region (one input) for the figure
    #: predict: a MIL model folder (a MIL-only folder or a virtual_ihc model with a classifier) whose per-tile
    #: P(tumour) gives the heat map and, for a conditional generator, the condition; "" = the model's own
    mil_model: str = ""
    # --- whole slides (ours; predict on .svs/.ndpi/..., pyramidal TIFFs and large TIFFs) ----------------------
    #: the pyramid level the generator runs at: "auto" = the level nearest the model's training microns per pixel
    #: (model.json preprocessing.mpp), the factor left resampled; level 0 when the model or the slide states none
    slide_level: int | Literal["auto"] = "auto"
    slide_min_pixels: int = 4096 * 4096  # a plain TIFF with at least this many pixels is read as a slide
    slide_thumbnail_px: int = 2048     # longest side of the low-resolution image for the Otsu mask and figure
    slide_min_tissue: float = 0.0      # a tile is generated when its tissue fraction exceeds this (else white)
    slide_count_block: int = 1024      # blocks (plus a margin) the positive cells of a slide are counted in
    slide_output_tile: int = 256       # tile side of the pyramidal TIFF written

    def validate(self) -> None:
        super().validate()
        if self.condition not in CONDITION_MODES:
            raise ConfigError(f"condition must be one of {CONDITION_MODES}, got {self.condition!r}")
        if self.condition_source not in CONDITION_SOURCES:
            raise ConfigError(f"condition_source must be one of {CONDITION_SOURCES}, got {self.condition_source!r}")
        if self.gan_loss not in GAN_LOSSES:
            raise ConfigError(f"gan_loss must be one of {GAN_LOSSES}, got {self.gan_loss!r}")
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.tile_size % 4:
            raise ConfigError(f"tile_size must be a multiple of 4 (two stride-2 stages), got {self.tile_size}")
        if self.bag_size < self.tile_size:
            raise ConfigError(f"bag_size ({self.bag_size}) must be at least tile_size ({self.tile_size})")
        if not 0 <= self.tile_overlap < self.tile_size:
            raise ConfigError(f"tile_overlap must lie in [0, tile_size), got {self.tile_overlap}")
        if self.decay_epochs > self.epochs:
            raise ConfigError(f"decay_epochs ({self.decay_epochs}) exceeds epochs ({self.epochs})")
        if self.input_view not in INPUT_VIEWS:
            raise ConfigError(f"input_view must be one of {INPUT_VIEWS}, got {self.input_view!r}")
        if not 0.0 < self.positivity_threshold < 1.0:
            raise ConfigError(f"positivity_threshold must lie in (0, 1), got {self.positivity_threshold}")
        if self.positivity_head and self.mode != "pix2pix":
            raise ConfigError("positivity_head needs paired training: set mode='pix2pix'")
        if self.model not in TRAIN_MODELS:
            raise ConfigError(f"model must be one of {TRAIN_MODELS}, got {self.model!r}")
        if self.budget_clock not in ("wall", "cpu"):
            raise ConfigError(f"budget_clock must be 'wall' or 'cpu', got {self.budget_clock!r}")
        if self.train_crops < 1:
            raise ConfigError(f"train_crops must be >= 1, got {self.train_crops}")
        if self.mil_top_k < 1:
            raise ConfigError(f"mil_top_k must be >= 1, got {self.mil_top_k}")
        if (self.slide_level != "auto" and self.slide_level < 0) or self.slide_thumbnail_px < 64 or self.slide_count_block < 128:
            raise ConfigError("slide_level must be 'auto' or >= 0, slide_thumbnail_px >= 64 and slide_count_block >= 128")
        if self.slide_output_tile <= 0 or self.slide_output_tile % 16:
            raise ConfigError(f"slide_output_tile must be a positive multiple of 16, got {self.slide_output_tile}")
        if not 0.0 <= self.slide_min_tissue < 1.0:
            raise ConfigError(f"slide_min_tissue must lie in [0, 1), got {self.slide_min_tissue}")

    @property
    def condition_channels(self) -> int:
        """Extra generator input channels: 0 (none), 1 (scalar plane) or 2 (one-hot)."""
        return {"none": 0, "plane": 1, "onehot": 2}[self.condition]
