"""The bundled COS-Net model (trained on SIMULATED subtomograms): it ships with its card, ``predict`` and the
tools use it without ``--weights`` and say it is simulated, and on unseen structures it classifies and
segments far better than an untrained or broken model could."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from biomedai.cli import main
from biomedai.data import cryoet_sim as sim
from biomedai.io.mrc import write_mrc
from biomedai.methods.cryoet_cosnet import CosNetMethod
from biomedai.methods.cryoet_cosnet.config import TEST_CLASSES
from biomedai.methods.cryoet_cosnet.tools import REALISTIC_BOXES
from biomedai.train.model_folder import default_model_folder, read_model_info

from tests.conftest import shared_subdir

FOLDER = default_model_folder("cryoet_cosnet")


def test_the_method_ships_a_simulated_default_model_with_its_card():
    assert CosNetMethod.default_model == "default"
    assert FOLDER is not None and (FOLDER / "MODEL.md").is_file()
    info = read_model_info(FOLDER)
    assert info.simulated and "SIMULATED" in info.training_data["name"]
    assert info.training_data["snr_definition"] == "projection_band"
    assert info.architecture["input_binning"] == 2 and info.weights_dtype == "float16"
    assert (FOLDER / "weights.pt").stat().st_size < 5 * 2 ** 20
    card = (FOLDER / "MODEL.md").read_text()
    for words in ("SIMULATED", "research use only", "template matching", "train_bundled_model.py"):
        assert words.lower() in card.lower(), words
    # the recorded test numbers beat chance (2-way 0.5, 8-way 0.125) at SNR inf
    acc = info.metrics["snr_inf"]["cosnet"]
    assert acc["2way"]["ci95"][0] > 0.5 and acc["8way"]["ci95"][0] > 0.125


def test_predict_without_weights_segments_with_the_bundled_model(tmp_path):
    rng = np.random.default_rng(0)
    z, y, x = np.mgrid[:32, :32, :32] - 15.5
    box = ((x ** 2 + y ** 2 + z ** 2) < 64).astype(np.float32) + rng.normal(0, 0.3, (32, 32, 32)).astype(np.float32)
    path = write_mrc(box, tmp_path / "ball.mrc", voxel_size=10.0)
    res = CosNetMethod().predict([path], tmp_path / "out")
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert "simulated" in result["notes"]["model"] and "'default'" in result["notes"]["model"]
    assert (tmp_path / "out" / "masks" / "ball_mask.mrc").is_file()
    assert 0.0 < res.metrics["foreground_fraction"]["ball.mrc"] < 0.5


def _unseen_boxes(shared_data, tmp_path, n_per_class: int = 5):
    root = shared_subdir(shared_data, "cryoet", "templates_10A")
    templates = sim.load_structures([root / f"{name}.mrc" for name in TEST_CLASSES])
    data = sim.simulate_subtomograms(templates, n_per_class + 1, math.inf, sim.SimulationSettings(**REALISTIC_BOXES),
                                     seed=4242)
    support, targets = tmp_path / "support", tmp_path / "targets"
    support.mkdir()
    targets.mkdir()
    truth = {}
    for c, name in enumerate(data.class_names):
        idx = np.flatnonzero(data.labels == c)
        write_mrc(data.volumes[idx[0]], support / f"{name}.mrc", voxel_size=10.0)
        for i in idx[1:]:
            write_mrc(data.volumes[i], targets / f"t{i:03d}.mrc", voxel_size=10.0)
            truth[f"t{i:03d}.mrc"] = (name, data.masks[i])
    return support, targets, truth


def test_bundled_model_classifies_and_segments_unseen_structures(shared_data, tmp_path):
    support, targets, truth = _unseen_boxes(shared_data, tmp_path)
    assert main(["tool", "cryoet_cosnet", "classify", str(targets), "--support", str(support),
                 "-o", str(tmp_path / "cls")]) == 0
    result = json.loads((tmp_path / "cls" / "result.json").read_text())
    predicted = result["metrics"]["predicted"]
    accuracy = np.mean([predicted[name] == truth[name][0] for name in truth])
    # 10-way one-shot on structures never seen in training, noise-free realistic boxes: chance is 0.10
    assert accuracy >= 0.3, accuracy
    assert main(["tool", "cryoet_cosnet", "segment", str(targets), "-o", str(tmp_path / "seg")]) == 0
    from biomedai.io.mrc import read_mrc
    from biomedai.metrics import dice

    scores = [dice(mask, read_mrc(tmp_path / "seg" / "masks" / f"{name[:-4]}_mask.mrc").array > 0)
              for name, (_, mask) in truth.items()]
    # an all-foreground mask scores about 0.1 on these boxes, an empty one 0
    assert np.mean(scores) > 0.4, np.mean(scores)


@pytest.mark.parametrize("bad", ["weights.pt"])
def test_explicit_weights_still_win_over_the_bundled_model(bad, tmp_path):
    from biomedai.errors import BiomedaiError

    with pytest.raises(BiomedaiError):
        CosNetMethod().predict([tmp_path / "missing.mrc"], tmp_path / "out", weights=tmp_path / bad)
