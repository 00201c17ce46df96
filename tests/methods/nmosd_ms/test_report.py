"""ROC and learning-curve figures of the classifier benchmark (report.py) from recorded results."""
from __future__ import annotations

import numpy as np
from PIL import Image

from biomedai.methods.nmosd_ms.report import plot_learning_curves, plot_roc


def test_roc_and_learning_curve_pngs(tmp_path):
    rng = np.random.default_rng(0)
    true = [0] * 20 + [1] * 20
    oof = {"twoview-r18": {"true": true, "prob": list(np.r_[rng.uniform(0, .6, 20), rng.uniform(.4, 1, 20)])},
           "3d-r18": {"true": true, "prob": list(rng.uniform(0, 1, 40))}}
    hist = {a: [[{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e} for e in range(1, 6)]] * 3 for a in oof}
    for path in (plot_roc(oof, tmp_path / "roc.png", "SIMULATED"),
                 plot_learning_curves(hist, tmp_path / "lc.png", "SIMULATED")):
        img = np.asarray(Image.open(path).convert("L"))
        assert img.shape[0] > 200 and img.std() > 10  # drawn, not blank
