"""One chest CT from file to numbers: HU volume, lungs, lobes, lesions, the per-region table."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

from .config import CovidCTConfig
from .ct_input import ChestCT, load_chest_ct, patient_axis_signs
from .lesions import lesion_mask
from .lobes import geometric_lobes, import_lobes
from .lungs import LungSegmentation, segment_lungs
from .quantify import quantify, summary

logger = logging.getLogger(__name__)

APPROXIMATE_LOBES = "approximate (geometric partition, no fissures detected)"


@dataclass
class CaseResult:
    """Everything measured on one CT."""

    ct: ChestCT
    lungs: LungSegmentation
    lobes: np.ndarray | None
    lobe_source: str
    lesion: np.ndarray
    rows: list[dict[str, Any]]
    timings_s: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        out = summary(self.rows)
        out["lobes"] = self.lobe_source
        out["lung_notes"] = self.lungs.notes
        out["spacing_mm"] = list(self.ct.spacing)
        out["shape"] = list(self.ct.hu.shape)
        return out


def analyse_hu(ct: ChestCT, config: CovidCTConfig, lobe_mask: str | Path | None = None,
               lobe_scheme: str = "auto") -> CaseResult:
    """Lungs, lobes, lesions and the table for an already loaded CT."""
    timings: dict[str, float] = {}
    axes = patient_axis_signs(ct.image)
    if axes["superior"][0] != 0:
        raise InvalidInputError("the CT is not stored as axial slices (z is not the first array axis); "
                                "reorient it to axial first", ct.source)
    start = time.perf_counter()
    lungs = segment_lungs(ct.hu, ct.spacing, config, superior_sign=axes["superior"][1],
                          left_sign=axes["left"][1] if axes["left"][0] == 2 else 1, where=ct.source)
    timings["lungs"] = time.perf_counter() - start
    start = time.perf_counter()
    if lobe_mask is not None:
        lobes, scheme = import_lobes(lobe_mask, ct.hu.shape, lobe_scheme)
        lobes = np.where(lungs.lung, lobes, 0).astype(np.uint8)
        source = f"imported from {Path(lobe_mask).name} ({scheme} labels)"
    elif ct.is_single_slice:
        lobes, source = None, "none (a single slice has no lobe geometry)"
    else:
        lobes = geometric_lobes(lungs.labels, ct.spacing, axes["superior"][1],
                                axes["posterior"][1] if axes["posterior"][0] == 1 else 1)
        source = APPROXIMATE_LOBES
    timings["lobes"] = time.perf_counter() - start
    start = time.perf_counter()
    lesion = lesion_mask(ct.hu, lungs.lung, ct.spacing, config)
    timings["lesions"] = time.perf_counter() - start
    rows = quantify(ct.hu, ct.spacing, lungs.labels, lobes, lesion, config)
    return CaseResult(ct, lungs, lobes, source, lesion, rows, timings)


def analyse_ct(path: str | Path, config: CovidCTConfig | None = None, lobe_mask: str | Path | None = None,
               lobe_scheme: str = "auto") -> CaseResult:
    """Read ``path`` (DICOM series folder or file, NIfTI, NRRD) and measure it."""
    config = config or CovidCTConfig()
    start = time.perf_counter()
    ct = load_chest_ct(path, config)
    load_s = time.perf_counter() - start
    result = analyse_hu(ct, config, lobe_mask, lobe_scheme)
    result.timings_s = {"load": load_s, **result.timings_s}
    return result
