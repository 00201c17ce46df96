"""NMOSD vs MS from 3-D FLAIR lesion images (Wang et al.; spec ``breast-neuro.md`` section 3).

Registered method ``nmosd_ms`` (WMH step); modules: networks (two-view compression ResNet, 3-D ResNet),
pre-processing (crop kernel, resize, shift/flip), FLAIR input, WMH segmentation and lesion statistics.
"""
from .pipeline import NmosdMsMethod

__all__ = ["NmosdMsMethod"]
