"""Positive-cell ratios on real and synthetic Ki-67 IHC, counted by the Ki-67 method's IHC quantifier.

The paper does not say how cells were counted (spec 2.6, 2.10.6); we count nuclei and call them positive
with :func:`biomedai.methods.ki67.ihc.quantify_ihc` (colour deconvolution, watershed nuclei, mean nuclear
DAB above a threshold) and aggregate per image (ratio = positive nuclei / all nuclei).
Also here: the DAB check that warns when an "H&E" input looks like an IHC image.

Example:
    >>> white = np.full((64, 64, 3), 255, np.uint8)
    >>> positive_ratio(white)["n_cells"]
    0
"""
from __future__ import annotations

from typing import Any

import numpy as np

from biomedai.methods.ki67.config import Ki67Config
from biomedai.methods.ki67.ihc import quantify_ihc, stain_channels


def quantifier_config(nucleus_diameter_px: float = 16.0) -> Ki67Config:
    """The Ki-67 quantifier's settings for nuclei of ``nucleus_diameter_px``."""
    return Ki67Config(nucleus_diameter_px=float(nucleus_diameter_px))


def positive_ratio(rgb: np.ndarray, nucleus_diameter_px: float = 16.0) -> dict[str, Any]:
    """``{"n_cells", "n_positive", "ratio"}`` of an IHC image (``ratio`` None without cells)."""
    result = quantify_ihc(rgb, quantifier_config(nucleus_diameter_px))
    n, pos = result.n_cells, result.n_positive
    return {"n_cells": n, "n_positive": pos, "ratio": pos / n if n else None, "result": result}


def pooled_ratio(rows: list[dict[str, Any]]) -> float | None:
    """Positive nuclei / all nuclei over several images."""
    n = sum(int(r["n_cells"]) for r in rows)
    return sum(int(r["n_positive"]) for r in rows) / n if n else None


def dab_fraction(rgb: np.ndarray, mask: np.ndarray | None = None, threshold: float = 0.04) -> float:
    """Share of (tissue) pixels whose DAB optical density exceeds ``threshold`` (brown staining).

    H&E has almost none; a Ki-67 IHC image given where H&E is expected has brown nuclei.
    """
    _, dab = stain_channels(np.asarray(rgb)[..., :3], sigma=1.0)
    values = dab[mask] if mask is not None and mask.any() else dab.ravel()
    return float((values > threshold).mean()) if values.size else 0.0
