"""Simulated training, validation and test sets shared by the bundled-model recipe and the SNR sweep.

The same seeds give the same subtomograms in both scripts, so the sweep's supervised baseline is trained
on exactly the bank the bundled COS-Net was trained on, and both are scored on the same test sets.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from biomedai.methods.cryoet_cosnet.tools import REALISTIC_BOXES as REALISTIC  # noqa: F401  (one definition)

TRAIN_SEED, VAL_SEED, TEST_SEED = 0, 500, 1000


def parse_snrs(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def mixed_snr_set(templates: Mapping[str, np.ndarray], snrs: Sequence[str], n_per_class: int, settings,
                  seed: int):
    """One set of the given structures at every SNR in ``snrs`` (n_per_class each), in a seeded random order
    (so the first samples of a class, which episode plans take as supports, mix the SNRs)."""
    from biomedai.data import cryoet_sim as sim

    data = sim.SubtomogramSet.concatenate([sim.simulate_subtomograms(templates, n_per_class, float(s), settings,
                                                                     seed=seed + i) for i, s in enumerate(snrs)])
    return data.take(np.random.default_rng(seed).permutation(len(data.labels)))


def test_set(templates: Mapping[str, np.ndarray], snr: str, n_per_class: int, settings):
    """The held-out test set at one SNR (seeded by the SNR's value, so every script draws the same one)."""
    from biomedai.data import cryoet_sim as sim

    value = float(snr)
    offset = 999 if not np.isfinite(value) else int(round(1000 * value)) % 997
    return sim.simulate_subtomograms(templates, n_per_class, value, settings, seed=TEST_SEED + offset)
