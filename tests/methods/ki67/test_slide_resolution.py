"""The whole-slide FCN map is made at the classifier's training microns per pixel when its model.json states one."""
from __future__ import annotations

import json

import numpy as np
import pytest

from biomedai.io.wsi import write_pyramidal_tiff
from biomedai.methods import get_method
from biomedai.train.model_folder import read_model_info
from biomedai.utils import write_json_atomic

torch = pytest.importorskip("torch")


def _classifier(folder, mpp):
    from biomedai.methods.ki67.config import Ki67Config
    from biomedai.methods.ki67.model import Ki67ValidResNet18, save_classifier_folder

    torch.manual_seed(0)
    save_classifier_folder(folder, Ki67ValidResNet18(), Ki67Config(architecture="resnet18_valid"))  # untrained
    info = read_model_info(folder)
    if mpp is not None:
        info.preprocessing["mpp"] = mpp
    write_json_atomic(folder / "model.json", info.to_dict())  # model.json is not checksummed (weights are)
    return folder


def test_slide_map_at_the_model_resolution_and_at_an_explicit_level(tmp_path):
    rgb = np.random.default_rng(5).integers(0, 255, (512, 704, 3), dtype=np.uint8)
    slide = write_pyramidal_tiff(rgb, tmp_path / "slide.tif", mpp=0.25)  # levels 0.25, 0.5, 1.0 um/px
    cfg = {"wsi_tile": 128, "architecture": "resnet18_valid"}

    def run(model_mpp, **more):
        model = _classifier(tmp_path / f"model_{model_mpp}", model_mpp)
        out = tmp_path / f"out_{model_mpp}_{more.get('wsi_level', 'auto')}"
        res = get_method("ki67")({**cfg, **more}).predict([slide], out, weights=model)
        record = json.loads((out / "result.json").read_text())
        return res.metrics["regions"][0], record["notes"]["slide_level"]["slide.tif"], record

    info, choice, _ = run(0.5)  # a 0.5 um/px model on a 0.25 um/px slide: level 1 (256 x 352)
    assert info["level"] == 1 and choice["how"] == "mpp" and (info["downsample"], info["mpp"]) == (2.0, 0.5)
    assert (info["map_rows"], info["map_cols"]) == ((256 - 64) // 32 + 1, (352 - 64) // 32 + 1)
    info, choice, _ = run(0.4)  # no 0.4 um/px level: level 0 resampled x0.625 (320 x 440)
    assert (info["level"], choice["zoom"], info["mpp"]) == (0, 0.625, 0.4)
    assert (info["map_rows"], info["map_cols"]) == ((320 - 64) // 32 + 1, (440 - 64) // 32 + 1)
    info, choice, _ = run(0.5, wsi_level=0)  # an explicit level is read as it is
    assert info["level"] == 0 and choice["how"] == "configured" and info["map_rows"] == 15
    info, choice, record = run(None)  # a model that states no resolution: level 0, noted, no warning
    assert info["level"] == 0 and choice["how"] == "fallback" and not record["notes"].get("warnings")
    assert "{" not in (tmp_path / "out_None_auto" / "regions.csv").read_text()  # the record is in the notes only
