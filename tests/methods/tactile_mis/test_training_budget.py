"""The training time budget (``train_seconds``) goes through the engine: training stops after the epoch that
spends it, and the run says so."""
from __future__ import annotations

from biomedai.methods.tactile_mis.config import TactileConfig
from biomedai.methods.tactile_mis.training import simulate_part, train_task
from biomedai.train import read_jsonl


def test_time_budget_stops_after_the_epoch_that_spends_it(tmp_path):
    cfg = TactileConfig(n_train=64, n_val=16, epochs=30, batch_size=16, train_seconds=1e-6)
    train, val = simulate_part("inverse_features", "train", cfg), simulate_part("inverse_features", "val", cfg)
    _, _, preprocessing = train_task("inverse_features", train, val, cfg, tmp_path)
    # a whole first epoch (4 batches), then the budget stops the run
    assert preprocessing["training"]["time_budget_hit"] is True
    assert preprocessing["training"]["epochs_completed"] == 1
    epochs = [r for r in read_jsonl(tmp_path / "metrics.jsonl") if r.get("kind") == "epoch"]
    assert [r["step"] for r in epochs] == [4]
    _, _, unlimited = train_task("inverse_features", train, val, cfg.replace(train_seconds=None, epochs=2),
                                 tmp_path / "unlimited")
    assert unlimited["training"]["time_budget_hit"] is False and unlimited["training"]["epochs_completed"] == 2
