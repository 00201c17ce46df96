"""The correction loop's storage and retraining (the paper's Bio 1 -> 2 -> 3), on tiny synthetic images."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image as PILImage

from biomedai.errors import InvalidInputError
from biomedai.methods import get_method
from biomedai.methods.vessels_biosegment.corrections import corrected_cases, save_correction
from biomedai.train.model_folder import read_model_info

from .test_pipeline import tiny_model  # noqa: F401 - fixture

SIZE = (144, 160)  # larger than the detector's 128 px training patches


def _base_data(root, n: int = 2) -> None:
    """DRIVE's layout with ``n`` synthetic training images (a cross of dark vessels on a bright field)."""
    rng = np.random.default_rng(0)
    for sub in ("images", "1st_manual"):
        (root / "training" / sub).mkdir(parents=True)
    for i in range(n):
        truth = np.zeros(SIZE, np.uint8)
        truth[40 + 20 * i:44 + 20 * i, 10:150] = 255
        truth[15:130, 70 + 5 * i:73 + 5 * i] = 255
        rgb = np.stack([np.full(SIZE, 180, np.uint8)] * 3, axis=-1)
        rgb[truth > 0, 1] = 60
        rgb = np.clip(rgb + rng.integers(0, 20, rgb.shape), 0, 255).astype(np.uint8)
        PILImage.fromarray(rgb).save(root / "training" / "images" / f"{21 + i}_training.png")
        PILImage.fromarray(truth).save(root / "training" / "1st_manual" / f"{21 + i}_manual1.png")


def _annotation(size=SIZE):
    return {"format": "biomedai-vessel-polylines", "version": 1, "image": "x.png", "image_size": list(size),
            "pixel_size_um": None, "polylines": [{"class": "vessel", "points": [[5, 21], [64, 21]]},
                                                 {"class": "vessel", "points": [[31, 10], [31, 54]]}]}


def test_save_and_read_corrections(tmp_path) -> None:
    image = tmp_path / "in" / "extra01.png"
    image.parent.mkdir()
    PILImage.fromarray(np.full((*SIZE, 3), 120, np.uint8)).save(image)
    folder = tmp_path / "corrections"
    path = save_correction(folder, image, _annotation())
    assert path == folder / "polylines" / "extra01.json" and (folder / "images" / "extra01.png").is_file()
    (case, lines), = corrected_cases(folder)
    assert case.image.name == "extra01.png" and lines.image == "extra01.png" and len(lines.polylines) == 2
    bad = _annotation()
    bad["polylines"][0]["class"] = "artery"
    with pytest.raises(InvalidInputError, match="class 'artery'"):
        save_correction(folder, image, bad)
    with pytest.raises(InvalidInputError, match="2-D image"):
        save_correction(folder, tmp_path / "scan.nii.gz", _annotation())
    assert json.loads(path.read_text())["polylines"][0]["points"] == [[5.0, 21.0], [64.0, 21.0]]  # kept
    (folder / "polylines" / "orphan.json").write_text(json.dumps(_annotation()))
    with pytest.raises(InvalidInputError, match="no image orphan"):
        corrected_cases(folder)


def test_retrain_counts_rounds_and_uses_the_corrected_images(tmp_path, tiny_model, capsys) -> None:
    _base_data(tmp_path / "drive", n=2)
    image = tmp_path / "extra01.png"
    PILImage.open(tmp_path / "drive" / "training" / "images" / "21_training.png").save(image)
    save_correction(tmp_path / "corrections", image, _annotation())
    method = get_method("vessels_biosegment")({"detector_steps_per_epoch": 2, "batch_size": 2})
    parser = method.tool_parser("biomedai tool vessels_biosegment")
    args = ["retrain", "--corrections", str(tmp_path / "corrections"), "--data", str(tmp_path / "drive"),
            "--weights", str(tiny_model), "-o", str(tmp_path / "round1"), "--minutes", "0.2", "--epochs", "1"]
    assert method.run_tool(parser.parse_args(args)) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["correction_round"] == 1 and out["corrected_images"] == ["extra01.png"]
    info = read_model_info(tmp_path / "round1" / "detector")
    assert info.extra["correction_round"] == 1 and "corrected:extra01" in info.training_data["split"]["train"]
    assert (tmp_path / "round1" / "model" / "model.json").is_file()
    args[args.index("--weights") + 1], args[args.index("-o") + 1] = str(tmp_path / "round1"), str(tmp_path / "round2")
    assert method.run_tool(parser.parse_args(args)) == 0
    assert read_model_info(tmp_path / "round2" / "detector").extra["correction_round"] == 2
    result = method.predict([image], tmp_path / "pred", weights=tmp_path / "round2")  # the new pair is usable
    assert (tmp_path / "pred" / "extra01_polylines.json").is_file() and result.metrics
