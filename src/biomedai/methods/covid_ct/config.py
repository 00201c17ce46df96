"""Settings of the COVID-19 CT quantification (Dou et al. 2021, spec xray-ct.md section 3)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from biomedai.config import BaseConfig

#: the paper's four CT-number ranges (section "HU stratification"; the issue fixes the edges as
#: right-closed intervals): (-inf, -750], (-750, -300], (-300, 50], (50, inf)
DEFAULT_HU_EDGES = (-750.0, -300.0, 50.0)
DEFAULT_HU_BIN_NAMES = ("near-normal (<= -750)", "ground glass (-750, -300]", "consolidation (-300, 50]",
                        "soft tissue (> 50)")


@dataclass
class CovidCTConfig(BaseConfig):
    """Lung, lobe and lesion quantification; the slice classifier extension.

    HU bins are right-closed: a voxel of exactly ``-750`` HU is in the first bin ``(-inf, -750]``,
    ``-749.9`` in the second. ``lesion_min_hu`` is exclusive (lesion voxels are ``> lesion_min_hu``)
    and ``lesion_max_hu`` inclusive, matching the bins.
    """

    # --- input checks (spec 3.6: "check uniform slice spacing")
    max_slice_spacing_mm: float = 10.0       # thicker slices are refused (volumes would be meaningless)
    uneven_spacing_tolerance: float = 0.05   # relative spread of slice gaps accepted
    max_gantry_tilt_deg: float = 0.5         # tilted acquisitions are refused (not resampled)
    # --- lung mask (classical; spec 3.6 module 1)
    lung_max_hu: float = -320.0              # air/lung threshold for the seed mask
    airway_max_hu: float = -950.0            # trachea/bronchi region growing threshold
    lung_closing_mm: float = 5.0             # closing radius that pulls vessels/lesions into the mask
    min_lung_volume_ml: float = 100.0        # both lungs together below this -> "no lungs found" (3-D)
    min_lung_area_cm2: float = 5.0           # the same for a single slice
    # --- lesions (spec 3.3 "HU stratification")
    hu_edges: tuple[float, ...] = DEFAULT_HU_EDGES
    hu_bin_names: tuple[str, ...] = DEFAULT_HU_BIN_NAMES
    lesion_min_hu: float = -750.0            # exclusive
    lesion_max_hu: float = 50.0              # inclusive
    lesion_smoothing_mm: float = 0.0         # Gaussian sigma before the lesion threshold (bins use raw HU)
    vessel_radius_mm: float = 2.0            # opening radius: thinner bright structures are vessels
    min_lesion_ml: float = 0.1               # lesion components smaller than this are dropped
    # --- lobes
    lobe_mask: str = ""                      # a lobe label map from another tool (one input only)
    lobe_scheme: str = "auto"                # its labels: auto, totalsegmentator, lungmask, cip, biomedai
    # --- group statistics (spec 3.3 "Statistics"; 3.6)
    normality_alpha: float = 0.05            # Shapiro-Wilk level that picks t-test vs Mann-Whitney [decide]
    fdr: bool = False                        # Benjamini-Hochberg column (the paper used none)
    cv_folds: int = 5                        # extension (a): cross-validated AUC of a logistic regression
    # --- slice classifier (extension, not in the paper)
    image_size: int = 128
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3
    train_time_budget_s: float = 1500.0
    device: str = "cpu"
    threads: int = 1

    def validate(self) -> None:
        super().validate()
        edges = list(self.hu_edges)
        self.check_rules([
            ("hu_edges", len(edges) >= 1 and all(a < b for a, b in zip(edges, edges[1:])),
             "strictly increasing HU edges"),
            ("hu_bin_names", len(self.hu_bin_names) == len(edges) + 1, "one name per bin (len(hu_edges) + 1)"),
            ("lesion_max_hu", self.lesion_max_hu > self.lesion_min_hu, "greater than lesion_min_hu"),
            ("vessel_radius_mm", self.vessel_radius_mm >= 0, ">= 0"),
            ("lesion_smoothing_mm", self.lesion_smoothing_mm >= 0, ">= 0"),
            ("lung_closing_mm", self.lung_closing_mm >= 0, ">= 0"),
            ("max_slice_spacing_mm", self.max_slice_spacing_mm > 0, "> 0"),
            ("lobe_scheme", self.lobe_scheme in ("auto", "totalsegmentator", "lungmask", "cip", "biomedai"),
             "one of auto, totalsegmentator, lungmask, cip, biomedai"),
            ("image_size", self.image_size >= 32, ">= 32"),
            ("train_time_budget_s", self.train_time_budget_s > 0, "> 0 (the training engine's wall-clock budget)"),
        ])

    def hu_bins(self) -> list[tuple[float, float]]:
        """The right-closed HU intervals ``(lo, hi]`` with the infinities at the ends."""
        edges = [-math.inf, *self.hu_edges, math.inf]
        return list(zip(edges[:-1], edges[1:]))

