"""A SIMULATED FLAIR phantom with known lesions, for tests and the demo: an ellipsoidal brain (white matter,
a brighter cortical rim, dark ventricles), bright ovoid lesions at known places, Gaussian noise."""
from __future__ import annotations

import numpy as np


def ellipsoid(shape: tuple[int, int, int], centre: tuple[float, float, float],
              radii: tuple[float, float, float]) -> np.ndarray:
    """Boolean ellipsoid on a voxel grid."""
    grids = np.ogrid[tuple(slice(0, s) for s in shape)]
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grids, centre, radii)) <= 1.0


def flair_phantom(shape: tuple[int, int, int] = (64, 72, 60), n_lesions: int = 6, *, seed: int = 0,
                  noise: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(flair, brain_mask, lesion_mask)``; lesions are 2-4 voxel-radius ovoids in deep white matter.

    Intensities (arbitrary units): white matter 1.0, cortex 1.25, ventricles 0.3, lesions 1.8.
    """
    rng = np.random.default_rng(seed)
    centre = tuple(s / 2 for s in shape)
    brain = ellipsoid(shape, centre, tuple(0.45 * s for s in shape))
    wm = ellipsoid(shape, centre, tuple(0.37 * s for s in shape))
    flair = np.zeros(shape, np.float32)
    flair[brain] = 1.25
    flair[wm] = 1.0
    vent = ellipsoid(shape, centre, (0.08 * shape[0], 0.15 * shape[1], 0.06 * shape[2]))
    flair[vent] = 0.3
    lesions = np.zeros(shape, bool)
    placed = 0
    while placed < n_lesions:
        c = tuple(float(rng.uniform(0.25 * s, 0.75 * s)) for s in shape)
        radii = tuple(float(r) for r in rng.uniform(2.0, 4.0, 3))
        blob = ellipsoid(shape, c, radii)
        grown = ellipsoid(shape, c, tuple(r + 3 for r in radii))
        if (grown & ~wm).any() or (grown & lesions).any() or (grown & vent).any():
            continue
        lesions |= blob
        placed += 1
    flair[lesions] = 1.8
    flair += rng.normal(0, noise, shape).astype(np.float32) * brain
    return flair, brain, lesions
