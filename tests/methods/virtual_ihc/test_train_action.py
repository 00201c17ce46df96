"""``biomedai train virtual_ihc --set model=...`` for every model kind, through the project's engine.

SIMULATED MIL slides (``simulate.simulate_mil_slide``: tumour bags hold 1-2 tumour tiles with larger, darker
nuclei among normal tiles) give the MIL classifier a known answer: it must separate held-out bags and its
heat map must be hotter on the tumour tiles. Tiny networks, a few steps: plumbing and learning checks, not
results. The paired kinds use the real DeepLIIF panels when the shared data are present.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from biomedai.errors import ConfigError, InvalidInputError
from biomedai.methods.virtual_ihc.config import VirtualIHCConfig
from biomedai.methods.virtual_ihc.mil_model import load_mil_classifier
from biomedai.methods.virtual_ihc.model_io import load_virtual_ihc
from biomedai.methods.virtual_ihc.pipeline import VirtualIHCMethod
from biomedai.methods.virtual_ihc.simulate import simulate_mil_slide, write_simulated_mil_folder
from biomedai.metrics import roc_auc
from biomedai.viz import save_png
from tests.conftest import shared_subdir

MIL = {"tile_size": 64, "bag_size": 128, "mil_width": 8, "mil_layers": (1, 1, 1, 1), "mil_input_size": 32,
    "mil_epochs": 10, "mil_lr": 3e-3, "mil_batch_size": 8, "device": "cpu"}
GAN = {"tile_size": 32, "gen_width": 4, "gen_res_blocks": 1, "disc_width": 4, "gan_loss": "lsgan", "lr": 2e-3,
    "epochs": 2, "decay_epochs": 1, "batch_size": 2, "steps_per_epoch": 3, "train_crops": 8, "device": "cpu",
    "nucleus_diameter_px": 8.0, "tile_overlap": 8}


def write_slides(folder: Path, n: int, seed: int, stain: str = "he") -> list:
    """``n`` SIMULATED slides as ``folder/images/sNNN.png`` with ``folder/labels.csv`` (bag corners)."""
    return write_simulated_mil_folder(folder, n, seed, stain)


@pytest.fixture(scope="module")
def mil_runs(tmp_path_factory) -> dict:
    """MIL classifiers trained through ``train`` on SIMULATED H&E and IHC slides (shared by the tests)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("mil")
    out = {}
    for stain, seed in (("he", 0), ("ihc", 1)):
        write_slides(root / f"data_{stain}", 10, seed, stain)
        # the pale simulated IHC has no tissue for Otsu beyond its nuclei: every bag and instance is kept there
        extra = {"bag_min_tissue": 0.0, "instance_min_tissue": 0.0} if stain == "ihc" else {}
        method = VirtualIHCMethod(VirtualIHCConfig(**MIL, **extra, model="mil"))
        out[stain] = method.train(root / f"data_{stain}", root / f"run_{stain}")
    out["root"] = root
    return out


def test_mil_train_writes_a_model_folder_checkpoints_and_progress(mil_runs) -> None:
    run = mil_runs["he"]
    folder = run.output_dir / "model"
    assert (run.output_dir / "checkpoints" / "best.pt").is_file() and (run.output_dir / "metrics.jsonl").is_file()
    result = json.loads((run.output_dir / "result.json").read_text())
    assert result["metrics"]["model"] == "mil" and result["metrics"]["n_val_bags"] >= 2
    assert len(result["metrics"]["history"]) == MIL["mil_epochs"]
    classifier, size, info = load_mil_classifier(folder)
    assert not classifier.training and info.class_names == ["normal", "tumour"] and info.architecture["mil_width"] == 8 and size == 32
    assert info.extra["kind"] == "mil_classifier" and "validation_bag_auc" in info.metrics


