"""Whole-slide predict: a small synthetic pyramidal H&E slide made on the fly (no data in the repo), streamed
generation into a pyramidal TIFF, tissue-only tiles, block-wise counting, the MIL heat map and the bad inputs."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from biomedai.errors import InvalidInputError  # noqa: E402
from biomedai.io.limits import read_limits  # noqa: E402
from biomedai.io.wsi import open_wsi, write_pyramidal_tiff  # noqa: E402
from biomedai.methods.virtual_ihc.config import VirtualIHCConfig  # noqa: E402
from biomedai.methods.virtual_ihc.mil import build_mil_classifier  # noqa: E402
from biomedai.methods.virtual_ihc.mil_model import load_mil_classifier, save_mil_classifier  # noqa: E402
from biomedai.methods.virtual_ihc.model_io import VirtualIHCModel, save_virtual_ihc  # noqa: E402
from biomedai.methods.virtual_ihc.pipeline import VirtualIHCMethod  # noqa: E402
from biomedai.methods.virtual_ihc.simulate import simulate_set  # noqa: E402
from biomedai.methods.virtual_ihc.slide import count_positive_cells, inspect_slide  # noqa: E402
from biomedai.train.model_folder import ModelInfo  # noqa: E402
from biomedai.viz import save_png  # noqa: E402

GLASS = (236, 234, 240)


def _tissue_block(rows: int, cols: int, seed: int, ihc: bool = False) -> np.ndarray:
    pairs = simulate_set(rows * cols, seed=seed)
    tiles = [p.ihc if ihc else p.he for p in pairs]
    return np.concatenate([np.concatenate(tiles[r * cols:(r + 1) * cols], 1) for r in range(rows)], 0)


def _slide(path: Path, ihc: bool = False, height: int = 720, width: int = 900, mpp: float | None = 0.5) -> Path:
    """Glass with a 256 x 384 px block of simulated tissue off centre: most tiles hold no tissue."""
    img = np.empty((height, width, 3), np.uint8)
    img[...] = (252, 252, 252) if ihc else GLASS  # the simulated IHC's own background is near white
    img[200:456, 300:684] = _tissue_block(4, 6, seed=3, ihc=ihc)
    return write_pyramidal_tiff(img, path, mpp=mpp, tile=128)


def _model(folder: Path, condition: str = "none", source: str = "probability") -> Path:
    torch.manual_seed(0)
    cfg = VirtualIHCConfig(tile_size=64, gen_width=4, gen_res_blocks=1, condition=condition, condition_source=source,
                           mil_width=4, mil_layers=(1, 1, 1, 1), mil_input_size=32, nucleus_diameter_px=8.0)
    model = VirtualIHCModel(cfg, with_classifier=False)
    return save_virtual_ihc(folder, model, ModelInfo("virtual_ihc", name="tiny", training_data={"name": "none"}))


def _mil_folder(folder: Path, p_tumour: float) -> Path:
    """A MIL classifier that says ``p_tumour`` for every tile (zero weights, a logit bias)."""
    cfg = VirtualIHCConfig(mil_width=4, mil_layers=(1, 1, 1, 1), mil_input_size=32)
    net = build_mil_classifier(cfg)
    with torch.no_grad():
        for p in net.fc.parameters():
            p.zero_()
        net.fc.bias[1] = float(np.log(p_tumour / (1 - p_tumour)))
    return save_mil_classifier(folder, net, cfg, ModelInfo("virtual_ihc", name="mil", training_data={"name": "none"}))


def _cfg(**kw) -> VirtualIHCConfig:
    base = dict(tile_overlap=16, device="cpu", slide_thumbnail_px=256, slide_count_block=256, slide_output_tile=128)
    return VirtualIHCConfig(**{**base, **kw})


def test_predict_on_a_pyramidal_slide_writes_a_pyramidal_tiff(tmp_path: Path) -> None:
    slide = _slide(tmp_path / "he_slide.tif")
    real = _slide(tmp_path / "ki67_slide.tif", ihc=True)
    method = VirtualIHCMethod(_cfg(real_ihc=str(real)))
    result = method.predict([slide], tmp_path / "out", weights=_model(tmp_path / "m"))
    out = tmp_path / "out"
    with open_wsi(out / "he_slide_synthetic_ki67.tif") as s:
        assert s.dimensions == (900, 720) and s.level_count > 1          # full size, sub-resolution levels
        assert s.mpp == pytest.approx((0.5, 0.5))                        # pixel size kept
        synthetic = s.read_region((0, 0), 0, (900, 720))
    # tiles without tissue are not run and come out white; the tissue block is generated (not white)
    assert (synthetic[:100, :] == 255).all() and (synthetic[600:, :] == 255).all()
    assert synthetic[250:400, 350:650].mean() < 250
    row = result.metrics["images"][0]
    assert row["kind"] == "slide" and row["tiles_run"] < row["tiles_total"] / 2
    # the real Ki-67 slide counted block by block: the simulated IHC has nuclei, some positive
    assert row["real_n_cells"] > 20 and 0 < row["real_ratio"] < 1
    tiles = list(csv.DictReader((out / "he_slide_tiles.csv").open()))
    assert len(tiles) == row["tiles_run"] and all(float(t["tissue_fraction"]) > 0 for t in tiles)
    for name in ("he_slide_side_by_side.png", "positive_ratios.csv", "result.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "result.json").read_text())["metrics"]["images"][0]["kind"] == "slide"


def test_the_slide_is_never_held_in_memory_at_full_resolution(tmp_path: Path) -> None:
    """Under a read limit below the slide's size the whole-slide path still runs (it reads tiles and blocks)."""
    slide = _slide(tmp_path / "big.tif", height=1000, width=1200)
    full = 1000 * 1200 * 3
    with read_limits(max_pixels=full // 2):
        with pytest.raises(InvalidInputError, match="max_pixels"):
            with open_wsi(slide) as s:
                s.read_region((0, 0), 0, (1200, 1000))
        result = VirtualIHCMethod(_cfg()).predict([slide], tmp_path / "out", weights=_model(tmp_path / "m"))
    assert result.metrics["images"][0]["width"] == 1200


def test_counting_in_blocks_counts_each_nucleus_once(tmp_path: Path) -> None:
    """Counting the same IHC in blocks (with seams through nuclei) gives the count of one pass over it."""
    from biomedai.methods.virtual_ihc.quantify import positive_ratio

    ihc = _tissue_block(4, 6, seed=5, ihc=True)
    path = write_pyramidal_tiff(ihc, tmp_path / "ihc.tif", mpp=0.5, tile=128)
    whole = positive_ratio(ihc, 8.0)
    blocks = count_positive_cells(path, 8.0, block=160)
    assert blocks["blocks_counted"] > 4
    assert blocks["n_cells"] == pytest.approx(whole["n_cells"], rel=0.08)
    assert blocks["n_positive"] == pytest.approx(whole["n_positive"], rel=0.15, abs=2)


def test_a_large_plain_tiff_is_read_as_a_slide(tmp_path: Path) -> None:
    import tifffile

    img = np.empty((300, 400, 3), np.uint8)
    img[...] = GLASS
    img[50:242, 100:292] = _tissue_block(3, 3, seed=1)
    tifffile.imwrite(tmp_path / "plain.tif", img, photometric="rgb")
    result = VirtualIHCMethod(_cfg(slide_min_pixels=100_000)).predict([tmp_path / "plain.tif"], tmp_path / "out",
                                                                        weights=_model(tmp_path / "m"))
    assert result.metrics["images"][0]["kind"] == "slide" and result.metrics["images"][0]["mpp"] is None
    with open_wsi(tmp_path / "out" / "plain_synthetic_ki67.tif") as s:
        assert s.dimensions == (400, 300)


def test_mil_model_gives_the_heat_map_and_the_condition(tmp_path: Path) -> None:
    he = save_png(_tissue_block(2, 3, seed=2), tmp_path / "he.png")
    cond = _model(tmp_path / "cond", condition="plane", source="probability")
    outs = {}
    for p in (0.1, 0.9):
        mil = _mil_folder(tmp_path / f"mil{p}", p)
        assert load_mil_classifier(mil)[1] == 32
        method = VirtualIHCMethod(_cfg(mil_model=str(mil)))
        method.predict([he], tmp_path / f"out{p}", weights=cond)
        tiles = list(csv.DictReader((tmp_path / f"out{p}" / "he_tiles.csv").open()))
        assert len(tiles) == 3 * 4 and all(float(t["p_tumour"]) == pytest.approx(p, abs=1e-3) for t in tiles)
        assert {"x", "y", "width", "height"} <= set(tiles[0])
        assert (tmp_path / f"out{p}" / "he_tumour_probability.png").is_file()
        notes = json.loads((tmp_path / f"out{p}" / "result.json").read_text())["notes"]
        assert notes["mil_model"]["role"] == "heat map and condition"
        outs[p] = np.asarray(Image.open(tmp_path / f"out{p}" / "he_synthetic_ki67.png"))
    assert np.abs(outs[0.1].astype(int) - outs[0.9].astype(int)).max() > 0  # the probability reached the generator


def test_mil_heat_map_on_a_slide(tmp_path: Path) -> None:
    slide = _slide(tmp_path / "s.tif")
    method = VirtualIHCMethod(_cfg(mil_model=str(_mil_folder(tmp_path / "mil", 0.8))))
    result = method.predict([slide], tmp_path / "out", weights=_model(tmp_path / "m"))
    assert result.metrics["images"][0]["tumour_tiles"] == result.metrics["images"][0]["tiles_run"]
    assert (tmp_path / "out" / "s_tumour_probability.png").is_file()


def test_a_generator_folder_without_classifier_is_no_mil_model(tmp_path: Path) -> None:
    from biomedai.errors import WeightsError

    with pytest.raises(WeightsError, match="no MIL classifier"):
        load_mil_classifier(_model(tmp_path / "m"))


# ------------------------------------------------------------------------------------------- bad input

def _previous_run(out: Path) -> bytes:
    out.mkdir(parents=True)
    (out / "result.json").write_text('{"previous": true}')
    return (out / "result.json").read_bytes()


def test_a_slide_without_tissue_is_refused_and_nothing_is_lost(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    glass = (np.asarray(GLASS, float) + rng.normal(0, 3, (600, 700, 3))).clip(0, 255).astype(np.uint8)
    path = write_pyramidal_tiff(glass, tmp_path / "glass.tif", mpp=0.5, tile=128)
    out = tmp_path / "out"
    before = _previous_run(out)
    with pytest.raises(InvalidInputError, match="no tissue") as err:
        VirtualIHCMethod(_cfg()).predict([path], out, weights=_model(tmp_path / "m"))
    assert "glass.tif" in str(err.value)
    assert sorted(p.name for p in out.iterdir()) == ["result.json"] and (out / "result.json").read_bytes() == before


def test_a_grey_slide_is_refused(tmp_path: Path) -> None:
    grey = _tissue_block(4, 4, seed=0).mean(-1).astype(np.uint8)
    path = write_pyramidal_tiff(np.repeat(grey[..., None], 3, -1), tmp_path / "grey.tif", mpp=0.5, tile=128)
    with pytest.raises(InvalidInputError, match="grey") as err:
        VirtualIHCMethod(_cfg(slide_min_pixels=1)).predict([path], tmp_path / "out", weights=_model(tmp_path / "m"))
    assert "grey.tif" in str(err.value) and not (tmp_path / "out").exists()


def test_an_ihc_slide_given_as_he_warns(tmp_path: Path) -> None:
    slide = _slide(tmp_path / "ihc.tif", ihc=True)
    assert any("looks like an IHC" in w for w in inspect_slide(slide, _cfg()).warnings)


def test_an_ihc_image_given_as_he_warns_in_result_json(tmp_path: Path) -> None:
    ihc = save_png(_tissue_block(2, 2, seed=4, ihc=True), tmp_path / "ihc.png")
    VirtualIHCMethod(_cfg()).predict([ihc], tmp_path / "out", weights=_model(tmp_path / "m"))
    notes = json.loads((tmp_path / "out" / "result.json").read_text())["notes"]
    assert any("ihc.png" in w and "looks like an IHC" in w for w in notes["warnings"])


def test_a_tile_setting_the_generator_cannot_take_names_the_file(tmp_path: Path) -> None:
    he = save_png(_tissue_block(2, 2, seed=2), tmp_path / "he.png")
    out = tmp_path / "out"
    before = _previous_run(out)
    with pytest.raises(InvalidInputError, match="tile_overlap 80 does not fit the model's 64 px tiles") as err:
        VirtualIHCMethod(_cfg(tile_overlap=80)).predict([he], out, weights=_model(tmp_path / "m"))
    assert "he.png" in str(err.value) and (out / "result.json").read_bytes() == before


def test_a_slide_smaller_than_one_tile_is_refused(tmp_path: Path) -> None:
    img = np.empty((48, 300, 3), np.uint8)
    img[...] = GLASS
    img[:, 100:200] = _tissue_block(1, 2, seed=0)[:48, :100]
    path = write_pyramidal_tiff(img, tmp_path / "thin.tif", mpp=0.5, tile=32)
    with pytest.raises(InvalidInputError, match="smaller than one 64 px tile") as err:
        VirtualIHCMethod(_cfg()).predict([path], tmp_path / "out", weights=_model(tmp_path / "m"))
    assert "thin.tif" in str(err.value) and not (tmp_path / "out").exists()


def test_a_second_bad_input_stops_the_run_before_the_first_is_written(tmp_path: Path) -> None:
    good = _slide(tmp_path / "good.tif")
    bad = tmp_path / "bad.svs"
    bad.write_bytes(b"not a slide" * 20)
    with pytest.raises(InvalidInputError) as err:
        VirtualIHCMethod(_cfg()).predict([good, bad], tmp_path / "out", weights=_model(tmp_path / "m"))
    assert "bad.svs" in str(err.value) and not (tmp_path / "out").exists()


def test_the_cli_turns_a_slide_without_tissue_into_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    from biomedai.cli import main

    glass = np.empty((400, 500, 3), np.uint8)
    glass[...] = GLASS
    path = write_pyramidal_tiff(glass, tmp_path / "empty.tif", mpp=0.5, tile=128)
    code = main(["predict", "virtual_ihc", str(path), "-o", str(tmp_path / "out"), "--weights",
                 str(_model(tmp_path / "m"))])
    err = capsys.readouterr().err
    assert code == 2 and "empty.tif" in err and "no tissue" in err and "Traceback" not in err


def test_the_streamed_slide_equals_the_in_memory_image_where_every_tile_holds_tissue(tmp_path: Path) -> None:
    """Same grid, same tent weights: the slide path (strips read from the TIFF, bands, pyramid) gives the
    image path's pixels exactly."""
    from biomedai.methods.virtual_ihc.inference import translate_he
    from biomedai.methods.virtual_ihc.model_io import load_virtual_ihc
    from biomedai.methods.virtual_ihc.slide import translate_slide

    he = _tissue_block(5, 6, seed=8)[:300, :370]
    path = write_pyramidal_tiff(he, tmp_path / "he.tif", mpp=0.5, tile=64)
    cfg = _cfg()
    model, _ = load_virtual_ihc(_model(tmp_path / "m"), cfg.replace(tile_overlap=0))
    s_in = inspect_slide(path, cfg)
    s_in.mask[...] = True  # every tile runs
    result = translate_slide(model, s_in, tmp_path / "out.tif", cfg)
    assert result.tiles_run == result.tiles_total
    with open_wsi(result.output) as s:
        streamed = s.read_region((0, 0), 0, (370, 300))
    in_memory = translate_he(model, he, cfg).synthetic
    assert np.abs(streamed.astype(int) - in_memory.astype(int)).max() == 0


def test_slide_level_1_runs_at_half_resolution_and_keeps_its_pixel_size(tmp_path: Path) -> None:
    slide = _slide(tmp_path / "he.tif")
    with pytest.raises(InvalidInputError, match="slide_level 9 does not exist"):
        VirtualIHCMethod(_cfg(slide_level=9)).predict([slide], tmp_path / "bad", weights=_model(tmp_path / "m"))
    result = VirtualIHCMethod(_cfg(slide_level=1)).predict([slide], tmp_path / "out", weights=_model(tmp_path / "m"))
    assert result.metrics["images"][0]["mpp"] == pytest.approx(1.0)
    with open_wsi(tmp_path / "out" / "he_synthetic_ki67.tif") as s:
        assert s.dimensions == (450, 360) and s.mpp == pytest.approx((1.0, 1.0))
        out = s.read_region((0, 0), 0, (450, 360))
    assert (out[:40] == 255).all() and out[110:220, 160:330].mean() < 250  # tissue at 100-228, 150-342


def test_counting_a_slide_that_is_mostly_glass_finds_the_nuclei_of_its_tissue(tmp_path: Path) -> None:
    """One nuclear threshold per slide from tissue windows: blocks that are mostly glass count like the tissue."""
    from biomedai.methods.virtual_ihc.quantify import positive_ratio

    # a tinted tissue background (as generators draw it): one pass over tissue + glass finds 1 nucleus, not 264
    ihc = (_tissue_block(4, 4, seed=6, ihc=True) * np.array([0.8, 0.82, 0.9])).round().astype(np.uint8)
    slide = np.full((900, 1100, 3), 252, np.uint8)
    slide[300:556, 500:756] = ihc
    path = write_pyramidal_tiff(slide, tmp_path / "glassy.tif", mpp=0.5, tile=128)
    s_in = inspect_slide(path, _cfg(), he=False)
    counted = count_positive_cells(path, 8.0, block=512, mask=s_in.mask)
    alone = positive_ratio(ihc, 8.0)
    assert counted["n_cells"] == pytest.approx(alone["n_cells"], rel=0.1)
    assert counted["n_positive"] == pytest.approx(alone["n_positive"], rel=0.2, abs=2)
