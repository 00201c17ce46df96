"""Hip dysplasia from AP pelvis X-rays (Yang et al. 2020): angles, density-peak normal model, detector, annotation page."""
from __future__ import annotations

from .pipeline import HipDysplasia

__all__ = ["HipDysplasia"]
