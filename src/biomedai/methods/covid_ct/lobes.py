"""Five lobes: an APPROXIMATE geometric partition of each lung, or lobe masks imported from another tool.

The geometric partition is not anatomy: no fissure is detected. Within each lung, the lower lobe is
the part below an oblique plane that runs from the posterior apex third down to the anterior base
(the course of the major fissure), placed so that the lobe takes a typical adult volume fraction;
on the right, the middle lobe is the anterior-inferior part of the rest, again by a typical
fraction. Every output that uses it says ``lobes: approximate (geometric)``. For anatomical lobes,
import a mask from TotalSegmentator, lungmask (LTRCLobes) or the Chest Imaging Platform.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.io import read_image

from .lungs import LEFT_LUNG, RIGHT_LUNG

RUL, RML, RLL, LUL, LLL = 1, 2, 3, 4, 5
LOBE_NAMES = {RUL: "right upper lobe", RML: "right middle lobe", RLL: "right lower lobe",
              LUL: "left upper lobe", LLL: "left lower lobe"}
LOBE_LUNG = {RUL: RIGHT_LUNG, RML: RIGHT_LUNG, RLL: RIGHT_LUNG, LUL: LEFT_LUNG, LLL: LEFT_LUNG}

#: typical adult lobe volume fractions of their lung (approximate; used only to place the planes)
RIGHT_LOWER_FRACTION, RIGHT_MIDDLE_FRACTION, LEFT_LOWER_FRACTION = 0.45, 0.15, 0.48
#: slope of the oblique plane: normalised height change per normalised anterior-to-posterior step
OBLIQUE_SLOPE = 0.6

#: label value -> our lobe, per tool
IMPORT_SCHEMES: dict[str, dict[int, int]] = {
    "biomedai": {1: RUL, 2: RML, 3: RLL, 4: LUL, 5: LLL},
    "totalsegmentator": {12: RUL, 13: RML, 14: RLL, 10: LUL, 11: LLL},   # TotalSegmentator v2 "total"
    "lungmask": {3: RUL, 4: RML, 5: RLL, 1: LUL, 2: LLL},                 # lungmask LTRCLobes
    "cip": {4: RUL, 5: RML, 6: RLL, 7: LUL, 8: LLL},                      # CIP region (value & 255)
}


def _normalised(coord: np.ndarray, sign: int) -> np.ndarray:
    lo, hi = coord.min(), coord.max()
    t = (coord - lo) / max(hi - lo, 1e-9)
    return t if sign > 0 else 1.0 - t


def geometric_lobes(lung_labels: np.ndarray, spacing: tuple[float, ...], superior_sign: int = 1,
                    posterior_sign: int = 1) -> np.ndarray:
    """Approximate lobes (labels :data:`LOBE_NAMES`) from right/left lung labels, see the module docstring."""
    out = np.zeros(lung_labels.shape, np.uint8)
    for lung, lower, upper, middle_fraction in ((RIGHT_LUNG, RLL, RUL, RIGHT_MIDDLE_FRACTION),
                                                (LEFT_LUNG, LLL, LUL, 0.0)):
        idx = np.nonzero(lung_labels == lung)
        if idx[0].size == 0:
            continue
        height = _normalised(idx[0] * spacing[0], superior_sign)          # 0 base .. 1 apex
        back = _normalised(idx[1] * spacing[1], posterior_sign)           # 0 anterior .. 1 posterior
        oblique = height - OBLIQUE_SLOPE * back
        fraction = RIGHT_LOWER_FRACTION if lung == RIGHT_LUNG else LEFT_LOWER_FRACTION
        is_lower = oblique <= np.quantile(oblique, fraction)
        values = np.where(is_lower, lower, upper).astype(np.uint8)
        if middle_fraction > 0:
            rest = ~is_lower
            horizontal = height[rest] + 0.3 * back[rest]
            cut = np.quantile(horizontal, middle_fraction / (1.0 - fraction))
            sub = values[rest]
            sub[horizontal <= cut] = RML
            values[rest] = sub
        out[idx] = values
    return out


def import_lobes(path: str | Path, shape: tuple[int, ...], scheme: str = "auto") -> tuple[np.ndarray, str]:
    """Lobe labels from another tool's mask on the CT's grid; ``scheme`` one of :data:`IMPORT_SCHEMES`
    or ``"auto"`` (guessed from the label values). Returns ``(labels, scheme used)``."""
    image = read_image(path)
    labels = np.asarray(image.array)
    if labels.ndim == 2:
        labels = labels[None]
    if labels.shape != tuple(shape):
        raise InvalidInputError(f"lobe mask shape {labels.shape} differs from the CT's {tuple(shape)}", path)
    if labels.dtype.kind == "f":
        if np.any(labels != np.round(labels)):
            raise InvalidInputError("lobe mask has non-integer values", path)
    labels = labels.astype(np.int64)
    values = set(np.unique(labels).tolist()) - {0}
    if scheme == "auto":
        if values and max(values) > 255:
            scheme = "cip"
        elif values <= {1, 2, 3, 4, 5}:
            scheme = "biomedai"
        elif values & {10, 11, 12, 13, 14}:
            scheme = "totalsegmentator"
        elif values & {4, 5, 6, 7, 8}:
            scheme = "cip"
        else:
            raise InvalidInputError(f"cannot tell which tool made this lobe mask (labels {sorted(values)[:10]}); "
                                    f"name the scheme: {', '.join(IMPORT_SCHEMES)}", path)
    if scheme not in IMPORT_SCHEMES:
        raise InvalidInputError(f"unknown lobe scheme {scheme!r}; one of {', '.join(IMPORT_SCHEMES)}", path)
    if scheme == "cip":
        labels = labels & 255
    mapping = IMPORT_SCHEMES[scheme]
    out = np.zeros(labels.shape, np.uint8)
    for value, lobe in mapping.items():
        out[labels == value] = lobe
    if not out.any():
        raise InvalidInputError(f"no lobe labels of scheme {scheme!r} in the mask", path)
    return out, scheme
