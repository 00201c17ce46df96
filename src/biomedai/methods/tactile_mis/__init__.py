"""Tactile perception for minimally invasive surgery (Huang et al., review): maps, estimators, simulator."""
from .pipeline import TactileMisMethod

__all__ = ["TactileMisMethod"]
