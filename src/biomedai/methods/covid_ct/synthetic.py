"""A SIMULATED chest CT with known lungs: for the conformance suite's example input and for tests."""
from __future__ import annotations

import numpy as np


def synthetic_chest(shape=(40, 96, 128), spacing=(2.5, 1.5, 1.5), seed=0):
    """``(hu, lungs truth 1 right / 2 left)``: a soft-tissue body with two ellipsoid lungs (-850 HU),
    a trachea and main bronchi (-1000 HU; truth excludes them), thin vessels (40 HU) inside; the x index
    grows to the patient's left."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij")
    hu = np.full(shape, -1000.0)
    body = ((y - shape[1] / 2) / (shape[1] * 0.45)) ** 2 + ((x - shape[2] / 2) / (shape[2] * 0.47)) ** 2 <= 1
    hu[body] = 40.0
    truth = np.zeros(shape, np.uint8)
    for label, cx in ((1, shape[2] * 0.3), (2, shape[2] * 0.7)):
        lung = (((z - shape[0] * 0.45) / (shape[0] * 0.4)) ** 2 + ((y - shape[1] / 2) / (shape[1] * 0.3)) ** 2
                + ((x - cx) / (shape[2] * 0.15)) ** 2) <= 1
        truth[lung] = label
    hu[truth > 0] = -850.0
    trachea = (((y - shape[1] * 0.4) ** 2 + (x - shape[2] / 2) ** 2) <= 9) & (z >= shape[0] * 0.6)
    hu[trachea] = -1000.0
    airway = trachea.copy()
    for side in (-1, 1):   # main bronchi: from the carina down and out into each lung
        for t in np.linspace(0.0, 1.0, 40):
            cz, cx = shape[0] * (0.6 - 0.1 * t), shape[2] / 2 + side * shape[2] * 0.2 * t
            airway |= ((y - shape[1] * 0.4) ** 2 + (x - cx) ** 2 <= 4) & (np.abs(z - cz) <= 1)
    hu[airway] = -1000.0
    vessel = (y == shape[1] // 2) & (z == int(shape[0] * 0.45)) & (truth > 0)   # 1.5 x 2.5 mm in cross-section
    hu[vessel] = 40.0
    truth[airway] = 0
    hu += rng.normal(0, 10, shape)
    return hu.astype(np.float32), truth
