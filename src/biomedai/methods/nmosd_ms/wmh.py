"""White-matter-hyperintensity (lesion) segmentation and lesion statistics.

:func:`segment_wmh_morphology` is the open stand-in for the proprietary AccuBrain step of spec 3.4: a
coarse-to-fine extraction on FLAIR with binary dilation, greyscale closing, greyscale reconstruction and binary
reconstruction (after Shi et al. 2013). The thresholds are in robust z units (median / MAD inside the brain).
"""
from __future__ import annotations

import dataclasses
import logging

import numpy as np
from scipy import ndimage
from skimage.morphology import ball, reconstruction

from biomedai.errors import InvalidInputError

logger = logging.getLogger(__name__)

CONNECTIVITY_26 = np.ones((3, 3, 3), bool)


@dataclasses.dataclass(frozen=True)
class MorphologyParams:
    """Thresholds of the coarse-to-fine segmenter (robust z units; voxels)."""

    seed_z: float = 3.0          # coarse: clearly hyperintense voxels
    candidate_z: float = 2.0     # fine: lesion extent, kept only where connected to a seed
    dome_h: float = 0.5          # greyscale reconstruction: local brightness over the surroundings
    closing_radius: int = 1      # greyscale closing (ball)
    dilation_iterations: int = 1 # binary dilation of the seeds within the coarse mask
    rim_erosion: int = 5         # refinement: ignore this many voxels at the brain surface (cortex, CSF rim)
    min_voxels: int = 3


def robust_z(flair: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """(FLAIR - median) / (1.4826 MAD) inside the brain, 0 outside; robust to the lesions themselves."""
    brain = np.asarray(brain, bool)
    if not brain.any():
        raise InvalidInputError("brain mask: empty")
    vals = flair[brain].astype(np.float64)
    med = np.median(vals)
    mad = 1.4826 * np.median(np.abs(vals - med)) or (vals.std() or 1.0)
    out = np.zeros(flair.shape, np.float32)
    out[brain] = ((vals - med) / mad).astype(np.float32)
    return out


def segment_wmh_morphology(flair: np.ndarray, brain: np.ndarray,
                           params: MorphologyParams = MorphologyParams()) -> np.ndarray:
    """Coarse-to-fine WMH mask (bool, FLAIR grid) from a FLAIR and its brain mask (spec 3.4 step 3)."""
    flair = np.asarray(flair, np.float32)
    brain = np.asarray(brain, bool)
    if flair.shape != brain.shape:
        raise InvalidInputError(f"brain mask shape {brain.shape} differs from the FLAIR's {flair.shape}")
    z = robust_z(flair, brain)
    inner = ndimage.binary_erosion(brain, iterations=params.rim_erosion) if params.rim_erosion else brain
    # coarse: hyperintense voxels, grown by binary dilation into the neighbourhood a lesion may fill
    coarse = (z > params.seed_z) & inner
    if not coarse.any():
        return np.zeros(flair.shape, bool)
    box = tuple(slice(max(int(i.min()) - 4, 0), int(i.max()) + 5) for i in np.nonzero(inner))
    # fine: greyscale closing fills dark gaps inside lesions; the h-dome (greyscale reconstruction by dilation)
    # keeps the coarse voxels that are brighter than their surroundings by dome_h: these are the seeds
    zc = ndimage.grey_closing(z[box], footprint=ball(params.closing_radius)) if params.closing_radius else z[box]
    marker = np.maximum(zc - params.dome_h, float(zc.min()))
    dome = zc - reconstruction(marker, zc, method="dilation")
    seeds = np.zeros(flair.shape, bool)
    seeds[box] = dome > 0.5 * params.dome_h
    seeds &= coarse
    if params.dilation_iterations:
        seeds = ndimage.binary_dilation(seeds, CONNECTIVITY_26, iterations=params.dilation_iterations) & coarse
    candidate = np.zeros(flair.shape, bool)
    candidate[box] = zc > params.candidate_z
    candidate &= inner
    # binary reconstruction: the candidate components that hold a seed
    labels, n = ndimage.label(candidate, CONNECTIVITY_26)
    keep = np.zeros(n + 1, bool)
    keep[np.unique(labels[seeds & candidate])] = True
    keep[0] = False
    mask = keep[labels]
    return remove_small_lesions(mask, params.min_voxels)


def remove_small_lesions(mask: np.ndarray, min_voxels: int) -> np.ndarray:
    """Drop 26-connected components smaller than ``min_voxels``."""
    labels, n = ndimage.label(mask, CONNECTIVITY_26)
    if n == 0 or min_voxels <= 1:
        return mask.astype(bool)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    ok = sizes >= min_voxels
    ok[0] = False
    return ok[labels]


def lesion_statistics(lesion: np.ndarray, brain: np.ndarray, voxel_ml: float) -> dict[str, float]:
    """Table 1's lesion quantities: WMH volume (ml), lesion count (26-connected), ICV (ml; the brain mask's
    volume, a stand-in for AccuBrain's ICV) and the normalised WMH (% of ICV)."""
    lesion = np.asarray(lesion, bool)
    _, count = ndimage.label(lesion, CONNECTIVITY_26)
    volume = float(lesion.sum()) * voxel_ml
    icv = float(np.asarray(brain, bool).sum()) * voxel_ml
    return {"wmh_ml": volume, "lesion_count": int(count), "icv_ml": icv,
            "wmh_percent_icv": 100.0 * volume / icv if icv > 0 else float("nan"),
            "empty_lesion_mask": bool(count == 0)}


def lesion_wise_scores(true: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Lesion-wise precision, recall and F1 with "any overlap" matching (26-connected lesions), Dice and the
    absolute volume difference in voxels."""
    t, nt = ndimage.label(np.asarray(true, bool), CONNECTIVITY_26)
    p, npred = ndimage.label(np.asarray(pred, bool), CONNECTIVITY_26)
    hit_true = np.unique(t[(t > 0) & (p > 0)]).size
    hit_pred = np.unique(p[(t > 0) & (p > 0)]).size
    recall = hit_true / nt if nt else float(npred == 0)
    precision = hit_pred / npred if npred else float(nt == 0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    inter = float(((t > 0) & (p > 0)).sum())
    denom = float((t > 0).sum() + (p > 0).sum())
    return {"dice": 2 * inter / denom if denom else 1.0, "lesion_precision": precision, "lesion_recall": recall,
            "lesion_f1": f1, "abs_volume_diff_voxels": float(abs(int((t > 0).sum()) - int((p > 0).sum()))),
            "n_true_lesions": int(nt), "n_pred_lesions": int(npred)}
