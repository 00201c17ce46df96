"""A lesion phantom: ellipsoids of known volume and HU (ground glass, consolidation) put into a real CT.

The CT stays real (anatomy, noise, vessels); only voxels inside each ellipsoid are replaced by the
lesion's HU plus Gaussian noise clipped to +-3 SD, so every inserted voxel lies in one known HU bin.
Sites are chosen inside one lobe, clear of the baseline lesion mask (so that the recovery is not
mixed with what the CT already had), either peripheral (the ellipsoid's surface 3-12 mm from the
pleura) or central (more than 20 mm), and lower-lobe predominant or not. Everything it produces
is SIMULATED lesion data on a real CT and is labelled so.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from .lesions import hu_bin_index
from .lobes import LLL, LOBE_NAMES, RLL

#: (target HU, noise SD): -550 +- 3 x 30 stays in (-750, -300]; -100 +- 90 stays in (-300, 50]
LESION_KINDS = {"ground glass": (-550.0, 30.0), "consolidation": (-100.0, 30.0)}


@dataclass
class PhantomLesion:
    """One inserted lesion and its truth."""

    kind: str
    lobe: str
    centre_zyx: tuple[int, int, int]
    radii_mm: tuple[float, float, float]
    placement: str
    hu_mean: float
    voxels: int = 0
    volume_ml: float = 0.0


def ellipsoid_mask(shape: tuple[int, ...], spacing: tuple[float, ...], centre: tuple[int, ...],
                   radii_mm: tuple[float, ...]) -> tuple[tuple[slice, ...], np.ndarray]:
    """``(box, mask)``: the voxels whose centres lie inside the ellipsoid, in its bounding box."""
    box, grids = [], []
    for c, r, s, n in zip(centre, radii_mm, spacing, shape):
        half = int(np.ceil(r / s))
        lo, hi = max(c - half, 0), min(c + half + 1, n)
        box.append(slice(lo, hi))
        grids.append(((np.arange(lo, hi) - c) * s / r))
    zz, yy, xx = np.meshgrid(*grids, indexing="ij")
    return tuple(box), (zz ** 2 + yy ** 2 + xx ** 2) <= 1.0


def plan_lesions(lobes: np.ndarray, lung: np.ndarray, baseline_lesion: np.ndarray, spacing: tuple[float, ...],
                 n_lesions: int = 8, lower_lobe_predominant: bool = True, peripheral_fraction: float = 0.75,
                 seed: int = 0, pleural: bool = False) -> list[PhantomLesion]:
    """Non-overlapping lesion sites (see the module docstring); kinds alternate ground glass / consolidation.

    ``pleural=True`` puts every lesion against the pleura (its surface within 1.5 mm of the lung boundary):
    the hard case for a threshold lung mask, which does not enclose dense lesions there.
    """
    rng = np.random.default_rng(seed)
    depth = ndi.distance_transform_edt(lung, sampling=spacing)
    clear = ~ndi.binary_dilation(baseline_lesion, iterations=2)
    taken = np.zeros(lung.shape, bool)
    lesions: list[PhantomLesion] = []
    kinds = list(LESION_KINDS)
    present = [v for v in LOBE_NAMES if np.any(lobes == v)]
    lower = [v for v in present if v in (RLL, LLL)]
    attempts = 0
    while len(lesions) < n_lesions and attempts < 4000:
        attempts += 1
        k = len(lesions)
        if lower_lobe_predominant and lower and k % 3 != 2:
            lobe = int(rng.choice(lower))
        else:
            lobe = int(rng.choice(present))
        radii = tuple(float(r) for r in rng.uniform(6.0, 11.0, size=3))
        peripheral = rng.random() < peripheral_fraction
        rmax = max(radii)
        lo, hi = (rmax + 3.0, rmax + 12.0) if peripheral else (rmax + 20.0, np.inf)
        if pleural:
            lo, hi = rmax - 0.5, rmax + 1.5
        candidates = np.argwhere((lobes == lobe) & (depth >= lo) & (depth <= hi))
        if candidates.size == 0:
            continue
        centre = tuple(int(v) for v in candidates[rng.integers(len(candidates))])
        box, mask = ellipsoid_mask(lung.shape, spacing, centre, radii)
        if mask.sum() == 0 or np.any(taken[box][mask]) or not np.all(lobes[box][mask] == lobe) \
                or not np.all(clear[box][mask]):
            continue
        taken[box] |= ndi.binary_dilation(mask, iterations=3)
        kind = kinds[k % 2]
        placement = "against the pleura" if pleural else "peripheral" if peripheral else "central"
        lesions.append(PhantomLesion(kind, LOBE_NAMES[lobe], centre, radii, placement, LESION_KINDS[kind][0]))
    return lesions


def insert_lesions(hu: np.ndarray, spacing: tuple[float, ...], lesions: list[PhantomLesion], seed: int = 0
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``(phantom HU, truth labels)``: truth label ``i + 1`` marks lesion ``i``; volumes are filled in."""
    rng = np.random.default_rng(seed)
    out = hu.astype(np.float32, copy=True)
    truth = np.zeros(hu.shape, np.uint16)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    for index, lesion in enumerate(lesions, start=1):
        box, mask = ellipsoid_mask(hu.shape, spacing, lesion.centre_zyx, lesion.radii_mm)
        mean, sd = LESION_KINDS[lesion.kind]
        values = mean + np.clip(rng.normal(0.0, sd, size=int(mask.sum())), -3 * sd, 3 * sd)
        region = out[box]
        region[mask] = values
        truth[box][mask] = index
        lesion.voxels = int(mask.sum())
        lesion.volume_ml = round(lesion.voxels * voxel_ml, 4)
    return out, truth


def recovery_table(lesions: list[PhantomLesion], truth: np.ndarray, recovered: np.ndarray, hu: np.ndarray,
                   spacing: tuple[float, ...], edges: tuple[float, ...], bin_names: tuple[str, ...]
                   ) -> list[dict[str, Any]]:
    """Per lesion: true volume, recovered volume (the lesion mask within 2 voxels of the truth), per-bin
    recovered volume, Dice; every row is labelled simulated."""
    voxel_ml = float(np.prod(spacing)) / 1000.0
    bins = hu_bin_index(hu, edges)
    rows = []
    for index, lesion in enumerate(lesions, start=1):
        true_mask = truth == index
        near = ndi.binary_dilation(true_mask, iterations=2) & ~((truth > 0) & ~true_mask)
        found = recovered & near
        inter = int((found & true_mask).sum())
        row = {"data": "SIMULATED lesions in a real CT", **{k: v for k, v in asdict(lesion).items()
                                                            if k not in ("voxels",)},
               "recovered_ml": round(float(found.sum()) * voxel_ml, 4),
               "recovery_pct": round(100.0 * found.sum() / max(true_mask.sum(), 1), 2),
               "dice": round(2.0 * inter / max(int(found.sum() + true_mask.sum()), 1), 4)}
        for b, name in enumerate(bin_names):
            row[f"true_ml {name}"] = round(float((true_mask & (bins == b)).sum()) * voxel_ml, 4)
            row[f"recovered_ml {name}"] = round(float((found & (bins == b)).sum()) * voxel_ml, 4)
        rows.append(row)
    return rows
