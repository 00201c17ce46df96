"""Lesion-location summary for volumes in MNI space: each 26-connected lesion is infratentorial, periventricular,
juxtacortical or deep, by template priors (first rule that holds, in that order).

Rules (our choices; no atlas of the paper): infratentorial if its centroid lies below MNI z = -18 mm in the
brainstem (|x| < 15 mm) or cerebellum (y < -45 mm), so that inferior temporal lesions are not counted;
periventricular if it comes within ``margin_mm`` of the ventricles (CSF prior > 0.5 inside the central box
|x| < 35, -50 < y < 30, -10 < z < 35 mm); juxtacortical if it touches grey matter (GM prior > 0.5, one-voxel
dilation); deep otherwise.
"""
from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
from scipy import ndimage

from .wmh import CONNECTIVITY_26

LOCATIONS = ("infratentorial", "periventricular", "juxtacortical", "deep")


def _mm_grid(shape: tuple[int, ...], affine: np.ndarray) -> list[np.ndarray]:
    idx = np.indices(shape, dtype=np.float32).reshape(3, -1)
    mm = affine[:3, :3] @ idx + affine[:3, 3:4]
    return [m.reshape(shape) for m in mm]


def ventricle_mask(csf_prior: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """CSF prior > 0.5 inside the central box where the lateral and third ventricles lie (MNI mm)."""
    x, y, z = _mm_grid(csf_prior.shape, affine)
    return (csf_prior > 0.5) & (np.abs(x) < 35) & (y > -50) & (y < 30) & (z > -10) & (z < 35)


def location_summary(lesion: np.ndarray, affine: np.ndarray, csf_prior: np.ndarray, gm_prior: np.ndarray,
                     margin_mm: float = 3.0) -> dict[str, int]:
    """Number of lesions per location (keys :data:`LOCATIONS`). All arrays on one MNI-space grid."""
    labels, n = ndimage.label(np.asarray(lesion, bool), CONNECTIVITY_26)
    counts: Counter[str] = Counter({k: 0 for k in LOCATIONS})
    if n == 0:
        return dict(counts)
    voxel_mm = float(np.mean(np.abs(np.diag(affine)[:3])))
    near_vent = ndimage.binary_dilation(ventricle_mask(csf_prior, affine),
                                        iterations=max(1, int(round(margin_mm / voxel_mm))))
    near_gm = ndimage.binary_dilation(gm_prior > 0.5, CONNECTIVITY_26)
    centroids = ndimage.center_of_mass(labels > 0, labels, range(1, n + 1))
    for i, c in enumerate(centroids, start=1):
        comp = labels == i
        x_mm, y_mm, z_mm = (float(v) for v in affine[:3, :3] @ np.asarray(c) + affine[:3, 3])
        if z_mm < -18 and (abs(x_mm) < 15 or y_mm < -45):
            counts["infratentorial"] += 1
        elif (comp & near_vent).any():
            counts["periventricular"] += 1
        elif (comp & near_gm).any():
            counts["juxtacortical"] += 1
        else:
            counts["deep"] += 1
    return dict(counts)


#: MNI152 grids (RAS+ after reorientation): (shape, voxel mm, world mm of voxel (0, 0, 0)); FSL's 1 / 2 mm
#: (the shared ms_lesions data) and nilearn's 1 / 2 mm
MNI_GRIDS = (((182, 218, 182), 1.0, (-91.0, -126.0, -72.0)), ((91, 109, 91), 2.0, (-90.0, -126.0, -72.0)),
             ((197, 233, 189), 1.0, (-98.0, -134.0, -72.0)), ((99, 117, 95), 2.0, (-98.0, -134.0, -72.0)))


def is_mni_grid(shape: tuple[int, ...], affine: np.ndarray, tolerance_mm: float = 1.5) -> bool:
    """True when ``(shape, affine)`` (RAS+) is one of :data:`MNI_GRIDS` (axis-aligned, within ``tolerance_mm``)."""
    affine = np.asarray(affine, float)
    for grid_shape, mm, origin in MNI_GRIDS:
        if tuple(shape) == grid_shape and np.allclose(affine[:3, :3], np.diag([mm] * 3), atol=1e-3) \
                and np.allclose(affine[:3, 3], origin, atol=tolerance_mm):
            return True
    return False


def location_summary_mni(lesion: np.ndarray, affine: np.ndarray) -> dict[str, int]:
    """:func:`location_summary` of a lesion mask on an MNI-space grid: the mask is resampled (nearest) onto
    nilearn's MNI152 2 mm grid (templates shipped in its wheel, no download) and classified there with its GM prior
    and CSF = (1 - GM - WM) inside the brain, as for the 30 real masks in the README; counts are of 2 mm lesions."""
    import nibabel as nib
    from nilearn import datasets, image

    brain_img = datasets.load_mni152_brain_mask(resolution=2)
    wm = np.asarray(datasets.load_mni152_wm_template(resolution=2).dataobj, np.float32)
    gm = np.asarray(datasets.load_mni152_gm_template(resolution=2).dataobj, np.float32)
    src = nib.Nifti1Image(np.asarray(lesion, np.uint8), np.asarray(affine, float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        on_template = np.asarray(image.resample_to_img(src, brain_img, interpolation="nearest", force_resample=True,
                                                       copy_header=True).dataobj) > 0
    brain = np.asarray(brain_img.dataobj) > 0
    csf = np.clip(1.0 - wm - gm, 0, 1) * brain
    return location_summary(on_template & brain, brain_img.affine, csf, gm)
