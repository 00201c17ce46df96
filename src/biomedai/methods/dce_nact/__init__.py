"""Breast DCE-MRI response to neoadjuvant chemotherapy (Fan et al.): registration, Jacobian, deltaRAD, SVM-RFE."""
from .pipeline import DceNact

__all__ = ["DceNact"]
