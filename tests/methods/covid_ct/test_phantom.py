"""Lesions of known volume and HU recovered within 5 % (synthetic chest; the real 3-D CT in the slow test)."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.io import Image
from biomedai.methods.covid_ct.config import CovidCTConfig
from biomedai.methods.covid_ct.ct_input import ChestCT
from biomedai.methods.covid_ct.phantom_run import recovery_by, run_phantom

from .synthetic_ct import synthetic_chest


def _check(rows, tolerance=0.05):
    assert rows and all(r["data"].startswith("SIMULATED") for r in rows)
    true = sum(r["volume_ml"] for r in rows)
    recovered = sum(r["recovered_ml"] for r in rows)
    assert recovered == pytest.approx(true, rel=tolerance)
    for kind, name in (("ground glass", "ground glass (-750, -300]"), ("consolidation", "consolidation (-300, 50]")):
        group = [r for r in rows if r["kind"] == kind]
        t = sum(r[f"true_ml {name}"] for r in group)
        assert t > 0 and sum(r[f"recovered_ml {name}"] for r in group) == pytest.approx(t, rel=tolerance)
    for row in recovery_by(rows, "lobe"):
        assert abs(row["error_pct"]) < 10, row


def test_phantom_on_synthetic_chest():
    hu, _ = synthetic_chest(shape=(48, 112, 160), spacing=(2.0, 1.2, 1.2), seed=1)
    spacing = (2.0, 1.2, 1.2)
    ct = ChestCT(hu, spacing, Image(hu, spacing=spacing, spacing_unit="mm"), None, [])  # type: ignore[arg-type]
    rows, _ = run_phantom(ct, CovidCTConfig(), n_lesions=4, peripheral_fraction=0.5, seed=0)
    assert len(rows) == 4
    _check(rows)


@pytest.mark.slow
def test_phantom_on_the_real_3d_ct(shared_data):
    from biomedai.methods.covid_ct.ct_input import load_chest_ct

    ct = load_chest_ct(shared_data / "chest_ct" / "itkelastix_chest_ct" / "chest_ct_phase00.nii.gz")
    rows, _ = run_phantom(ct, CovidCTConfig(), n_lesions=8, seed=0)
    assert len(rows) == 8 and sum(r["lobe"].endswith("lower lobe") for r in rows) >= 4
    _check(rows)
