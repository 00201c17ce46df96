"""COS-Net settings. Paper: Zhou et al., Front. Mol. Biosci. 7 (2020) 613347 (spec section 1).

The paper fixes the 32^3 input, 1-shot episodes with two support sets per step, the 512-d feature
encoder, Eqs. 14-16 (BCE + two-stream Dice, unweighted) and the 3D dense CRF; the authors' public
``nets.py`` fixes width 64, kernel 3, three levels, DuSE after levels 1-2 and in the decoder, max
fusion, no skip connections and a 32768 -> 512 -> 512 head (spec 1.10). Everything the paper leaves
open (optimiser, learning rate, ways during training, episodes, CRF values) is our decision,
written in README.md.
"""
from __future__ import annotations

import dataclasses
from typing import Literal

from biomedai.config import BaseConfig

#: our fixed split of the 26 PolNet structures (spec 1.6 used 14/8 of 22 PDBs that are not all public):
#: 16 training classes, 10 unseen test classes chosen to span small, medium and large particles.
TRAIN_CLASSES: tuple[str, ...] = ("1bxn", "1qvr", "1s3x", "2cg9", "2uv8", "3cf3", "3j9i", "3qm1", "4cr2",
                                  "4v4r", "4v4r_50S", "4v7r", "5mrc", "6pxm", "7n4y", "8tux")
TEST_CLASSES: tuple[str, ...] = ("1f4a", "1u6g", "3d2f", "3gl1", "3h84", "3ipm", "4v4r_30S", "4v94",
                                 "6qzp", "6utj")


@dataclasses.dataclass
class CosNetConfig(BaseConfig):
    # --- network (authors' nets.py, spec 1.10) -------------------------------------------
    box: int = 32                      # paper 1.2: 32^3 subtomograms
    width: int = 64                    # nets.py: 64 channels at every level
    duse: bool = True                  # DuSE-SCNN (True) or SCNN (False), Table 1
    decoder: bool = True               # "w Decoder" (True) or "w/o Decoder" (False), Table 1
    duse_fusion: Literal["max", "add"] = "max"  # nets.py uses max; the paper's Eq. text says add
    embedding_dim: int = 512           # paper: 512 x 512 FC feature encoder
    head_activation: bool = False      # nets.py has no non-linearity between the two FC layers
    #: average-pool the 32^3 input by this factor inside the network (2 = 20 A voxels, ~8x cheaper; ours, for
    #: CPU training; the particle band, up to 1/4 cycles/voxel at 10 A, survives); 1 = the paper's network
    input_binning: int = 1
    # --- episodic training (paper 1.4; values not given there are ours) -------------------
    train_ways: int = 5
    episodes_per_step: int = 4
    steps: int = 3000
    steps_per_epoch: int = 50
    lr: float = 1e-3
    #: "constant" or "cosine" (decays to 2% over the time budgets when set, else over ``steps``; ours)
    lr_schedule: Literal["constant", "cosine"] = "constant"
    #: random 180-degree rotations about x, y or z of each training volume (they keep the missing wedge; ours)
    augment: bool = False
    weight_decay: float = 1e-4
    dice_eps: float = 1.0
    #: stop training after this many seconds (None: run all steps); for fixed-budget benchmarks
    train_seconds: float | None = None
    #: also stop after this many seconds of this process's CPU time (None: no CPU budget); with both set,
    #: whichever runs out first ends training (on a shared machine the CPU budget is the reproducible one)
    train_cpu_seconds: float | None = None
    train_classes: tuple[str, ...] = ()    # empty: every class in the training data
    device: str = "auto"
    amp: bool = True
    # --- test time ----------------------------------------------------------------------
    test_classes: tuple[str, ...] = ()     # empty: every class in the evaluation data
    eval_ways: tuple[int, ...] = (2, 4, 6, 8)
    eval_episodes: int = 1000
    #: supports are drawn from the first ``support_pool`` samples of each class, targets from the rest
    support_pool: int = 10
    threshold: float = 0.5
    #: predict: also classify against this support folder (NAME.mrc or NAME/*.mrc per class) when set
    support_dir: str = ""
    crf: bool = True
    crf_iterations: int = 5
    crf_w_appearance: float = 3.0      # w1, Eq. 18
    crf_w_smoothness: float = 1.0      # w2
    crf_sigma_alpha: float = 2.0       # voxels
    crf_sigma_beta: float = 0.5        # intensity, in units of the z-scored subtomogram
    crf_sigma_gamma: float = 1.0       # voxels
    crf_levels: int = 16               # intensity levels of the bilateral-grid approximation
    batch_size: int = 64               # inference batch
    #: Dice (with CRF) is measured on at most this many targets per class (the CRF costs ~0.1 s a volume on CPU)
    dice_targets_per_class: int = 50

    def validate(self) -> None:
        super().validate()
        checks = [
            ("box", self.box >= 8 and self.box % 4 == 0, "must be a multiple of 4, >= 8"),
            ("input_binning", self.input_binning >= 1 and self.box % (4 * self.input_binning) == 0,
             "must be >= 1 and divide box / 4"),
            ("lr_schedule", self.lr_schedule in ("constant", "cosine"), "must be 'constant' or 'cosine'"),
            ("width", self.width >= 2, "must be >= 2"),
            ("duse_fusion", self.duse_fusion in ("max", "add"), "must be 'max' or 'add'"),
            ("embedding_dim", self.embedding_dim >= 1, "must be >= 1"),
            ("train_ways", self.train_ways >= 2, "must be >= 2"),
            ("episodes_per_step", self.episodes_per_step >= 1, "must be >= 1"),
            ("steps", self.steps >= 1, "must be >= 1"),
            ("steps_per_epoch", self.steps_per_epoch >= 1, "must be >= 1"),
            ("lr", self.lr > 0, "must be > 0"),
            ("weight_decay", self.weight_decay >= 0, "must be >= 0"),
            ("dice_eps", self.dice_eps > 0, "must be > 0"),
            ("train_seconds", self.train_seconds is None or self.train_seconds > 0, "must be > 0 or null"),
            ("train_cpu_seconds", self.train_cpu_seconds is None or self.train_cpu_seconds > 0, "must be > 0 or null"),
            ("eval_ways", len(self.eval_ways) > 0 and min(self.eval_ways) >= 2, "must list ways >= 2"),
            ("eval_episodes", self.eval_episodes >= 1, "must be >= 1"),
            ("support_pool", self.support_pool >= 1, "must be >= 1"),
            ("threshold", 0 < self.threshold < 1, "must be in (0, 1)"),
            ("crf_iterations", self.crf_iterations >= 1, "must be >= 1"),
            ("crf_levels", self.crf_levels >= 2, "must be >= 2"),
            ("crf_sigma_alpha", self.crf_sigma_alpha > 0, "must be > 0"),
            ("crf_sigma_beta", self.crf_sigma_beta > 0, "must be > 0"),
            ("crf_sigma_gamma", self.crf_sigma_gamma > 0, "must be > 0"),
            ("batch_size", self.batch_size >= 1, "must be >= 1"),
            ("dice_targets_per_class", self.dice_targets_per_class >= 1, "must be >= 1"),
        ]
        self.check_rules(checks)
