"""A slide is translated at the generator's training microns per pixel when its model.json states one."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from biomedai.io.wsi import open_wsi  # noqa: E402
from biomedai.methods.virtual_ihc.pipeline import VirtualIHCMethod  # noqa: E402
from biomedai.train.model_folder import read_model_info  # noqa: E402
from biomedai.utils import write_json_atomic  # noqa: E402
from tests.methods.virtual_ihc.test_slide import _cfg, _model, _slide  # noqa: E402


def _model_at(folder: Path, mpp: float) -> Path:
    _model(folder)
    info = read_model_info(folder)
    info.preprocessing["mpp"] = mpp
    write_json_atomic(folder / "model.json", info.to_dict())  # model.json is not checksummed (the weights are)
    return folder


@pytest.mark.parametrize("model_mpp, level, size", [
    (1.0, 1, (450, 360)),    # a 1.0 um/px model on a 0.5 um/px slide: its level 1 as it is
    (0.8, 0, (562, 450)),    # no 0.8 um/px level: level 0 resampled x0.625
])
def test_the_generator_runs_at_its_training_resolution(tmp_path: Path, model_mpp, level, size) -> None:
    slide = _slide(tmp_path / "he.tif")  # 900 x 720 px at 0.5 um/px
    result = VirtualIHCMethod(_cfg()).predict([slide], tmp_path / "out", weights=_model_at(tmp_path / "m", model_mpp))
    assert result.metrics["images"][0]["mpp"] == pytest.approx(model_mpp)
    with open_wsi(tmp_path / "out" / "he_synthetic_ki67.tif") as s:
        assert s.dimensions == size and s.mpp == pytest.approx((model_mpp, model_mpp))
        out = s.read_region((0, 0), 0, size)
    scale = 0.5 / model_mpp  # the tissue block lies at x 300-684, y 200-456 level-0 pixels
    assert (out[:int(80 * scale)] == 255).all() and out[int(260 * scale):int(400 * scale),
                                                        int(360 * scale):int(620 * scale)].mean() < 250
    record = json.loads((tmp_path / "out" / "result.json").read_text())
    choice = record["notes"]["slide_level"]["he.tif"]
    assert (choice["level"], choice["how"]) == (level, "mpp")
    tiles = (tmp_path / "out" / "he_tiles.csv").read_text().splitlines()
    assert tiles[0].startswith("row,col,x,y") and len(tiles) > 1


def test_an_explicit_slide_level_is_kept(tmp_path: Path) -> None:
    slide = _slide(tmp_path / "he.tif")
    VirtualIHCMethod(_cfg(slide_level=0)).predict([slide], tmp_path / "out", weights=_model_at(tmp_path / "m", 1.0))
    with open_wsi(tmp_path / "out" / "he_synthetic_ki67.tif") as s:
        assert s.dimensions == (900, 720)


def test_the_real_ihc_slide_says_how_it_was_read(tmp_path: Path) -> None:
    """A real Ki-67 slide without microns per pixel is read at level 0, and the user is told so (result.json)."""
    slide = _slide(tmp_path / "he.tif")
    real = _slide(tmp_path / "ki67.tif", ihc=True, mpp=None)
    VirtualIHCMethod(_cfg(real_ihc=str(real))).predict([slide], tmp_path / "out",
                                                       weights=_model_at(tmp_path / "m", 1.0))
    record = json.loads((tmp_path / "out" / "result.json").read_text())
    assert record["notes"]["slide_level"]["ki67.tif"]["how"] == "fallback"
    assert any(w.startswith("ki67.tif: the slide states no microns per pixel") for w in record["notes"]["warnings"])
