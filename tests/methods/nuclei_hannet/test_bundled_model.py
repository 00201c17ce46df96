"""The bundled nuclei model: ``predict`` without ``--weights`` uses it, says so (with its non-commercial
terms), and segments a held-out real tile well enough that a broken or random model could not pass."""
from __future__ import annotations

import json

import numpy as np

from biomedai.cli import main
from biomedai.methods.nuclei_hannet.data import load_split_file, load_tiles
from biomedai.methods.nuclei_hannet.evaluation import score_tile
from biomedai.methods.nuclei_hannet.pipeline import HanNetMethod
from biomedai.train.model_folder import default_model_folder, read_model_info

from tests.conftest import shared_subdir

FOLDER = default_model_folder("nuclei_hannet")


def test_the_method_ships_a_default_model():
    assert FOLDER is not None and (FOLDER / "MODEL.md").is_file()
    info = read_model_info(FOLDER)
    assert info.non_commercial and not info.simulated
    assert info.training_data["split_name"] == "all_sources"


def test_predict_without_weights_uses_the_bundled_model(shared_data, tmp_path, capsys):
    root = shared_subdir(shared_data, "nuclei")
    tile = [t for t in load_tiles(root, "test", load_split_file("all_sources")) if t.dataset == "gbm40"][0]
    image = root / "gbm40" / "images" / f"{tile.name}.png"
    assert main(["predict", "nuclei_hannet", str(image), "-o", str(tmp_path / "out")]) == 0
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert "non-commercial" in result["notes"]["model"] and "'default'" in result["notes"]["model"]
    n_true = int(np.unique(tile.labels[tile.labels > 0]).size)
    assert abs(result["metrics"]["n_nuclei_total"] - n_true) <= 0.25 * n_true
    from biomedai.io import read_image

    pred = read_image(tmp_path / "out" / f"{tile.name}_labels.tif").array
    scores = score_tile(tile.labels, pred)
    assert scores["aji"] > 0.65 and scores["f1"] > 0.8, scores  # classical baseline: AJI ~0.69 on gbm40
    report = HanNetMethod().report(tmp_path / "out").read_text()
    assert report.index("Key numbers") < report.index("Metrics") and "n_nuclei_total" in report
