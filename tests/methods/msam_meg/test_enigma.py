"""ENIGMA feature tables (real data, shared_data fixture): z-scores, Cohen's d against the published effects,
and MSAM over regions (shapes only: 20 subjects are too few for a classifier benchmark)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from biomedai.errors import InvalidInputError
from biomedai.methods.msam_meg.config import MsamConfig
from biomedai.methods.msam_meg.enigma import (
    cohens_d,
    compare_effects,
    load_features,
    load_published,
    region_windows,
    zscores,
)
from biomedai.methods.msam_meg.model import MSAM
from tests.conftest import shared_subdir


def test_cohens_d_and_zscores_known_values():
    feats = pd.DataFrame({"a": [1.0, 2.0, 3.0, 5.0, 6.0, 7.0]}, index=list("uvwxyz"))
    patient = pd.Series([0, 0, 0, 1, 1, 1], index=feats.index)
    assert cohens_d(feats, patient == 1, patient == 0)["a"] == pytest.approx(4.0)  # means 2 vs 6, pooled SD 1
    z = zscores(feats, patient == 0)
    assert z.loc["x", "a"] == pytest.approx(3.0)
    with pytest.raises(InvalidInputError):
        zscores(feats, pd.Series([1, 0, 0, 0, 0, 0], index=feats.index) == 1)


def test_enigma_thickness_effects_follow_published_direction(shared_data):
    root = shared_subdir(shared_data, "enigma_epilepsy")
    feats, cov = load_features(root / "xdata" / "metr2_CortThick.csv", root / "xdata" / "cov.csv")
    assert feats.shape == (20, 68)
    z = zscores(feats, cov["Dx"] == 0)
    np.testing.assert_allclose(z[cov["Dx"].to_numpy() == 0].mean(), 0, atol=1e-9)
    # 4 left TLE vs 10 controls against ENIGMA left TLE with hippocampal sclerosis (Whelan et al. 2018):
    # measured here r = 0.39, sign agreement 0.75 (all 10 patients vs allepi: r = 0.30, signs 0.37)
    d = cohens_d(feats, cov["SDx"] == 3, cov["Dx"] == 0)
    cmp = compare_effects(d, load_published(root / "summary_statistics" / "tlemtsl_case-controls_CortThick.csv"))
    assert cmp["regions"] == 68
    assert cmp["pearson_r"] > 0.2 and cmp["sign_agreement"] > 0.6 and cmp["mean_d_ours"] < 0
    ws = region_windows(feats, cov["Dx"])
    model = MSAM(68, 1, MsamConfig(heads=4)).eval()
    assert model(torch.from_numpy(ws.x)).shape == (20,)


def test_subcortical_names_match_despite_order(shared_data):
    root = shared_subdir(shared_data, "enigma_epilepsy")
    feats, cov = load_features(root / "xdata" / "metr1_SubVol.csv", root / "xdata" / "cov.csv")
    d = cohens_d(feats, cov["SDx"] == 3, cov["Dx"] == 0)  # 4 left TLE vs 10 controls
    cmp = compare_effects(d, load_published(root / "summary_statistics" / "tlemtsl_case-controls_SubVol.csv"))
    assert cmp["regions"] == 16
    assert cmp["sign_agreement"] > 0.8  # measured 0.94
    assert d["Lhippo"] < -1.0  # ipsilateral hippocampal atrophy; published d = -1.73
