"""Cross-validation of MSAM and baselines on a tiny synthetic window set with a known separable signal, and the
MNE-based simulated cohort."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from biomedai.methods.msam_meg.config import MsamConfig
from biomedai.methods.msam_meg.experiment import cross_validate
from biomedai.methods.msam_meg.recordings import WindowSet, prepare_cohort


def _toy(n_subjects=8, per=6, c=4, t=40, seed=0):
    rng = np.random.default_rng(seed)
    xs, ys, subs = [], [], []
    for s in range(n_subjects):
        label = s % 2
        x = rng.standard_normal((per, c, t)).astype(np.float32)
        if label:  # CPS: a 10-cycle oscillation on channel 0
            x[:, 0] += 3.0 * np.sin(np.linspace(0, 20 * np.pi, t, dtype=np.float32))
        xs.append(x)
        ys.append(np.full(per, label))
        subs.append(np.full(per, f"s{s}"))
    return WindowSet(np.concatenate(xs), np.concatenate(ys), np.concatenate(subs), [f"c{i}" for i in range(c)], 40.0)


@pytest.mark.parametrize("kind", ["svm", "rf"])
def test_band_power_baselines_separate_an_obvious_rhythm(kind):
    res = cross_validate(_toy(), kind, MsamConfig(folds=4))
    assert res["window"]["accuracy_micro"] > 0.8  # chance is 0.5
    assert res["subject"]["accuracy_micro"] >= 0.75


def test_msam_learns_the_toy_task_and_reports_attention(tmp_path):
    # narrower MLP than the paper's (1024-512-128-32) to keep the test fast; same layers otherwise
    cfg = MsamConfig(folds=3, epochs=20, heads=2, batch_size=8, lr=3e-3, mlp_units=(64, 32, 16, 8))
    res = cross_validate(_toy(n_subjects=12, per=8), "msam", cfg, tmp_path)
    assert res["auc"] > 0.85  # chance is 0.5
    assert res["window"]["accuracy_micro"] > 0.75
    assert res["attention"].shape == (4,)
    assert len(res["per_fold"]) == 3
    c = res["confusion"]
    assert c["tp"] + c["tn"] + c["fp"] + c["fn"] == 96


@pytest.mark.slow
def test_cnn_runs_subject_wise(tmp_path):
    res = cross_validate(_toy(), "cnn", MsamConfig(folds=2, epochs=3, batch_size=8), tmp_path)
    assert 0 <= res["window"]["accuracy_micro"] <= 1


def test_simulated_cohort_is_labelled_and_readable(tmp_path):
    pytest.importorskip("mne")
    from biomedai.methods.msam_meg.simulate import SimulationConfig, cortical_sources, regions, simulate_cohort

    rr, nn = cortical_sources(120)
    np.testing.assert_allclose(np.einsum("ij,ij->i", rr, nn), 0, atol=1e-9)  # tangential dipoles
    reg = regions(rr)
    assert reg["left_temporal"].sum() >= 2 and reg["right_temporal"].sum() >= 2
    folder = simulate_cohort(tmp_path / "sim", SimulationConfig(n_subjects=4, seconds=4.0, n_sensors=12, seed=3))
    assert "SIMULATED" in (folder / "SIMULATED.txt").read_text()
    with open(folder / "simulation.csv") as fh:
        params = list(csv.DictReader(fh))
    assert sorted(p["subtype"] for p in params) == ["CPS", "CPS", "SPS", "SPS"]
    ws = prepare_cohort(folder, MsamConfig(sfreq=200.0, h_freq=80.0, window_s=1.0, overlap=0.0,
                                           reject_amplitude=None))
    assert ws.x.shape == (16, 12, 200) and len(set(ws.subjects)) == 4
