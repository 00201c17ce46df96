"""Truth boxes survive the cohort path (resampling, coordinates, hit rule) and checkpoints are chosen by detecting
the validation views, not by the patch loss (the first full benchmark run found no lesion with any system)."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from biomedai.methods.dbt_maskrcnn.cohort import write_cohort  # noqa: E402
from biomedai.methods.dbt_maskrcnn.config import LIGHT_MODEL, DbtMaskRcnnConfig, DbtSimConfig  # noqa: E402
from biomedai.methods.dbt_maskrcnn.data import ViewRecord, load_cohort  # noqa: E402
from biomedai.methods.dbt_maskrcnn.evaluate import table2, table4, to_view_detections, validation_froc  # noqa: E402
from biomedai.methods.dbt_maskrcnn.inference import VolumeDetections  # noqa: E402
from biomedai.methods.dbt_maskrcnn.training import train_mask_rcnn  # noqa: E402


def _as_detection(box: np.ndarray, mask: np.ndarray | None = None, score: float = 0.9) -> VolumeDetections:
    lo, hi = np.floor(box[:3]).astype(int), np.ceil(box[3:]).astype(int)
    crop = mask[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] if mask is not None else np.ones(hi - lo, bool)
    return VolumeDetections(np.asarray(box, np.float32)[None], np.array([score], np.float32), [crop])


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cohort")
    write_cohort(folder, DbtSimConfig(n_train_breasts=2, n_test_breasts=2, shape=(16, 48, 48), sart_iterations=1,
                                      diameter_mm=(10.0, 14.0), seed=4))
    return folder


def test_truth_boxes_are_hits_after_resampling_to_the_model_grid(cohort):
    records = load_cohort(cohort, (1.0, 1.2, 1.2), ("train", "test"))  # in-plane 0.6 -> 1.2 mm
    assert all(r.volume.shape == (16, 24, 24) for r in records)
    for r in records:  # the box is the resampled mask's box, in model-grid voxels
        idx = np.argwhere(r.mask)
        assert r.box.tolist() == np.concatenate([idx.min(0), idx.max(0) + 1]).tolist()
    truth = {r.view_id: _as_detection(r.box, r.mask) for r in records}
    t2 = table2({"truth": to_view_detections(records, truth)})
    assert all(row["truth L"] == 0.0 and row["truth B"] == 0.0 for row in t2)  # every sensitivity at 0 FPs
    seg = table4(records, {"truth": truth})[0]
    assert seg["truth AP"] == pytest.approx(1.0) and seg["truth Dice"] == pytest.approx(1.0)
    assert seg["truth FNR"] == pytest.approx(0.0)
    # the same boxes moved by their own width hit nothing: every sensitivity is out of reach
    shifted = {r.view_id: _as_detection(r.box + np.tile([0.0, 0.0, r.box[5] - r.box[2]], 2)) for r in records}
    t2 = table2({"moved": to_view_detections(records, shifted)})
    assert all(np.isnan(row["moved L"]) for row in t2)


def _record(view_id: str, box: list[float]) -> ViewRecord:
    mask = np.zeros((8, 20, 20), bool)
    b = np.asarray(box, int)
    mask[b[0]:b[3], b[1]:b[4], b[2]:b[5]] = True
    return ViewRecord(view_id, view_id[:2], "CC", "train", np.zeros(mask.shape, np.float32), mask,
                      np.asarray(box, np.float32), (1.0, 1.2, 1.2), {})


def test_validation_froc_ranks_whole_view_detections():
    records = [_record("b1_CC", [1, 2, 2, 6, 9, 9]), _record("b2_CC", [2, 8, 8, 7, 14, 14])]
    perfect = validation_froc(records, lambda r: _as_detection(r.box))
    assert perfect == {"val_aufc": pytest.approx(1.0), "val_sens_at_1fp": pytest.approx(1.0)}
    none = validation_froc(records, lambda r: VolumeDetections.empty())
    assert none["val_aufc"] == 0.0 and none["val_sens_at_1fp"] == 0.0
    half = validation_froc(records, lambda r: _as_detection(r.box) if r.view_id == "b1_CC"
                           else _as_detection(r.box + np.array([0, 4, 4, 0, 4, 4], np.float32)))  # IoU < 0.5
    assert half["val_sens_at_1fp"] == pytest.approx(0.5) and 0.4 < half["val_aufc"] < 0.6


def test_the_checkpoint_is_chosen_by_validation_detection(tmp_path):
    cfg = DbtMaskRcnnConfig.from_dict(dict(LIGHT_MODEL, widths=(4, 8, 8, 8, 8), fpn_channels=8, mask_channels=8,
                                           box_hidden=16, groups=2, train_patch=(8, 16, 16), patch=(8, 20, 20),
                                           margin=(0, 2, 2), epochs=2, batch_size=1))
    rng = np.random.default_rng(0)
    records = []
    for k in range(3):
        r = _record(f"b{k}_CC", [2, 5 + k, 5, 6, 11 + k, 11])
        r.volume = (rng.normal(0, 0.3, r.mask.shape) + 2.0 * r.mask).astype(np.float32)
        records.append(r)
    model, result = train_mask_rcnn(records[:2], records[2:], cfg, tmp_path, None, steps_per_epoch=2, val_patches=1)
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    epochs = [x for x in lines if x.get("kind") == "epoch"]
    assert len(epochs) == 2 and all({"val_aufc", "val_sens_at_1fp", "val_loss"} <= set(x) for x in epochs)
    best = max(epochs, key=lambda x: (x["val_aufc"], -x["epoch"]))
    assert result.best_epoch == best["epoch"] and result.best_metric == pytest.approx(best["val_aufc"])


def test_the_light_budget_not_an_epoch_cap_ends_training():
    # 80 steps of 2 patches take about 10 s on one loaded core: 300 epochs outlast any benchmark budget (<= 14 min)
    cfg = DbtMaskRcnnConfig.from_dict({"variant": "light"}).effective()
    assert cfg.epochs >= 300 and cfg.lr_halving_epochs == 50


def test_a_saved_model_detects_with_the_proposal_counts_it_was_validated_with(tmp_path):
    from biomedai.methods.dbt_maskrcnn.model import MaskRCNN3d
    from biomedai.methods.dbt_maskrcnn.training import load_trained_model, save_trained_model

    cfg = DbtMaskRcnnConfig.from_dict(dict(LIGHT_MODEL, widths=(4, 8, 8, 8, 8), fpn_channels=8, mask_channels=8,
                                           box_hidden=16, groups=2, rpn_post_nms_test=77))
    folder = save_trained_model(tmp_path / "m", MaskRCNN3d(cfg), cfg, {"name": "SIMULATED", "split": "none",
                                                                        "licence": "none"}, {}, "none", True)
    model, loaded, _ = load_trained_model(folder, DbtMaskRcnnConfig())  # the caller names the paper variant
    assert loaded.rpn_post_nms_test == 77 and loaded.rpn_pre_nms == LIGHT_MODEL["rpn_pre_nms"]
    assert model.cfg.rpn_post_nms_test == 77
