"""SIMULATED pairs: known positive fractions per region, and the Ki-67 quantifier counts them back."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.methods.virtual_ihc.quantify import brown_fraction, pooled_ratio, positive_ratio
from biomedai.methods.virtual_ihc.simulate import SimulationSettings, simulate_pair, simulate_set


def test_pairs_share_one_layout_and_regions_differ() -> None:
    pairs = simulate_set(40, seed=3)
    tumour, normal = pairs[:20], pairs[20:]
    assert all(p.tumour for p in tumour) and not any(p.tumour for p in normal)
    ratio = lambda ps: sum(p.n_positive for p in ps) / sum(p.n_cells for p in ps)  # noqa: E731
    assert 0.45 < ratio(tumour) < 0.75 and ratio(normal) < 0.2
    p = pairs[0]
    nuclei = p.labels > 0
    assert p.he[nuclei].mean() < p.he[~nuclei].mean() - 40     # nuclei dark on H&E
    pos = nuclei & p.positive[np.maximum(p.labels - 1, 0)]
    brown = p.ihc[..., 0].astype(int) - p.ihc[..., 2]
    assert brown[pos].mean() > brown[nuclei & ~pos].mean() + 30  # DAB brown only on positive nuclei


def test_positivity_is_invisible_on_he() -> None:
    """The positive and negative nuclei of one tile look alike on H&E (the condition is needed)."""
    p = simulate_pair(np.random.default_rng(1), tumour=True, settings=SimulationSettings(n_nuclei=(20, 20)))
    pos = p.positive[np.maximum(p.labels - 1, 0)] & (p.labels > 0)
    neg = ~p.positive[np.maximum(p.labels - 1, 0)] & (p.labels > 0)
    assert abs(float(p.he[pos].mean()) - float(p.he[neg].mean())) < 8


def test_the_ki67_quantifier_counts_the_simulated_cells() -> None:
    pairs = simulate_set(6, seed=0)
    rows = [positive_ratio(p.ihc, nucleus_diameter_px=8.0) for p in pairs]
    assert sum(r["n_cells"] for r in rows) == pytest.approx(sum(p.n_cells for p in pairs), rel=0.1)
    truth = sum(p.n_positive for p in pairs) / sum(p.n_cells for p in pairs)
    assert pooled_ratio(rows) == pytest.approx(truth, abs=0.05)
    assert positive_ratio(np.full((32, 32, 3), 255, np.uint8))["ratio"] is None


def test_brown_fraction_tells_ihc_from_he() -> None:
    pairs = simulate_set(2, seed=0)
    assert brown_fraction(pairs[0].he) == 0.0 and brown_fraction(pairs[0].ihc) > 0.05