def test_mil_separates_held_out_simulated_bags_and_finds_their_tumour_tiles(mil_runs, tmp_path) -> None:
    from biomedai.methods.virtual_ihc.mil import bag_probabilities
    from biomedai.methods.virtual_ihc.mil_data import labelled_bags

    slides = write_slides(tmp_path / "test", 6, seed=99)
    bags = labelled_bags(tmp_path / "test", VirtualIHCConfig(**MIL))
    classifier, size, _ = load_mil_classifier(mil_runs["he"].output_dir / "model")
    probs = bag_probabilities(classifier, [b.instances for b in bags], size)
    assert roc_auc([b.label for b in bags], [p.max() for p in probs]) > 0.8  # SIMULATED held-out bags; chance 0.5
    slide_of = {f"s{i:03d}.png": s for i, s in enumerate(slides)}
    truth = np.concatenate([[slide_of[b.image].tile_tumour[y // 64, x // 64] for x, y in b.corners] for b in bags])
    assert roc_auc(truth.astype(int), np.concatenate(probs)) > 0.7  # instance level: never seen in training


def test_predict_draws_the_mil_heat_map_from_a_trained_mil_folder(mil_runs, tmp_path) -> None:
    """The MIL folder from ``train`` is what ``predict --set mil_model=FOLDER`` reads (bundled generator)."""
    slide = simulate_mil_slide(np.random.default_rng(3))
    save_png(slide.he, tmp_path / "he.png")
    cfg = VirtualIHCConfig(mil_model=str(mil_runs["he"].output_dir / "model"), device="cpu")
    out = VirtualIHCMethod(cfg).predict([tmp_path / "he.png"], tmp_path / "p")
    assert (tmp_path / "p" / "he_tumour_probability.png").is_file() and (tmp_path / "p" / "he_tiles.csv").is_file()
    assert out.metrics["images"][0]["tumour_tiles"] is not None


def test_conditional_cyclegan_trains_on_mil_conditions_and_predict_uses_its_classifier(mil_runs, tmp_path) -> None:
    rng = np.random.default_rng(5)
    for stain in ("he", "ihc"):
        for i in range(2):
            save_png(getattr(simulate_mil_slide(rng), stain), tmp_path / "data" / stain / f"{i}.png")
    cfg = VirtualIHCConfig(**GAN, model="conditional_cyclegan", condition="plane",
                           mil_he=str(mil_runs["he"].output_dir / "model"),
                           mil_ihc=str(mil_runs["ihc"].output_dir / "model"))
    run = VirtualIHCMethod(cfg).train(tmp_path / "data", tmp_path / "run")
    model, info = load_virtual_ihc(tmp_path / "run" / "model", VirtualIHCConfig(tile_overlap=8))
    assert model.classifier is not None and model.config.condition == "plane" and model.config.mil_width == 8
    assert info.extra["mode"].startswith("conditional") and 0.0 <= info.extra["condition_share_tumour"] <= 1.0
    assert run.metrics["steps"] == GAN["epochs"] * GAN["steps_per_epoch"]
    pred = VirtualIHCMethod(VirtualIHCConfig(tile_overlap=8, device="cpu")).predict(
        [tmp_path / "data" / "he" / "0.png"], tmp_path / "pred", weights=tmp_path / "run" / "model")
    assert (tmp_path / "pred" / "0_tumour_probability.png").is_file()
    assert pred.metrics["images"][0]["tumour_tiles"] is not None


def test_conditional_cyclegan_needs_its_classifiers(tmp_path) -> None:
    rng = np.random.default_rng(1)
    for stain in ("he", "ihc"):
        save_png(getattr(simulate_mil_slide(rng), stain), tmp_path / stain / "0.png")
    with pytest.raises(ConfigError, match="mil_he"):
        VirtualIHCMethod(VirtualIHCConfig(**GAN, model="conditional_cyclegan")).train(tmp_path, tmp_path / "o")


def test_plain_cyclegan_train_with_a_budget_and_checkpoints(tmp_path) -> None:
    rng = np.random.default_rng(2)
    for stain in ("he", "ihc"):
        save_png(getattr(simulate_mil_slide(rng), stain), tmp_path / "data" / stain / "0.png")
    cfg = VirtualIHCConfig(**{**GAN, "epochs": 50, "decay_epochs": 10}, model="cyclegan", train_seconds=0.5)
    run = VirtualIHCMethod(cfg).train(tmp_path / "data", tmp_path / "run")
    assert run.metrics["steps"] < 50 * GAN["steps_per_epoch"]  # the wall budget stopped it
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()
    model, info = load_virtual_ihc(tmp_path / "run" / "model", VirtualIHCConfig(tile_overlap=8))
    assert model.classifier is None and model.config.condition == "none" and info.extra["mode"].startswith("plain")


def test_mil_train_refuses_a_folder_without_labels(tmp_path) -> None:
    save_png(simulate_mil_slide(np.random.default_rng(0)).he, tmp_path / "images" / "a.png")
    with pytest.raises(InvalidInputError, match="tumour and normal bags"):
        VirtualIHCMethod(VirtualIHCConfig(**MIL, model="mil")).train(tmp_path, tmp_path / "o")
    with pytest.raises(InvalidInputError, match="train/"):
        VirtualIHCMethod(VirtualIHCConfig(model="positivity")).train(tmp_path, tmp_path / "o")


@pytest.mark.parametrize("kind", ["positivity", "pix2pix"])
def test_paired_kinds_train_on_the_deepliif_panels(shared_data, tmp_path, kind: str) -> None:
    root = shared_subdir(shared_data, "ki67", "deepliif_sample")
    cfg = VirtualIHCConfig(model=kind, tile_size=128, gen_width=4, gen_res_blocks=1, disc_width=4, gan_loss="lsgan",
                           lr=2e-4, epochs=1, decay_epochs=0, batch_size=2, steps_per_epoch=2, device="cpu",
                           input_view="hematoxylin", nucleus_diameter_px=20.0)
    run = VirtualIHCMethod(cfg).train(root, tmp_path / "run")
    model, info = load_virtual_ihc(tmp_path / "run" / "model")
    assert model.config.positivity_head == (kind == "positivity") and model.config.mode == "pix2pix"
    assert info.non_commercial and "validation_kappa" in info.metrics
    assert run.metrics["fit"]["steps"] == 2 and 0.0 < run.metrics["threshold"] < 1.0


def test_mil_bags_take_their_labels_from_geojson_regions(tmp_path) -> None:
    """``regions/<stem>.geojson``: a bag touching a tumour polygon is tumour, one inside only normal regions normal."""
    from biomedai.methods.virtual_ihc.mil_data import labelled_bags, split_bags

    slide = simulate_mil_slide(np.random.default_rng(4))
    save_png(slide.he, tmp_path / "images" / "a.png")
    square = lambda x0, y0, x1, y1: [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]
    features = [{"type": "Feature", "properties": {"classification": {"name": name}},
                 "geometry": {"type": "Polygon", "coordinates": square(*box)}}
                for name, box in (("Tumor", (10, 10, 40, 40)), ("normal", (130, 0, 255, 255)),
                                  ("normal", (0, 130, 120, 255)))]
    (tmp_path / "regions").mkdir()
    (tmp_path / "regions" / "a.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    bags = labelled_bags(tmp_path, VirtualIHCConfig(**MIL))
    labels = {(b.x, b.y): b.label for b in bags}
    assert labels == {(0, 0): 1, (128, 0): 0, (0, 128): 0, (128, 128): 0}
    assert all(b.instances.shape == (4, 64, 64, 3) for b in bags)
    train, val = split_bags([b.label for b in bags])
    assert sorted(train + val) == [0, 1, 2, 3] and val


def test_train_resumes_from_its_last_checkpoint(tmp_path, monkeypatch) -> None:
    """``biomedai train --resume`` (the engine's BIOMEDAI_RESUME): a second run continues after the epochs done."""
    rng = np.random.default_rng(6)
    for stain in ("he", "ihc"):
        save_png(getattr(simulate_mil_slide(rng), stain), tmp_path / "data" / stain / "0.png")
    first = VirtualIHCMethod(VirtualIHCConfig(**{**GAN, "epochs": 2}, model="cyclegan"))
    before = first.train(tmp_path / "data", tmp_path / "run").metrics["history"]
    monkeypatch.setenv("BIOMEDAI_RESUME", "1")
    again = VirtualIHCMethod(VirtualIHCConfig(**{**GAN, "epochs": 3}, model="cyclegan"))
    run = again.train(tmp_path / "data", tmp_path / "run")
    assert run.metrics["steps"] == 3 * GAN["steps_per_epoch"] and len(run.metrics["history"]) == 3
    assert [h["epoch"] for h in run.metrics["history"]] == [0, 1, 2]
    assert run.metrics["history"][:2] == before  # read back from the checkpoint (timings included), not re-run
