"""predict end to end on a synthetic image with a tiny untrained model folder (tests the plumbing and the
outputs, not the model's quality), and the bundled model on real DRIVE test images."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image as PILImage

from biomedai.methods.vessels_biosegment.config import VesselsConfig
from biomedai.methods.vessels_biosegment.model import architecture_of, build_unet
from biomedai.methods.vessels_biosegment.pipeline import VesselsBioSegmentMethod
from biomedai.train.model_folder import ModelInfo, save_model_folder


@pytest.fixture()
def tiny_model(tmp_path):
    import torch

    from biomedai.methods.vessels_biosegment.detector import VesselBoxDetector

    torch.manual_seed(0)
    features = (4, 4, 8, 8, 16, 4)
    folder = tmp_path / "weights"
    save_model_folder(folder / "model", build_unet(features),
                      ModelInfo("vessels_biosegment", architecture_of(features), preprocessing={"threshold": 0.5}))
    save_model_folder(folder / "detector", VesselBoxDetector(4),
                      ModelInfo("vessels_biosegment", {"width": 4}, name="detector",
                                preprocessing={"detector_score": 0.05}))
    return folder


def _drive_like(root, n: int = 2) -> None:
    rng = np.random.default_rng(0)
    for part, offset in (("training", 20), ("test", 0)):
        for sub in ("images", "1st_manual", "mask"):
            (root / part / sub).mkdir(parents=True)
        for i in range(n):
            truth = np.zeros((64, 72), np.uint8)
            truth[20 + 10 * i:23 + 10 * i, 5:65] = 255
            truth[10:55, 30 + i:32 + i] = 255
            rgb = np.stack([np.full((64, 72), 180, np.uint8)] * 3, axis=-1)
            rgb[truth > 0, 1] = 60
            rgb = np.clip(rgb + rng.integers(0, 20, rgb.shape), 0, 255).astype(np.uint8)
            name = f"{offset + i + 1:02d}"
            PILImage.fromarray(rgb).save(root / part / "images" / f"{name}_{part}.png")
            PILImage.fromarray(truth).save(root / part / "1st_manual" / f"{name}_manual1.png")
            PILImage.fromarray(np.full((64, 72), 255, np.uint8)).save(root / part / "mask" / f"{name}_mask.png")


def test_evaluate_scores_every_path_and_chooses_the_baseline_threshold_on_training(tmp_path, tiny_model):
    _drive_like(tmp_path / "data")
    result = VesselsBioSegmentMethod().evaluate(tmp_path / "data", tmp_path / "out", weights=tiny_model)
    m = result.metrics
    assert m["n_images"] == 2 and 0 < m["baseline_threshold"] < 1
    for key in ("mean_seg_dice", "mean_seg_auc", "mean_seg_cldice", "mean_base_dice", "mean_base_cldice",
                "mean_seg_length_percent_error", "mean_base_junction_error"):
        assert key in m, key
    # the Frangi baseline finds these clean synthetic vessels
    assert m["mean_base_dice"] > 0.5
    assert "det_agreement" in m and [r["path"] for r in m["table"]] == ["seg", "det", "base"]
    assert (tmp_path / "out" / "per_image_scores.csv").is_file()


def test_predict_writes_every_output_with_units_and_groups(tmp_path, tiny_model):
    for group, sample in (("G1", "s1"), ("G1", "s2"), ("G2", "s3")):
        folder = tmp_path / "in" / group / sample
        folder.mkdir(parents=True)
        a = np.full((96, 96), 40, np.uint8)
        a[40:44, :] = 220
        PILImage.fromarray(a).save(folder / "img.png")
    method = VesselsBioSegmentMethod(VesselsConfig(vessels_dark=False, pixel_size_um=2.0))
    out = tmp_path / "out"
    result = method.predict([tmp_path / "in"], out, weights=tiny_model)
    for name in ("result.json", "per_image.csv", "per_sample.csv", "per_group.csv", "timing.csv", "report.html",
                 "length_density_by_group.png", "img_overlay.png"):
        assert (out / name).is_file(), name
    groups = json.loads((out / "per_group.json").read_text())
    assert sorted(g["group"] for g in groups) == ["G1", "G2"]
    assert result.metrics["density_unit"] == "mm/mm^2"
    assert json.loads((out / "result.json").read_text())["method"] == "vessels_biosegment"


def test_bundled_model_on_drive_test_images(shared_data, tmp_path):
    from biomedai.train.model_folder import default_model_folder

    if default_model_folder("vessels_biosegment") is None:
        pytest.skip("no bundled model")
    drive = shared_data / "vessels" / "drive"
    if not drive.is_dir():
        pytest.skip(f"{drive} is absent")
    from biomedai.methods.vessels_biosegment.analysis import analyse_image
    from biomedai.methods.vessels_biosegment.datasets import find_cases
    from biomedai.methods.vessels_biosegment.evaluation import score_case
    from biomedai.methods.vessels_biosegment.imaging import load_vessel_image

    method = VesselsBioSegmentMethod()
    models = method.models(None)
    for case in find_cases(drive / "test")[:2]:
        image = load_vessel_image(case.image, fov_mask=case.fov)
        row = score_case(case, analyse_image(image, models, method.config), None)
        # a broken or untrained network scores AUC ~0.5 and Dice < 0.3
        assert row["seg_auc"] > 0.93 and row["seg_dice"] > 0.7, row
        # lengths: an untrained detector finds nothing (100 % error) or noise everywhere (far above 100 %)
        assert row["seg_length_percent_error"] < 50 and row["det_length_percent_error"] < 40, row
