"""Scoring generated IHC against a registered real IHC and its nucleus mask (the DeepLIIF paired test).

Per tile: per-nucleus positivity agreement (each ground-truth nucleus is called positive when the generated
image's mean DAB inside it exceeds the Ki-67 quantifier's threshold; accuracy and positive-class F1 against
the mask's calls), the positive ratio counted by the Ki-67 quantifier on the generated image against the
mask's ratio, and SSIM / PSNR against the real IHC (``biomedai.metrics``).

Example:
    >>> seg = np.zeros((32, 32, 3), np.uint8); seg[4:12, 4:12, 0] = 255; seg[20:28, 20:28, 2] = 255
    >>> white = np.full((32, 32, 3), 255, np.uint8)
    >>> r = nucleus_agreement(white, seg)
    >>> r["n_nuclei"], r["accuracy"], r["true_ratio"], r["called_ratio"]
    (2, 0.5, 0.5, 0.0)
"""
from __future__ import annotations

from typing import Any

import numpy as np

from biomedai.methods.ki67.config import Ki67Config
from biomedai.methods.ki67.deepliif import seg_to_instances
from biomedai.methods.ki67.ihc import stain_channels
from biomedai.metrics.image_quality import psnr, ssim

from .quantify import positive_ratio


def nucleus_agreement(generated: np.ndarray, seg: np.ndarray, dab_threshold: float | None = None) -> dict[str, Any]:
    """Positivity of each mask nucleus read from the generated image's DAB, against the mask's call."""
    from scipy import ndimage as ndi

    threshold = Ki67Config().dab_threshold if dab_threshold is None else dab_threshold
    labels, classes = seg_to_instances(seg)
    ids = np.arange(1, int(labels.max()) + 1)
    if ids.size == 0:
        return {"n_nuclei": 0, "accuracy": None, "f1_positive": None, "true_positive_nuclei": 0,
                "both_positive_nuclei": 0, "called_positive_nuclei": 0, "true_ratio": None, "called_ratio": None}
    _, dab = stain_channels(np.asarray(generated)[..., :3])
    called = np.asarray(ndi.mean(dab, labels, ids)) > threshold
    truth = classes[ids] == 1
    tp = int((called & truth).sum())
    denom = int(called.sum() + truth.sum())
    return {"n_nuclei": int(ids.size), "accuracy": float((called == truth).mean()),
            "f1_positive": 2 * tp / denom if denom else None, "true_positive_nuclei": int(truth.sum()),
            "both_positive_nuclei": tp,
            "called_positive_nuclei": int(called.sum()), "true_ratio": float(truth.mean()),
            "called_ratio": float(called.mean())}


def score_generated(generated: np.ndarray, real_ihc: np.ndarray, seg: np.ndarray,
                    nucleus_diameter_px: float = 16.0) -> dict[str, Any]:
    """All paired-test numbers of one generated tile."""
    agree = nucleus_agreement(generated, seg)
    counted = positive_ratio(generated, nucleus_diameter_px)
    out = {**agree, "quantifier_n_cells": counted["n_cells"], "quantifier_n_positive": counted["n_positive"],
           "quantifier_ratio": counted["ratio"],
           "ssim": ssim(real_ihc, generated, data_range=255, channel_axis=-1),
           "psnr": psnr(real_ihc, generated, data_range=255)}
    return out
