"""The Method end to end on simulated data: predict maps, train/evaluate an estimator, stream, CLI errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from biomedai.cli import main
from biomedai.methods.registry import get_method
from biomedai.methods.tactile_mis.config import TactileConfig
from biomedai.methods.tactile_mis.ingest import write_sequence_npy
from biomedai.methods.tactile_mis.simulate import (homogeneous_map, line_path, palpation, probe_from_config,
                                                   tissue_from_config)


@pytest.fixture()
def recording(tmp_path):
    cfg = TactileConfig(inclusion_modulus_kpa=600.0)
    path_xy = line_path((-12.0, 0.0), (12.0, 0.0), 7)
    rec = palpation(tissue_from_config(cfg), probe_from_config(cfg), path_xy, cfg.indentation_mm, cfg.noise_n, 0)
    target = write_sequence_npy(tmp_path / "scan.npy", rec.frames)
    np.savetxt(tmp_path / "scan.path.csv", path_xy, delimiter=",", header="x_mm,y_mm", comments="")
    write_sequence_npy(tmp_path / "free.npy", homogeneous_map(cfg)[None])
    return cfg, target, tmp_path / "free.npy"


def test_predict_writes_maps_and_the_tissue_map_peaks_over_the_inclusion(recording, tmp_path):
    cfg, target, free = recording
    method = get_method("tactile_mis")(cfg.replace(baseline=str(free)))
    result = method.predict([target], tmp_path / "out", weights=None)
    data = json.loads(result.result_json.read_text())
    metrics = data["metrics"]["recordings"]["scan.npy"]
    assert metrics["sequence"]["frames"] == 7 and metrics["sequence"]["unit"] == "N"
    assert np.hypot(*metrics["tissue_map_peak_xy_mm"]) <= 4.0          # inclusion at (0, 0), 4 mm cells
    assert metrics["peak_frame"] == 3                                    # the frame centred over it
    assert metrics["nodules"]["excess_rule"]["flagged"] and 3 in metrics["nodules"]["excess_rule"]["frames_flagged"]
    for name in ("scan_contour.png", "scan_force_blocks.png", "scan_stiffness.png", "scan_waves.png",
                 "scan_stiffness_subtraction.csv", "scan_stiffness_ratio.csv", "scan_tissue_map.png"):
        assert (tmp_path / "out" / name).is_file(), name
    assert data["provenance"]["inputs"][0]["sha256"]


def test_cli_reports_a_layout_mismatch_in_one_line(recording, tmp_path, capsys):
    _, target, _ = recording
    (tmp_path / "pad.json").write_text(json.dumps({"name": "pad", "rows": 4, "cols": 3}))
    code = main(["predict", "tactile_mis", str(target), "-o", str(tmp_path / "o"), "--set",
                 f"layout={tmp_path / 'pad.json'}"])
    assert code == 2
    assert "frames are 8 x 8 but layout 'pad' is 4 x 3" in capsys.readouterr().err


def test_train_and_evaluate_inverse_features(tmp_path):
    from biomedai.methods.tactile_mis.training import PARTS, save_parts, simulate_part

    cfg = TactileConfig(n_train=300, n_val=60, n_test=80, epochs=30, lr=1e-2)
    save_parts({part: simulate_part("inverse_features", part, cfg) for part in PARTS}, tmp_path / "data")
    method = get_method("tactile_mis")(cfg)
    trained = method.train(tmp_path / "data", tmp_path / "run")
    model_json = json.loads((tmp_path / "run" / "model" / "model.json").read_text())
    assert model_json["simulated"] is True and model_json["architecture"]["task"] == "inverse_features"
    d_error = trained.metrics["test"]["d_mm"]["mae"]
    # the diameter is well determined by the TSIS features; predicting the mean would give ~2.5 mm
    assert d_error < 1.5
    evaluated = method.evaluate(tmp_path / "data", tmp_path / "eval", weights=tmp_path / "run" / "model")
    assert evaluated.metrics["test"]["d_mm"]["mae"] == pytest.approx(d_error)
    assert "unseen" in evaluated.metrics and (tmp_path / "eval" / "truth_vs_estimate.png").is_file()
    assert evaluated.metrics["latency_per_image_cpu"]["median_ms"] > 0


def test_stream_tool_prints_latency(recording, tmp_path, capsys):
    _, target, _ = recording
    assert main(["tool", "tactile_mis", "stream", str(target), "--out", str(tmp_path / "live")]) == 0
    printed = capsys.readouterr().out
    assert "map update latency" in printed and printed.count("frame ") >= 7
    summary = json.loads((tmp_path / "live" / "stream_latency.json").read_text())
    assert summary["frames"] == 7 and summary["median_ms"] > 0


@pytest.mark.parametrize("fmt", ["csv", "h5"])
def test_simulate_tool_writes_a_recording_predict_reads(fmt, tmp_path):
    from biomedai.methods.tactile_mis.ingest import read_sequence

    assert main(["tool", "tactile_mis", "simulate", "--out", str(tmp_path), "--frames", "4", "--format", fmt]) == 0
    seq = read_sequence(tmp_path / f"palpation.{fmt}")
    assert seq.frames.shape == (4, 8, 8) and seq.frames.max() > 0.1
    truth = json.loads((tmp_path / "palpation.truth.json").read_text())
    assert truth["seed"] == 0 and "tactile_mis.simulate" in truth["simulator"]


def test_bundled_model_estimates_the_default_inclusion(tmp_path):
    """The bundled (simulated-data) model on a fresh simulated press it never saw: d 10 mm, h 6 mm, 360 kPa."""
    from biomedai.train.model_folder import default_model_folder, read_model_info

    folder = default_model_folder("tactile_mis")
    if folder is None:
        pytest.skip("no bundled model")
    assert read_model_info(folder).simulated
    cfg = TactileConfig(seed=7)
    rec = palpation(tissue_from_config(cfg), probe_from_config(cfg), np.zeros((1, 2)), cfg.indentation_mm,
                    cfg.noise_n, 7)
    write_sequence_npy(tmp_path / "press.npy", rec.frames)
    result = get_method("tactile_mis")(cfg).predict([tmp_path / "press.npy"], tmp_path / "out")
    estimate = result.metrics["recordings"]["press.npy"]["inclusion_estimate"]
    assert abs(estimate["d_mm"] - 10.0) < 2.0 and abs(estimate["h_mm"] - 6.0) < 3.0
    assert "simulated" in estimate["note"]


def test_calibrate_tool_then_predict_with_the_calibration(tmp_path):
    from biomedai.methods.tactile_mis.ingest import read_sequence

    rng = np.random.default_rng(5)
    gain, offset = rng.uniform(0.01, 0.02, 6), rng.uniform(0.0, 0.05, 6)
    raw = rng.uniform(0, 50, (12, 6))
    header = ",".join(f"e{k}" for k in range(6))
    np.savetxt(tmp_path / "raw.csv", raw, delimiter=",", header=header, comments="")
    np.savetxt(tmp_path / "force.csv", raw * gain + offset, delimiter=",", header=header, comments="")
    assert main(["tool", "tactile_mis", "calibrate", "--raw", str(tmp_path / "raw.csv"), "--force",
                 str(tmp_path / "force.csv"), "--sensor", "pad", "--out", str(tmp_path / "cal.json")]) == 0
    (tmp_path / "pad.json").write_text(json.dumps({"name": "pad", "rows": 2, "cols": 3}))
    frames = rng.uniform(0, 50, (3, 2, 3))
    write_sequence_npy(tmp_path / "rec.npy", frames)
    cfg = TactileConfig(layout=str(tmp_path / "pad.json"), calibration=str(tmp_path / "cal.json"))
    get_method("tactile_mis")(cfg).predict([tmp_path / "rec.npy"], tmp_path / "out")
    peak = np.loadtxt(tmp_path / "out" / "rec_peak_force.csv", delimiter=",", ndmin=2)
    expected = read_sequence(tmp_path / "rec.npy").frames * gain.reshape(2, 3) + offset.reshape(2, 3)
    assert any(np.allclose(peak, frame, atol=1e-4) for frame in expected)
