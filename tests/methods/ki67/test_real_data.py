"""Real Ki-67 IHC (DeepLIIF sample): the quantifier against the masks; the classifier on real cells (slow)."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.methods.ki67.config import Ki67Config
from tests.conftest import shared_subdir


@pytest.fixture(scope="module")
def deepliif(shared_data):
    return shared_subdir(shared_data, "ki67", "deepliif_sample")


def test_panels_and_masks_load(deepliif):
    from biomedai.methods.ki67.deepliif import load_deepliif, seg_to_instances

    tiles = {t.name: t for t in load_deepliif(deepliif)}
    assert {"Lung1", "Bladder1", "22_2", "34_3", "6_2", "799_2"} <= set(tiles)
    labels, classes = seg_to_instances(tiles["Lung1"].seg)
    # DeepLIIF's own post-processing of the same mask (val/metrics.json) counts 11 positive of 60
    assert int(classes[1:].sum()) == 11 and abs(int(labels.max()) - 60) <= 2


def test_ihc_quantifier_against_ground_truth(deepliif):
    from biomedai.methods.ki67.evaluation import evaluate_ihc_quantifier

    result = evaluate_ihc_quantifier(deepliif, Ki67Config())
    rows = {r["tile"]: r for r in result["rows"]}
    summary = result["summary"]
    # a quantifier that finds no cells, or calls every cell the same, fails these
    assert summary["mean_cell_f1_test"] > 0.55
    assert summary["mean_f1_positive_test"] > 0.45 and summary["mean_f1_negative_test"] > 0.45
    assert summary["mean_abs_LI_error_pct_test"] < 15
    assert summary["pearson_Rpos_all_tiles"] > 0.6
    assert abs(rows["Lung1"]["pred_pos"] - rows["Lung1"]["metrics_json_pos"]) <= 3


def test_evaluate_writes_per_tile_table(deepliif, tmp_path):
    from biomedai.methods.registry import get_method

    result = get_method("ki67")().evaluate(deepliif, tmp_path)
    assert (tmp_path / "ihc_per_tile.csv").is_file() and (tmp_path / "result.json").is_file()
    assert result.metrics["ihc_quantifier"]["test_tiles"] == 4


def test_label_check_and_what_the_haematoxylin_views_carry(deepliif):
    """The masks' positives are DAB-positive; the test tiles' inferred haematoxylin carries DAB, the training panel little."""
    from biomedai.methods.ki67.evaluation import label_dab_check, nuclear_darkness_auc, nuclear_intensity_baseline

    labels = {r["tile"]: r for r in label_dab_check(deepliif)}
    assert labels["Lung1"]["positive_above"] >= 8 and labels["Lung1"]["negative_above"] <= 3
    assert sum(r["positive_above"] for r in labels.values() if r["split"] == "test") >= 50
    auc = {(r["tile"], r["view"]): r["auc_darkest_pixel"] for r in nuclear_darkness_auc(deepliif)}
    assert auc[("Lung1", "hematoxylin_panel")] < 0.8 and auc[("34_3", "deepliif_hematoxylin")] > 0.9
    baseline = nuclear_intensity_baseline(deepliif)["deepliif_hematoxylin"]
    assert baseline["cells"] > 300 and baseline["balanced_accuracy"] > 0.75


@pytest.mark.slow
def test_classifier_trained_on_deepliif_cells_beats_majority_rate_and_calls_positives(deepliif, tmp_path):
    """Default recipe (padding-free ResNet18, class-weighted loss, dihedral flips/rotations), 20 epochs on CPU.

    Must beat always answering 'negative' (majority rate 0.60) by 0.08, reach a 3-class balanced accuracy
    far above chance (1/3), recognise background, and call some positive cells (the old natural-frequency
    recipe called none). The floors are low on purpose: over seeds 0-2 (1 thread) and seed 0 with 2
    threads, accuracy was 0.73-0.79, balanced accuracy 0.58-0.72 and positive recall 0.06-0.41; the
    positive call is not robust on 26 positive training cells (RESULTS-ki67.md section 2).
    """
    import torch

    from biomedai.methods.ki67.evaluation import morphology_experiment

    torch.set_num_threads(2)
    config = Ki67Config(epochs=20, lr_step_epochs=10, device="cpu")
    assert config.architecture == "resnet18_valid" and config.class_balance == "weighted_loss"
    out = morphology_experiment(deepliif, config, tmp_path, test_views=("deepliif_hematoxylin",))
    view = out["views"]["deepliif_hematoxylin"]
    assert view["accuracy"] > view["majority_rate"] + 0.08
    assert view["balanced_accuracy"] > 0.55
    assert view["recall"]["positive"] >= 0.05
    assert view["recall"]["background"] > 0.85
    assert np.isfinite(view["accuracy"]) and (tmp_path / "weights.pt").is_file()


def test_gallery_real_sample_is_a_held_out_tile_scored_against_its_mask(shared_data, tmp_path):
    """The demo's real-data hook: a DeepLIIF test tile, marked non-commercial, scored against its mask."""
    from biomedai.methods.registry import get_method

    method = get_method("ki67")()
    samples = method.real_samples(shared_data)
    assert len(samples) == 1 and samples[0].non_commercial and "test_cli" in str(samples[0].inputs[0])
    scores = method.score_real_sample(samples[0], method.predict(list(samples[0].inputs), tmp_path))
    # the quantifier must find most of the cells and come near the true labelling index
    assert scores["n_cells"] > 0.5 * scores["n_cells_truth"] and scores["abs_LI_error_pct"] < 10
