"""The landmark detector saves and loads through the one model folder; weights files from before still load."""
from __future__ import annotations

import json

import numpy as np
import pytest

from biomedai.errors import WeightsError
from biomedai.methods.hip_dysplasia.config import HipDysplasiaConfig
from biomedai.methods.hip_dysplasia.detector import detect_landmarks, load_detector, save_detector_folder

torch = pytest.importorskip("torch")


def _net_and_pictures(cfg):
    from biomedai.methods.hip_dysplasia.model import LandmarkHeatmapNet

    torch.manual_seed(0)
    net = LandmarkHeatmapNet(features=cfg.detector_features).eval()
    pictures = [np.random.default_rng(k).integers(0, 255, (80, 96), dtype=np.uint8) for k in range(2)]
    return net, pictures


def test_model_folder_and_old_weights_file_give_the_same_detector(tmp_path):
    from biomedai.train import save_weights

    cfg = HipDysplasiaConfig(detector_features=(4, 8, 8), detector_size=64)
    net, pictures = _net_and_pictures(cfg)
    save_weights(net, tmp_path / "old" / "weights.pt")  # what training wrote before model folders
    folder = save_detector_folder(tmp_path / "model", net, cfg, simulated=True,
                                  training_data={"name": "simulated films", "split": "none", "licence": "n/a"})
    info = json.loads((folder / "model.json").read_text())
    assert info["method"] == "hip_dysplasia" and info["architecture"]["features"] == [4, 8, 8] and info["simulated"]
    assert len(info["class_names"]) == 8 and info["weights_sha256"]
    expected = detect_landmarks(net, pictures, 64)
    # the folder carries its architecture: a config with another width still loads it
    from_folder = detect_landmarks(load_detector(folder, cfg.replace(detector_features=(8, 8, 8))), pictures, 64)
    from_old_file = detect_landmarks(load_detector(tmp_path / "old" / "weights.pt", cfg), pictures, 64)
    assert np.array_equal(from_folder, expected) and np.array_equal(from_old_file, expected)


def test_a_changed_weights_file_in_a_model_folder_is_refused(tmp_path):
    cfg = HipDysplasiaConfig(detector_features=(4, 8, 8), detector_size=64)
    net, _ = _net_and_pictures(cfg)
    folder = save_detector_folder(tmp_path / "model", net, cfg, training_data={"name": "x"})
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    torch.save(net.state_dict(), folder / "weights.pt")
    with pytest.raises(WeightsError):
        load_detector(folder, cfg)
