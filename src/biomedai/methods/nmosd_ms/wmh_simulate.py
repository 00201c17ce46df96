"""SIMULATED training FLAIRs for the WMH network: real MS lesion masks pasted into real training FLAIRs.

The 3 real FLAIRs of ``ms_lesions`` span one light, one medium and one heavy lesion load, so a network trained on
2 of them (leave-one-patient-out) may never see a load like the held-out one's. The 27 consensus masks without a
FLAIR carry real MS lesion loads, shapes and places (same MNI grid), so each is pasted into one of the *training*
patients' FLAIRs:

- contrast: each pasted voxel gets ``ratio x`` the median of the base FLAIR's non-lesion brain, ``ratio`` drawn
  from the empirical lesion / non-lesion-median ratios of the training patients (``lesion_contrast``), with a
  spatially smooth texture (Gaussian-filtered noise, rank-mapped onto those quantiles); never the test patient's;
- noise and anatomy are the base FLAIR's own (a real scan); lesions only brighten (``max(target, base)``) and their
  edges are blended over ~1 voxel (partial volume);
- no lesion is pasted into CSF (base FLAIR below ``csf_ratio`` x the median) or outside the base's brain mask; the
  label is the base's own lesions plus the pasted voxels (the ~1-voxel edge blend can brighten CSF or brain voxels
  touching a pasted lesion, unlabelled, as partial volume would);
- augmentation: a random left-right flip and a shift of up to 2 voxels of the pasted mask.

The result is SIMULATED data (real anatomy and noise, synthetic lesion intensities), labelled so wherever used.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy import ndimage

logger = logging.getLogger(__name__)

#: quantile levels at which the lesion contrast is stored
QUANTILE_LEVELS = np.linspace(0.0, 1.0, 101)


class LesionContrast(NamedTuple):
    """Quantiles (at ``QUANTILE_LEVELS``) of lesion intensity / median non-lesion brain intensity."""

    quantiles: np.ndarray


def reference_intensity(flair: np.ndarray, brain: np.ndarray, lesion: np.ndarray) -> float:
    """Median FLAIR of the brain outside the lesions (the unit of the contrast ratios)."""
    inside = np.asarray(brain, bool) & ~np.asarray(lesion, bool)
    if not inside.any():
        raise ValueError("no non-lesion brain voxel to take a reference intensity from")
    return float(np.median(flair[inside]))


def lesion_contrast(cases: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> LesionContrast:
    """Pooled lesion contrast of ``(flair, brain, lesion)`` cases (the training patients only)."""
    ratios = [flair[lesion & brain] / reference_intensity(flair, brain, lesion)
              for flair, brain, lesion in cases if (lesion & brain).any()]
    if not ratios:
        raise ValueError("no lesion voxel in the training cases: cannot measure the lesion contrast")
    return LesionContrast(np.quantile(np.concatenate(ratios), QUANTILE_LEVELS).astype(np.float32))


def place_mask(mask: np.ndarray, rng: np.random.Generator, max_shift: int = 2, flip_axis: int = 0) -> np.ndarray:
    """``mask`` flipped left-right with probability 1/2 and rolled by up to ``max_shift`` voxels per axis."""
    out = mask[::-1] if flip_axis == 0 and rng.random() < 0.5 else mask
    return np.roll(out, tuple(int(s) for s in rng.integers(-max_shift, max_shift + 1, 3)), axis=(0, 1, 2))


def paste_lesions(flair: np.ndarray, brain: np.ndarray, lesion: np.ndarray, new_lesions: np.ndarray,
                  contrast: LesionContrast, rng: np.random.Generator, *, csf_ratio: float = 0.6,
                  texture_sigma: float = 1.0, edge_sigma: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """``(flair, label)``: ``new_lesions`` painted into ``flair`` with the training contrast (module docstring).

    ``flair``, ``brain``, ``lesion`` (the base's own lesions) and ``new_lesions`` share one grid.
    """
    flair = np.asarray(flair, np.float32)
    brain, lesion = np.asarray(brain, bool), np.asarray(lesion, bool)
    ref = reference_intensity(flair, brain, lesion)
    paste = np.asarray(new_lesions, bool) & brain & (flair >= csf_ratio * ref)
    out = flair.copy()
    if not paste.any():
        return out, lesion.copy()
    idx = np.argwhere(paste)
    box = tuple(slice(max(int(a) - 3, 0), int(b) + 4) for a, b in zip(idx.min(0), idx.max(0)))
    sub_paste, sub_flair = paste[box], flair[box]
    texture = ndimage.gaussian_filter(rng.standard_normal(sub_paste.shape).astype(np.float32), texture_sigma)
    values = texture[sub_paste]
    ranks = (np.argsort(np.argsort(values)) + 0.5) / values.size  # uniform (0, 1) with the texture's order
    target = np.zeros(sub_paste.shape, np.float32)
    target[sub_paste] = np.interp(ranks, QUANTILE_LEVELS, contrast.quantiles) * ref
    delta = np.where(sub_paste, np.maximum(target - sub_flair, 0.0), 0.0)
    delta = ndimage.grey_dilation(delta, size=(3, 3, 3))  # lets the blended edge take its neighbour's brightness
    alpha = np.clip(ndimage.gaussian_filter(sub_paste.astype(np.float32), edge_sigma) * 1.5, 0.0, 1.0)
    alpha[sub_paste] = np.maximum(alpha[sub_paste], 0.6)
    out[box] = np.where(brain[box], sub_flair + alpha * delta, sub_flair)
    return out, lesion | paste
