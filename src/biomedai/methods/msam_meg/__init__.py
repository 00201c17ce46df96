"""MSAM (Gu et al.): multi-head self-attention over MEG windows for temporal-lobe-epilepsy subtype
classification (complex vs simple partial seizures), with MNE-Python IO, subject-wise evaluation and a
physically simulated MEG cohort."""
from __future__ import annotations

from .pipeline import MsamMeg

__all__ = ["MsamMeg"]
