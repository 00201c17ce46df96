"""Settings of the Wang et al. NMOSD-vs-MS method. Defaults are the paper's where it fixes them and the spec's
decisions where it does not (``../shared/specs/breast-neuro.md`` section 3)."""
from __future__ import annotations

import dataclasses
from typing import Literal

from biomedai.config import BaseConfig
from biomedai.errors import ConfigError

#: the classifiers of spec 3.6 (built by ``networks.build_classifier``)
ARCHITECTURES = ("twoview-r18", "twoview-r34", "3d-r18", "3d-r34")
INPUT_KINDS = ("wmh_mask", "flair_masked_by_wmh", "flair")
SEGMENTERS = ("morphology", "network")
#: explanation maps predict can write (explain.py)
EXPLANATIONS = ("gradcam", "occlusion")


@dataclasses.dataclass
class NmosdMsConfig(BaseConfig):
    # --- input (3.10 points 1 and 3) ------------------------------------------------------------------------
    #: every volume is reoriented to RAS+ (nibabel's closest canonical) before anything else (spec 3.10.1)
    orientation: Literal["RAS"] = "RAS"
    #: what the classifier sees (spec 3.8 decision): the WMH mask, FLAIR inside it, or the whole FLAIR
    input_kind: Literal["wmh_mask", "flair_masked_by_wmh", "flair"] = "flair_masked_by_wmh"
    #: a brain mask on the FLAIR grid (one subject); empty: estimated from the skull-stripped FLAIR
    brain_mask: str = ""
    #: an imported lesion (WMH) mask on the FLAIR grid (one subject); empty: the morphology segmenter
    lesion_mask: str = ""
    #: the WMH segmenter when no lesion mask is given: the open coarse-to-fine morphology (spec 3.4 stand-in) or
    #: the learned 3-D U-Net (wmh_net.py) loaded from the model folder ``wmh_model`` (empty: the bundled
    #: ``models/wmh_default`` when the installation has it)
    segmenter: Literal["morphology", "network"] = "morphology"
    #: model folder of a trained WMH network (benchmarks/quality/nmosd_ms/wmh_network_lopo.py writes them)
    wmh_model: str = ""
    #: the FLAIR's space, for the lesion-location summary (MNI152 priors): ``auto`` = MNI when the grid is a
    #: standard MNI152 grid (location.MNI_GRIDS), ``mni`` = registered to MNI (any grid), ``native`` = no summary
    space: Literal["auto", "mni", "native"] = "auto"
    #: for a DICOM series input, also write the lesion mask as a DICOM SEG joined to the series
    dicom_seg: bool = True
    # --- pre-processing (3.5) -----------------------------------------------------------------------------
    #: resize target after the crop kernel (3.5 step 3: 100 x 100 x 100)
    resize_side: int = 100
    #: random shift-crop side fed to the network (3.6: 98 channels per view; centre crop at inference)
    crop_side: int = 98
    #: flip along the left-right axis with this probability during training (3.5 step 4)
    flip_probability: float = 0.5
    # --- model (3.6) --------------------------------------------------------------------------------------
    arch: Literal["twoview-r18", "twoview-r34", "3d-r18", "3d-r34"] = "twoview-r18"
    dropout: float = 0.15
    # --- training (3.7; epochs, batch size and momentum are not in the paper) ------------------------------
    lr: float = 0.01
    lr_step_epochs: int = 10
    #: "reduced by 10% every ten steps": gamma 0.1 (spec decision) or 0.9
    lr_gamma: float = 0.1
    momentum: float = 0.9
    batch_size: int = 8
    epochs: int = 30
    # --- evaluation (3.7) ---------------------------------------------------------------------------------
    folds: int = 5
    repeats: int = 15
    positive_class: Literal["NMOSD"] = "NMOSD"
    #: with a classifier: write explanation maps (NIfTI + PNG) per subject in predict
    explain: bool = True
    #: which maps, comma-separated: ``gradcam`` (one backward pass) and/or ``occlusion`` (343 forward passes)
    explain_maps: str = "gradcam,occlusion"

    def explanation_kinds(self) -> tuple[str, ...]:
        """The names in ``explain_maps``, in order."""
        return tuple(m.strip() for m in self.explain_maps.split(",") if m.strip())

    def validate(self) -> None:
        """Reject settings the pipeline cannot honour."""
        super().validate()
        if self.arch not in ARCHITECTURES:
            raise ConfigError(f"arch must be one of {ARCHITECTURES}, got {self.arch!r}")
        if self.input_kind not in INPUT_KINDS:
            raise ConfigError(f"input_kind must be one of {INPUT_KINDS}, got {self.input_kind!r}")
        if self.space not in ("auto", "mni", "native"):
            raise ConfigError(f"space must be auto, mni or native, got {self.space!r}")
        if self.segmenter not in SEGMENTERS:
            raise ConfigError(f"segmenter must be one of {SEGMENTERS}, got {self.segmenter!r}")
        if not 1 <= self.crop_side <= self.resize_side:
            raise ConfigError(f"crop_side must be in 1..resize_side ({self.resize_side}), got {self.crop_side}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        maps = self.explanation_kinds()
        if not maps or set(maps) - set(EXPLANATIONS):
            raise ConfigError(f"explain_maps: comma-separated names from {EXPLANATIONS}, got {self.explain_maps!r}")
        if self.folds < 2 or self.repeats < 1:
            raise ConfigError(f"need folds >= 2 and repeats >= 1, got {self.folds} and {self.repeats}")
