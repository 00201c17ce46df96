"""Classical baseline: Frangi (or Sato) vesselness on the preprocessed plane, threshold chosen on training images.

The response is divided by its 99.5th percentile inside the FOV (so one threshold fits images of different
contrast) and clipped to [0, 1]; that normalised response is also the score for the AUC.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def vesselness(x: np.ndarray, fov: np.ndarray | None = None, *, kind: str = "frangi",
               sigmas: Sequence[float] = (1.0, 1.5, 2.0, 2.5, 3.0)) -> np.ndarray:
    """Normalised vesselness in [0, 1] of a plane whose vessels are bright.

    Example:
        >>> img = np.zeros((40, 40), np.float32); img[18:22, 5:35] = 1
        >>> v = vesselness(img)
        >>> bool(v[20, 20] > v[5, 5])
        True
    """
    from skimage.filters import frangi, sato

    x = np.asarray(x, np.float32)
    if kind == "frangi":
        v = frangi(x, sigmas=tuple(sigmas), black_ridges=False)
    elif kind == "sato":
        v = sato(x, sigmas=tuple(sigmas), black_ridges=False)
    else:
        raise ValueError(f"kind must be 'frangi' or 'sato', got {kind!r}")
    inside = fov if fov is not None and fov.any() else np.ones(v.shape, bool)
    if fov is not None:
        # the FOV rim is a strong artificial edge: ignore a thin band inside it
        from scipy import ndimage as ndi

        inside = ndi.binary_erosion(fov, iterations=4)
        v = np.where(inside, v, 0.0)
    top = float(np.percentile(v[inside], 99.5)) if inside.any() else 0.0
    return np.clip(v / top, 0, 1).astype(np.float32) if top > 0 else np.zeros_like(v, np.float32)
