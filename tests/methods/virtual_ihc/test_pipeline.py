"""predict end to end with a tiny saved model, bad inputs, the model folder round trip, the paired scoring."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from biomedai.errors import InvalidInputError, WeightsError  # noqa: E402
from biomedai.methods.virtual_ihc.config import VirtualIHCConfig  # noqa: E402
from biomedai.methods.virtual_ihc.evaluation import nucleus_agreement, score_generated  # noqa: E402
from biomedai.methods.virtual_ihc.input_check import check_he_input  # noqa: E402
from biomedai.methods.virtual_ihc.model_io import VirtualIHCModel, load_virtual_ihc, save_virtual_ihc  # noqa: E402
from biomedai.methods.virtual_ihc.pipeline import VirtualIHCMethod  # noqa: E402
from biomedai.methods.virtual_ihc.simulate import simulate_set  # noqa: E402
from biomedai.train.model_folder import ModelInfo  # noqa: E402
from biomedai.viz import save_png  # noqa: E402


def _tiny_model(folder: Path, condition: str = "plane") -> Path:
    torch.manual_seed(0)
    cfg = VirtualIHCConfig(tile_size=64, gen_width=4, gen_res_blocks=1, condition=condition, mil_width=4,
                           mil_layers=(1, 1, 1, 1), mil_input_size=32, nucleus_diameter_px=8.0)
    model = VirtualIHCModel(cfg, with_classifier=condition != "none")
    return save_virtual_ihc(folder, model, ModelInfo("virtual_ihc", name="tiny", training_data={"name": "none"}))


def _he_image(path: Path) -> Path:
    pairs = simulate_set(4, seed=0)
    img = np.concatenate([np.concatenate([pairs[0].he, pairs[1].he], 1), np.concatenate([pairs[2].he, pairs[3].he], 1)], 0)
    return save_png(np.pad(img, ((0, 10), (0, 6), (0, 0)), mode="edge"), path)


def test_model_folder_round_trip(tmp_path: Path) -> None:
    folder = _tiny_model(tmp_path / "m")
    model, info = load_virtual_ihc(folder)
    assert model.classifier is not None and model.config.condition == "plane" and model.config.tile_size == 64
    assert info.architecture["with_classifier"] is True
    info_json = json.loads((folder / "model.json").read_text())
    info_json["architecture"]["bogus"] = 1
    (folder / "model.json").write_text(json.dumps(info_json))
    with pytest.raises(WeightsError, match="bogus"):
        load_virtual_ihc(folder)


def test_predict_end_to_end_with_a_real_ihc(tmp_path: Path) -> None:
    he = _he_image(tmp_path / "he.png")
    real = save_png(simulate_set(1, seed=1)[0].ihc, tmp_path / "real.png")
    method = VirtualIHCMethod(VirtualIHCConfig(real_ihc=str(real), tile_overlap=16, device="cpu"))
    result = method.predict([he], tmp_path / "out", weights=_tiny_model(tmp_path / "m"))
    out = tmp_path / "out"
    synth = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(out / "he_synthetic_ki67.png"))
    assert synth.shape == (138, 134, 3)
    for name in ("he_side_by_side.png", "he_tumour_probability.png", "positive_ratios.csv", "result.json"):
        assert (out / name).is_file(), name
    row = result.metrics["images"][0]
    assert row["real_n_cells"] > 5 and row["tumour_tiles"] is not None
    assert result.metrics["real_positive_ratio"] == pytest.approx(row["real_ratio"])


def test_predict_refuses_bad_inputs_and_writes_nothing(tmp_path: Path) -> None:
    method = VirtualIHCMethod()
    grey = save_png(np.full((64, 64), 120, np.uint8), tmp_path / "grey.png")
    with pytest.raises(InvalidInputError, match="grey|RGB"):
        method.predict([grey], tmp_path / "out", weights=tmp_path / "missing")
    glass = save_png(np.full((64, 64, 3), (235, 230, 240), np.uint8), tmp_path / "glass.png")
    with pytest.raises(InvalidInputError, match="no tissue"):
        method.predict([glass], tmp_path / "out", weights=tmp_path / "missing")
    assert not (tmp_path / "out").exists()  # checked before anything was written


def test_ihc_given_as_he_warns() -> None:
    cfg = VirtualIHCConfig()
    ihc = np.concatenate([p.ihc for p in simulate_set(2, seed=0)], 1)
    he = np.concatenate([p.he for p in simulate_set(2, seed=0)], 1)
    assert check_he_input(he, cfg) == []
    assert "looks like an IHC" in check_he_input(ihc, cfg)[0]


def test_tile_size_the_generator_cannot_take() -> None:
    from biomedai.errors import ConfigError

    with pytest.raises(ConfigError, match="multiple of 4"):
        VirtualIHCConfig.from_dict({"tile_size": 30})


def test_nucleus_agreement_with_a_perfect_and_an_all_negative_image() -> None:
    pair = simulate_set(1, seed=2)[0]
    seg = np.zeros(pair.ihc.shape, np.uint8)
    pos = pair.positive[np.maximum(pair.labels - 1, 0)] & (pair.labels > 0)
    seg[pos, 0] = 255
    seg[(pair.labels > 0) & ~pos, 2] = 255
    perfect = nucleus_agreement(pair.ihc, seg)
    assert perfect["accuracy"] == 1.0 and perfect["f1_positive"] == 1.0
    negative = nucleus_agreement(pair.he * 0 + 230, seg)
    assert negative["called_ratio"] == 0.0 and negative["accuracy"] == pytest.approx(1 - pair.true_ratio)
    scored = score_generated(pair.ihc, pair.ihc, seg, 8.0)
    assert scored["ssim"] == pytest.approx(1.0) and scored["psnr"] == float("inf")


def test_bags_tool_writes_instances_with_labels(tmp_path: Path) -> None:
    img = np.full((300, 300, 3), 235, np.uint8)
    img[:200, :200] = (150, 80, 160)
    path = save_png(img, tmp_path / "slide.png")
    labels = tmp_path / "labels.csv"
    labels.write_text("image,x,y,label\nslide.png,0,0,tumour\n")
    parser = VirtualIHCMethod.tool_parser("biomedai tool virtual_ihc")
    args = parser.parse_args(["bags", str(path), "-o", str(tmp_path / "out"), "--labels", str(labels),
                              "--bag-size", "200", "--tile-size", "100"])
    assert VirtualIHCMethod().run_tool(args) == 0
    rows = (tmp_path / "out" / "bags.csv").read_text().splitlines()
    assert len(rows) == 1 + 4 and all(",tumour," in r for r in rows[1:])
    assert (tmp_path / "out" / "bags_overlay.png").is_file()
