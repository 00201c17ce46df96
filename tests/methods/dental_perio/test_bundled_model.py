"""The bundled teeth model (FDI U-Net): it loads with its checksum, ``predict`` without ``--weights`` uses it and
says so (non-commercial training data), and it numbers the teeth of a real held-out film well enough that a
broken, random or mirrored model could not pass."""
from __future__ import annotations

import json

import numpy as np
import pytest

from biomedai.cli import main
from biomedai.train.model_folder import default_model_folder, read_model_info
from tests.conftest import shared_subdir

FOLDER = default_model_folder("dental_perio")
pytestmark = pytest.mark.skipif(FOLDER is None, reason="dental_perio ships no default model")


def test_the_method_ships_a_complete_default_model() -> None:
    info = read_model_info(FOLDER)
    assert info.architecture["kind"] == "fdi_unet" and info.non_commercial and not info.simulated
    assert len(info.training_data["split"]["validation"]) == 30
    card = (FOLDER / "MODEL.md").read_text(encoding="utf-8")
    for needed in ("Training data", "Split", "Recipe", "CPU", "Test metrics", "Known failure modes",
                   "research use only"):
        assert needed.lower() in card.lower(), needed
    assert (FOLDER / "weights.pt").stat().st_size < 10 * 2 ** 20


def test_predict_without_weights_numbers_a_real_test_film(shared_data, tmp_path) -> None:
    from biomedai.methods.dental_perio.data import UFBADataset, split_ids
    from biomedai.methods.dental_perio.numbering import numbering_accuracy

    root = shared_subdir(shared_data, "teeth", "ufba_subset")
    dataset = UFBADataset(root)
    name = split_ids(dataset, "test")[10]
    _, truth = dataset.load(name)
    film = dataset.image_path(name)
    assert main(["predict", "dental_perio", str(film), "-o", str(tmp_path / "out")]) == 0
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert "non-commercial" in result["notes"]["model"] and "'default'" in result["notes"]["model"]
    coco = json.loads((tmp_path / "out" / "instances.coco.json").read_text())
    predicted = {a["category_id"] for a in coco["annotations"] if a["category_id"]}
    # the right FDI numbers, not just the right count: a mirrored model swaps 1x/2x and 3x/4x
    assert len(predicted & set(truth.fdi.tolist())) >= 0.7 * len(truth), (sorted(predicted), truth.fdi)
    from biomedai.methods.dental_perio.config import DentalPerioConfig
    from biomedai.methods.dental_perio.data import read_panoramic
    from biomedai.methods.dental_perio.inference import TeethModels, infer_radiograph_unet

    models = TeethModels(FOLDER, DentalPerioConfig())
    image, _ = read_panoramic(film)
    teeth = infer_radiograph_unet(models.unet, models.info, image, models.config)["numbered"]
    correct, matched = numbering_accuracy(truth, teeth)
    # teeth found (IoU >= 0.5) and numbered right; a random or untrained network finds none
    assert matched >= 0.6 * len(truth) and correct >= 0.8 * matched, (correct, matched, len(truth))
    assert np.all(teeth.scores <= 1.0)


def test_evaluate_without_weights_uses_the_bundled_model(tmp_path) -> None:
    """Plumbing only (simulated films, not a quality check): evaluate's table names the U-Net."""
    from biomedai.methods import get_method

    from .test_pipeline import write_films

    data = write_films(tmp_path / "films", 2)
    ev = get_method("dental_perio")().evaluate(data, tmp_path / "eval")
    assert set(ev.metrics["ours"]) == {"FDI U-Net (not the paper's method)"}
    assert ev.metrics["model"]["kind"] == "fdi_unet" and (tmp_path / "eval" / "table1.csv").is_file()
