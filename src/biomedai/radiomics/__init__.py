"""Radiomics: PyRadiomics-compatible feature extraction in vectorised numpy.

Public API:
    extract(image, mask, params=None) -> dict   features + diagnostics of one ROI
    extract(..., voxel_based=True)              one feature map (Image) per feature instead
                                                (kernelRadius, maskedKernel, initValue, voxelBatch;
                                                device="cuda": the GLCM maps in torch)
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

from typing import Any

__all__ = ["extract", "RadiomicsParams"]


def __getattr__(name: str) -> Any:
    # lazy, so that the CLI can build its ``radiomics`` verb without importing numpy
    if name == "extract":
        from .extractor import extract

        return extract
    if name == "RadiomicsParams":
        from .params import RadiomicsParams

        return RadiomicsParams
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
