"""MSAM (Gu et al.): multi-head self-attention over MEG windows for temporal-lobe-epilepsy subtype
classification (complex vs simple partial seizures), with MNE-Python IO, subject-wise evaluation and a
physically simulated MEG cohort. Domain modules only: no ``pipeline.py`` yet, so the method is not registered."""
from __future__ import annotations
