"""A SIMULATED NMOSD/MS cohort on the MNI152 template that nilearn ships (2 mm; no download).

Assumptions (none of this is NMOSD data; no NMOSD scan could be had):
- MS: the lesions of one of the 30 real MS masks (Lesjak et al. 2017, MNI space; random left-right flip and a
  shift of up to 2 voxels), thinned component by component towards a volume drawn from a gamma law with
  spec 3.2's MS mean/SD (9.0 +/- 8.8 ml): the real masks carry MS's number, ovoid shape and periventricular,
  juxtacortical and infratentorial places.
- NMOSD: 1 + Poisson(2) small lesions, volume from a gamma law with mean/SD 3.5 +/- 4.8 ml (spec 3.2), placed in
  deep / subcortical white matter (half) or around the third and fourth ventricles (half; MNI (0, -14, 2) and
  (0, -40, -30) mm, jittered by 6 mm), irregular (thresholded smoothed noise).
- FLAIR: grey matter 1.2, white matter 1.0, CSF 0.35 from the template's tissue priors, lesions 1.8,
  Gaussian noise SD 0.06, 1-voxel Gaussian blur.
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy import ndimage

from biomedai.errors import InvalidInputError

from .wmh import CONNECTIVITY_26

logger = logging.getLogger(__name__)

MS_VOLUME_ML = (9.0, 8.8)
NMOSD_VOLUME_ML = (3.5, 4.8)
NMOSD_CENTRES_MM = ((0.0, -14.0, 2.0), (0.0, -40.0, -30.0))


class Template(NamedTuple):
    brain: np.ndarray
    wm: np.ndarray
    gm: np.ndarray
    affine: np.ndarray
    ms_masks: list[np.ndarray]

    @property
    def voxel_ml(self) -> float:
        return float(abs(np.linalg.det(self.affine[:3, :3]))) / 1000.0


def load_template(ms_mask_dir: str | Path, resolution: int = 2) -> Template:
    """nilearn's MNI152 brain / tissue priors and the real MS masks resampled onto them (nearest)."""
    from nilearn import datasets, image

    brain_img = datasets.load_mni152_brain_mask(resolution=resolution)
    wm = np.asarray(datasets.load_mni152_wm_template(resolution=resolution).dataobj, np.float32)
    gm = np.asarray(datasets.load_mni152_gm_template(resolution=resolution).dataobj, np.float32)
    paths = sorted(Path(ms_mask_dir).glob("*.nii*"))
    if not paths:
        raise InvalidInputError(f"{ms_mask_dir}: no MS lesion masks (*.nii.gz)")
    with warnings.catch_warnings():  # the masks carry a qform only; nilearn warns about the missing sform
        warnings.simplefilter("ignore", UserWarning)
        masks = [np.asarray(image.resample_to_img(str(p), brain_img, interpolation="nearest", force_resample=True,
                                                  copy_header=True).dataobj) > 0 for p in paths]
    brain = np.asarray(brain_img.dataobj) > 0
    return Template(brain, wm, gm, brain_img.affine, masks)


def _gamma(rng: np.random.Generator, mean: float, sd: float) -> float:
    k = (mean / sd) ** 2
    return float(rng.gamma(k, mean / k))


def _ms_lesions(t: Template, rng: np.random.Generator) -> np.ndarray:
    mask = t.ms_masks[int(rng.integers(len(t.ms_masks)))]
    if rng.random() < 0.5:
        mask = mask[::-1]
    mask = np.roll(mask, tuple(int(s) for s in rng.integers(-2, 3, 3)), axis=(0, 1, 2)) & t.brain
    target = max(_gamma(rng, *MS_VOLUME_ML), 0.3) / t.voxel_ml
    labels, n = ndimage.label(mask, CONNECTIVITY_26)
    if n == 0:
        return mask
    sizes = np.bincount(labels.ravel())[1:]
    keep, total = [], 0
    for i in rng.permutation(n):
        if total >= target:
            break
        keep.append(i + 1)
        total += sizes[i]
    return np.isin(labels, keep)


def _nmosd_lesions(t: Template, rng: np.random.Generator) -> np.ndarray:
    n = 1 + int(rng.poisson(2))
    per_lesion = max(_gamma(rng, *NMOSD_VOLUME_ML), 0.1) / n / t.voxel_ml
    inv = np.linalg.inv(t.affine)
    deep_wm = ndimage.binary_erosion(t.wm > 0.6, iterations=2)
    wm_idx = np.argwhere(deep_wm)
    out = np.zeros(t.brain.shape, bool)
    for _ in range(n):
        if rng.random() < 0.5:
            mm = np.asarray(NMOSD_CENTRES_MM[int(rng.integers(2))]) + rng.normal(0, 6, 3)
            centre = np.round(inv[:3, :3] @ mm + inv[:3, 3]).astype(int)
        else:
            centre = wm_idx[int(rng.integers(len(wm_idx)))]
        radius = max(1.0, (3 * per_lesion / (4 * np.pi)) ** (1 / 3))
        r = int(np.ceil(radius * 1.6)) + 1
        box = tuple(slice(max(c - r, 0), c + r + 1) for c in centre)
        grid = np.ogrid[tuple(slice(b.start - c, b.stop - c) for b, c in zip(box, centre))]
        dist = np.sqrt(sum(g.astype(float) ** 2 for g in grid))
        noise = ndimage.gaussian_filter(rng.normal(0, 1, dist.shape), 1.0)
        out[box] |= (dist + 0.8 * radius * noise) <= radius
    return out & t.brain


def simulate_subject(t: Template, diagnosis: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(flair, lesion_mask)`` of one SIMULATED subject; ``diagnosis`` is ``"MS"`` or ``"NMOSD"``."""
    if diagnosis == "MS":
        lesion = _ms_lesions(t, rng)
    elif diagnosis == "NMOSD":
        lesion = _nmosd_lesions(t, rng)
    else:
        raise InvalidInputError(f"diagnosis must be MS or NMOSD, got {diagnosis!r}")
    csf = np.clip(1.0 - t.wm - t.gm, 0, 1) * t.brain
    flair = (1.2 * t.gm + 1.0 * t.wm + 0.35 * csf).astype(np.float32)
    flair[lesion] = 1.8
    flair = ndimage.gaussian_filter(flair, 1.0) + rng.normal(0, 0.06, flair.shape).astype(np.float32)
    flair[~t.brain] = 0.0
    return flair.astype(np.float32), lesion


def simulate_cohort(t: Template, n_ms: int, n_nmosd: int, seed: int = 0):
    """Yield ``(subject_id, label, flair, lesion)``; label 1 = NMOSD (the positive class), 0 = MS. SIMULATED."""
    rng = np.random.default_rng(seed)
    order = ["MS"] * n_ms + ["NMOSD"] * n_nmosd
    for i, dx in enumerate(order):
        flair, lesion = simulate_subject(t, dx, rng)
        yield f"sim{i:04d}", int(dx == "NMOSD"), flair, lesion
