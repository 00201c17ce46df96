"""MTCSN (Kong et al. 2021): capsule-endoscopy clearness-degree classification and tissue segmentation with
cross fusion, and streaming triage of hours-long capsule videos."""
from .pipeline import MtcsnMethod

__all__ = ["MtcsnMethod"]
