"""Population arterial input functions."""
from __future__ import annotations

import numpy as np

from biomedai.errors import InvalidInputError

#: Parker et al. MRM 2006, Table 1 (blood concentration, mM; times in minutes)
PARKER_PARAMETERS = {"A1": 0.809, "sigma1": 0.0563, "T1": 0.17046, "A2": 0.33, "sigma2": 0.132, "T2": 0.365,
                     "alpha": 1.05, "beta": 0.1685, "s": 38.078, "tau": 0.483}


def parker_aif(t: np.ndarray, *, delay: float = 0.0, hematocrit: float | None = None) -> np.ndarray:
    """Parker's population AIF (two Gaussians + a sigmoid-modulated exponential) at times ``t`` (seconds).

    Blood concentration in mM; ``hematocrit`` given: plasma concentration ``Cb / (1 - Hct)``.
    ``delay`` (s) shifts the curve later; before the delay the curve holds its value at time 0.

    >>> round(float(parker_aif(np.array([0.0]))[0]), 5)
    0.08038
    """
    t = np.asarray(t, dtype=float)
    if not np.all(np.isfinite(t)):
        raise InvalidInputError("AIF times must be finite")
    p = PARKER_PARAMETERS
    tm = np.maximum(t - float(delay), 0.0) / 60.0
    gauss = sum(p[f"A{n}"] / (p[f"sigma{n}"] * np.sqrt(2 * np.pi)) * np.exp(-(tm - p[f"T{n}"]) ** 2 / (2 * p[f"sigma{n}"] ** 2))
                for n in (1, 2))
    tail = p["alpha"] * np.exp(-p["beta"] * tm) / (1.0 + np.exp(-p["s"] * (tm - p["tau"])))
    cb = gauss + tail
    if hematocrit is not None:
        if not 0 <= hematocrit < 1:
            raise InvalidInputError(f"hematocrit must be in [0, 1), got {hematocrit}")
        cb = cb / (1.0 - hematocrit)
    return cb
