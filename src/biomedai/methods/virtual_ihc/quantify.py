"""Positive-cell ratios on real and synthetic Ki-67 IHC, counted by the Ki-67 method's IHC quantifier.

The paper does not say how cells were counted (spec 2.6, 2.10.6); we count nuclei and call them positive
with :func:`biomedai.methods.ki67.ihc.quantify_ihc` (colour deconvolution, watershed nuclei, mean nuclear
DAB above a threshold) and aggregate per image (ratio = positive nuclei / all nuclei).
Also here: the brown-pixel check that warns when an "H&E" input looks like an IHC image.

Example:
    >>> white = np.full((64, 64, 3), 255, np.uint8)
    >>> positive_ratio(white)["n_cells"]
    0
"""
from __future__ import annotations

from typing import Any

import numpy as np

from biomedai.methods.ki67.config import Ki67Config
from biomedai.methods.ki67.ihc import quantify_ihc


def quantifier_config(nucleus_diameter_px: float = 16.0, hematoxylin_threshold: float | None = None) -> Ki67Config:
    """The Ki-67 quantifier's settings for nuclei of ``nucleus_diameter_px`` (and a fixed nuclear haematoxylin
    threshold, e.g. one per slide; None: Otsu per image)."""
    return Ki67Config(nucleus_diameter_px=float(nucleus_diameter_px), hematoxylin_threshold=hematoxylin_threshold)


def positive_ratio(rgb: np.ndarray, nucleus_diameter_px: float = 16.0,
                   hematoxylin_threshold: float | None = None) -> dict[str, Any]:
    """``{"n_cells", "n_positive", "ratio"}`` of an IHC image (``ratio`` None without cells)."""
    result = quantify_ihc(rgb, quantifier_config(nucleus_diameter_px, hematoxylin_threshold))
    n, pos = result.n_cells, result.n_positive
    return {"n_cells": n, "n_positive": pos, "ratio": pos / n if n else None, "result": result}


def pooled_ratio(rows: list[dict[str, Any]]) -> float | None:
    """Positive nuclei / all nuclei over several images."""
    n = sum(int(r["n_cells"]) for r in rows)
    return sum(int(r["n_positive"]) for r in rows) / n if n else None


def brown_fraction(rgb: np.ndarray) -> float:
    """Share of pixels that are DAB-brown: hue 10-55 degrees, saturation > 0.25, value < 0.85.

    H&E has none (its hues are pink to purple); Ki-67 IHC has brown positive nuclei (0.5-8.5 % of the pixels
    of the six DeepLIIF IHC images, 0 % of the 41 nucleus-set H&E images). The deconvolved DAB channel is not
    used here because eosin and haematoxylin leak into it on H&E.

    Example:
        >>> brown = np.zeros((4, 4, 3), np.uint8); brown[...] = (140, 90, 40)
        >>> brown_fraction(brown)
        1.0
    """
    from skimage.color import rgb2hsv

    hsv = rgb2hsv(np.asarray(rgb)[..., :3])
    hue = hsv[..., 0] * 360.0
    mask = (hue >= 10) & (hue <= 55) & (hsv[..., 1] > 0.25) & (hsv[..., 2] < 0.85)
    return float(mask.mean()) if mask.size else 0.0
