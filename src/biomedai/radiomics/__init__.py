"""Radiomics: PyRadiomics-compatible feature extraction in vectorised numpy.

Public API:
    extract(image, mask, params=None) -> dict   features + diagnostics of one ROI
    RadiomicsParams                             a validated PyRadiomics params file

Example:
    >>> import numpy as np
    >>> from biomedai.radiomics import extract
    >>> vol = np.arange(512, dtype=float).reshape(8, 8, 8)
    >>> roi = np.zeros((8, 8, 8), np.uint8); roi[2:6, 2:6, 2:6] = 1
    >>> "original_glcm_Contrast" in extract(vol, roi)
    True
"""
from __future__ import annotations

from .extractor import extract
from .params import RadiomicsParams

__all__ = ["extract", "RadiomicsParams"]
