"""Dou et al. (2021): COVID-19 vs other viral pneumonia on chest CT: lung, lobe and lesion quantification in HU,
the group statistics of Tables 1-3, and an honest slice classifier (extension)."""
from .pipeline import CovidCTMethod

__all__ = ["CovidCTMethod"]
