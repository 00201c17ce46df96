"""train -> predict on a tiny SIMULATED cohort: the plumbing, the window times and the attention-over-time outputs
(two epochs: this checks files and shapes, not accuracy)."""
from __future__ import annotations

import csv

import pytest

from biomedai.methods import get_method

pytest.importorskip("mne")


def test_train_then_predict_writes_attention_over_time(tmp_path):
    from biomedai.methods.msam_meg.simulate import SimulationConfig, simulate_cohort

    data = simulate_cohort(tmp_path / "sim", SimulationConfig(n_subjects=6, seconds=8.0, n_sensors=8, seed=1))
    method = get_method("msam_meg")({"epochs": 2, "sfreq": 100.0, "h_freq": 40.0, "notch": None, "window_s": 1.0,
                                     "overlap": 0.5, "reject_amplitude": None, "batch_size": 16})
    method.train(data, tmp_path / "train")
    recording = data / "sim000_raw.fif"
    out = method.predict([recording], tmp_path / "pred", weights=tmp_path / "train" / "model")
    windows = list(csv.DictReader(open(tmp_path / "pred" / "windows.csv")))
    over_time = list(csv.DictReader(open(tmp_path / "pred" / "sim000_raw_attention_over_time.csv")))
    assert len(windows) == len(over_time) == out.metrics["recordings"]["sim000_raw.fif"]["windows"] == 15
    assert [float(r["start_s"]) for r in over_time[:3]] == [0.0, 0.5, 1.0]  # 1 s windows, 50 % overlap
    channels = [c for c in over_time[0] if c not in ("window", "start_s")]
    assert len(channels) == 8 and all(float(r[c]) >= 0 for r in over_time for c in channels)
    assert (tmp_path / "pred" / "sim000_raw_attention_over_time.png").stat().st_size > 1000
