"""The registered method: demo, train -> predict -> evaluate plumbing, bad input, tools; a slow real training."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from biomedai.errors import InvalidInputError, WeightsError
from biomedai.methods import get_method
from biomedai.methods.dental_perio.synthetic import synthetic_panoramic


def write_films(root: Path, n: int, size: tuple[int, int] = (128, 256), seed: int = 0) -> Path:
    """A folder in the UFBA layout (images/NAME.png, labels/NAME.png) of simulated films."""
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for k in range(n):
        film = synthetic_panoramic(seed + k, size=size)
        PILImage.fromarray(film.image).save(root / "images" / f"film{k:02d}.png")
        PILImage.fromarray(film.teeth.astype(np.uint8)).save(root / "labels" / f"film{k:02d}.png")
    return root


def test_registered() -> None:
    cls = get_method("dental_perio")
    assert cls.name == "dental_perio" and "FDI" in cls.task


def test_demo_numbers_a_simulated_film(tmp_path: Path) -> None:
    method = get_method("dental_perio")()
    result = method.demo(tmp_path)
    m = result.metrics
    assert m["numbering_accuracy"] > 0.85 and m["dice_single"] > 0.75
    assert m["n_multiclass_numbers"] < m["n_true_teeth"] / 2  # most numbers come from the calibration
    for name in ("teeth_numbered.png", "teeth.csv", "instances.coco.json", "calibration.json", "result.json"):
        assert (tmp_path / name).is_file(), name
    doc = json.loads((tmp_path / "result.json").read_text())
    assert "SIMULATED" in doc["notes"]["data"]


def test_predict_outputs_with_bone_loss_and_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """predict's outputs and the bone-loss/stage hand-over, with the networks replaced by the film's truth."""
    from biomedai.methods.dental_perio import pipeline
    from biomedai.methods.dental_perio.calibration import calibrate_numbering
    from biomedai.methods.dental_perio.data import instances_from_label_map
    from biomedai.methods.dental_perio.staging import StagingModel
    from biomedai.methods.dental_perio.synthetic import simulate_abl_cohort

    film = synthetic_panoramic(3, size=(128, 256))
    path = tmp_path / "film.png"
    PILImage.fromarray(film.image).save(path)
    truth = instances_from_label_map(film.teeth)
    truth.scores = np.full(len(truth), 0.9)

    def fake_infer(binary: object, multi: object, image: np.ndarray, config: object) -> dict:
        unnumbered = type(truth)(np.zeros(len(truth), int), truth.masks, truth.boxes, truth.scores)
        cal = calibrate_numbering(truth.boxes, truth.boxes[::4], truth.fdi[::4], truth.scores[::4])
        numbered = type(truth)(cal.labels, truth.masks, truth.boxes, truth.scores)
        return {"binary": unnumbered, "multi": truth, "numbered": numbered, "calibration": cal}

    X, y = simulate_abl_cohort(80, seed=0)
    staging = StagingModel("tree").fit(X, y).save(tmp_path / "stage.joblib")
    (tmp_path / "bone.pt").write_bytes(b"")
    class FakeModels:  # the networks replaced by the film's truth
        kind = "maskrcnn_pair"

        def __init__(self, weights: object, config: object) -> None:
            self.config = config

        def describe(self) -> str:
            return "truth of the simulated film"

        def infer(self, image: np.ndarray) -> dict:
            return fake_infer(None, None, image, self.config)

    monkeypatch.setattr(pipeline, "TeethModels", FakeModels)
    monkeypatch.setattr(pipeline, "load_bone_model", lambda p: None)
    monkeypatch.setattr(pipeline, "segment_bone", lambda m, image: film.bone_mask)
    method = get_method("dental_perio")({"bone_weights": str(tmp_path / "bone.pt"),
                                         "staging_model": str(staging)})
    out = method.predict([path], tmp_path / "pred", weights=tmp_path)
    info = out.metrics["films"]["film.png"]
    assert info["n_numbered"] == len(truth) and info["fdi"] == sorted(truth.fdi.tolist())
    assert info["stage"] in ("none", "mild", "moderate", "severe") and len(info["stage_probabilities"]) == 4
    true_d = np.array([film.true_d[int(f)] for f in info["abl_d"]])
    assert np.abs(np.array(list(info["abl_d"].values())) - true_d).mean() < 0.05
    for name in ("film_teeth.png", "film_abl.csv", "film_report/report.html", "teeth.csv", "instances.coco.json"):
        assert (tmp_path / "pred" / name).is_file(), name
    rows = (tmp_path / "pred" / "teeth.csv").read_text().splitlines()
    assert len(rows) == len(truth) + 1 and rows[0].startswith("image,tooth,fdi,source")


@pytest.mark.slow
def test_train_predict_evaluate_plumbing(tmp_path: Path) -> None:
    """Two optimiser steps only: this checks files and formats, not quality (see the slow test)."""
    data = write_films(tmp_path / "films", 2)
    method = get_method("dental_perio")({"backbone": "resnet18", "image_size": 128, "max_steps": 1,
                                         "optimizer": "adamw", "min_confidence": 0.5, "device": "cpu"})
    trained = method.train(data, tmp_path / "train")
    from biomedai.train.model_folder import read_model_info

    info = read_model_info(tmp_path / "train")
    assert trained.metrics["binary_steps"] == 1 and len(info.weights_sha256) == 64
    assert info.architecture["kind"] == "maskrcnn_pair" and len(info.class_names) == 32
    assert trained.metrics["images"].startswith("all images")
    image = data / "images" / "film00.png"
    out = method.predict([image], tmp_path / "pred", weights=tmp_path / "train")
    for name in ("film00_teeth.png", "film00_calibration.json", "teeth.csv", "instances.coco.json", "result.json"):
        assert (tmp_path / "pred" / name).is_file(), name
    assert "film00.png" in out.metrics["films"]
    ev = method.evaluate(data, tmp_path / "eval", weights=tmp_path / "train")
    assert set(ev.metrics["ours"]) == {"multi-class Mask R-CNN", "binary + calibration (Deetal-Perio)"}
    assert (tmp_path / "eval" / "table1.csv").is_file()
    colour = tmp_path / "colour.png"
    PILImage.fromarray(np.random.default_rng(0).integers(0, 255, (64, 96, 3), dtype=np.uint8)).save(colour)
    with pytest.raises(InvalidInputError, match="colour"):
        method.predict([colour], tmp_path / "bad", weights=tmp_path / "train")
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(WeightsError, match="models file"):
        method.predict([image], tmp_path / "bad", weights=bad)
    # a training folder written before the model folder (models.json + one weights.pt per network) still loads
    from biomedai.methods.dental_perio.inference import PAIR_TASKS, load_models
    from biomedai.train import save_weights
    from biomedai.train.model_folder import load_model_folder

    state, _ = load_model_folder(tmp_path / "train")
    legacy = tmp_path / "legacy"
    spec = {"backbone": "resnet18", "image_size": 128}
    for task in PAIR_TASKS:
        part = {k[len(task) + 1:]: v for k, v in state.items() if k.startswith(task + ".")}
        (legacy / task).mkdir(parents=True)
        spec[task] = {"weights": f"{task}/weights.pt", "sha256": save_weights(part, legacy / task / "weights.pt")}
    (legacy / "models.json").write_text(json.dumps(spec))
    import torch

    old_binary, _, _ = load_models(legacy, method.config)
    new_binary, _, _ = load_models(tmp_path / "train", method.config)
    for (k, a), (_, b) in zip(old_binary.state_dict().items(), new_binary.state_dict().items()):
        assert torch.equal(a, b), k


def test_no_teeth_and_mirrored_warnings() -> None:
    from biomedai.methods.dental_perio.calibration import calibrate_numbering
    from biomedai.methods.dental_perio.data import ToothInstances
    from biomedai.methods.dental_perio.inference import image_warnings

    empty = ToothInstances(np.zeros(0, int), np.zeros((0, 8, 8), bool), np.zeros((0, 4)), np.zeros(0))
    warnings = image_warnings(empty, calibrate_numbering(np.zeros((0, 4)), np.zeros((0, 4)), [], []))
    assert any("no teeth" in w for w in warnings)
    x = np.arange(8) * 30.0
    boxes = np.c_[x, np.full(8, 10.0), x + 20, np.full(8, 90.0)]
    mirrored = calibrate_numbering(boxes, boxes, [24, 23, 22, 21, 11, 12, 13, 14], np.full(8, 0.9), arches="upper")
    teeth = ToothInstances(mirrored.labels, np.zeros((8, 8, 8), bool), boxes, np.ones(8))
    assert any("mirrored" in w for w in image_warnings(teeth, mirrored))


def test_calibrate_tool(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    method = get_method("dental_perio")()
    path = tmp_path / "det.json"
    path.write_text(json.dumps({"binary_boxes": [[0, 0, 40, 80], [180, 0, 220, 80], [270, 0, 310, 80]],
                                "multi_boxes": [[180, 0, 220, 80], [270, 0, 310, 80]], "multi_labels": [16, 15],
                                "multi_scores": [0.9, 0.9]}))
    parser = method.tool_parser("biomedai tool dental_perio")
    assert method.run_tool(parser.parse_args(["calibrate", str(path)])) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["labels"][1:] == [16, 15] and out["log"]
    path.write_text("not json")
    with pytest.raises(InvalidInputError, match="det.json"):
        method.run_tool(argparse.Namespace(tool="calibrate", detections=str(path), display="standard",
                                           max_passes=32, output=None))


@pytest.mark.slow
def test_brief_training_numbers_better_than_rank_order(tmp_path: Path) -> None:
    """Trains both light models briefly on simulated films; binary + calibration must number the held-out
    films' teeth better than the trivial rule 'k-th tooth from the image left is the k-th FDI position'."""
    import torch

    from biomedai.methods.dental_perio.calibration import LOWER_SEQUENCE, UPPER_SEQUENCE
    from biomedai.methods.dental_perio.data import UFBADataset
    from biomedai.methods.dental_perio.numbering import dice_single_scores
    from biomedai.methods.dental_perio.inference import infer_radiograph, load_models

    torch.set_num_threads(1)
    data = write_films(tmp_path / "train_films", 12, size=(128, 256))
    test = write_films(tmp_path / "test_films", 4, size=(128, 256), seed=100)
    cfg = {"backbone": "resnet18", "image_size": 256, "max_steps": 150, "optimizer": "adamw", "lr": 1e-3,
           "warmup_steps": 25, "device": "cpu", "min_confidence": 0.5, "transfer_min_confidence": 0.5}
    method = get_method("dental_perio")(cfg)
    method.train(data, tmp_path / "train")
    binary, multi, config = load_models(tmp_path / "train", method.config)
    ds = UFBADataset(test)
    ours, baseline = [], []
    for name in ds.ids:
        image, truth = ds.load(name)
        out = infer_radiograph(binary, multi, image, config)
        ours += dice_single_scores(truth, out["numbered"])
        rank = out["numbered"]
        trivial = type(rank)(np.zeros(len(rank), int), rank.masks, rank.boxes, rank.scores)
        cal = out["calibration"]
        for arch, seq in (("upper", UPPER_SEQUENCE), ("lower", LOWER_SEQUENCE)):
            idx = [i for i in np.argsort((rank.boxes[:, 0] + rank.boxes[:, 2]) / 2) if cal.arches[i] == arch]
            for p, i in enumerate(idx[:16]):
                trivial.fdi[i] = seq[p]
        baseline += dice_single_scores(truth, trivial)
    assert np.mean(ours) > np.mean(baseline) + 0.05, (np.mean(ours), np.mean(baseline))
