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
