"""Deetal-Perio (Li et al. 2021): teeth segmentation and FDI numbering on dental panoramic X-rays (two Mask
R-CNNs and the numbering calibration), alveolar-bone loss ratios and periodontitis staging."""
from __future__ import annotations

from .pipeline import DentalPerio

__all__ = ["DentalPerio"]
