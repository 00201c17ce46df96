"""Slow: train a small COS-Net for a few minutes on subtomograms simulated from the real structures."""
from __future__ import annotations

import math

import pytest
import torch

from biomedai.data import cryoet_sim as sim
from biomedai.methods.cryoet_cosnet.config import TEST_CLASSES, TRAIN_CLASSES, CosNetConfig
from biomedai.methods.cryoet_cosnet.core import evaluate_model, train_cosnet
from tests.conftest import shared_subdir


@pytest.mark.slow
def test_small_cosnet_beats_chance_on_unseen_classes(shared_data):
    torch.set_num_threads(2)
    root = shared_subdir(shared_data, "cryoet", "templates_10A")
    templates = sim.load_structures([root / f"{name}.mrc" for name in TRAIN_CLASSES + TEST_CLASSES])
    data = sim.simulate_subtomograms(templates, 30, snr=math.inf, seed=3)
    cfg = CosNetConfig(width=8, embedding_dim=128, train_ways=4, episodes_per_step=1, steps=60, steps_per_epoch=10,
                       train_seconds=None, lr=1e-3, device="cpu", eval_episodes=300, eval_ways=(2, 4),
                       support_pool=5, dice_targets_per_class=5, crf_iterations=3)
    model, info = train_cosnet(cfg, data.subset(list(TRAIN_CLASSES)))
    result = evaluate_model(model, data.subset(list(TEST_CLASSES)), cfg)
    acc2 = result["accuracy"]["2way"]
    assert acc2["ci_low"] > 0.65, (acc2, info["steps"])          # chance is 0.5
    assert result["accuracy"]["4way"]["mean"] > 0.4               # chance is 0.25
    # the episodic loss (BCE + two Dice terms) falls during training
    assert info["final"]["train_loss"] < info["first"]["train_loss"], (info["first"], info["final"])


@pytest.mark.slow
def test_demo_runs_and_learns(tmp_path):
    import time

    from biomedai.methods.cryoet_cosnet import CosNetMethod

    start = time.perf_counter()
    res = CosNetMethod().demo(tmp_path)
    elapsed = time.perf_counter() - start
    # briefly trained on CPU: above chance (0.5) on unseen synthetic classes, with its 95% CI
    assert res.metrics["accuracy_2way_ci95"][0] > 0.5, res.metrics
    assert (tmp_path / "unseen_classes_segmentation.png").is_file()
    assert elapsed < 300, elapsed  # about 90 s on an idle 2-core machine; generous for loaded CI runners
