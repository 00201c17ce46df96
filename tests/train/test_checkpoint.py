"""Atomic checkpoints, exact resume, checksum-verified weights."""
from __future__ import annotations

import json

import pytest
import torch
from torch.utils.data import DataLoader

from biomedai.errors import WeightsError
from biomedai.train import (Trainer, load_checkpoint, load_weights, read_jsonl, save_checkpoint, save_weights,
                            state_dict_sha256)

from .helpers import CrashAfterEpoch, assert_same_weights, regression_data, small_mlp

TRAIN, VAL = regression_data(n=80, seed=0), regression_data(n=24, seed=1)


def make_trainer(output_dir, data_mode: str, epochs: int, model_seed: int = 0, callbacks=()) -> Trainer:
    """A run exercising every piece of state: dropout, shuffling, Adam moments, LR schedule, accumulation."""
    if data_mode == "dataset":  # the Trainer builds the loader and owns its generator
        train = TRAIN
    elif data_mode == "loader_global_rng":  # user loader shuffling from the global torch RNG
        train = DataLoader(TRAIN, batch_size=8, shuffle=True)
    else:  # user loader with its own generator
        train = DataLoader(TRAIN, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(5))
    return Trainer(small_mlp(seed=model_seed), train, VAL, loss_fn=torch.nn.functional.mse_loss,
                   optimizer=lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.01),
                   scheduler=lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
                   output_dir=output_dir, epochs=epochs, batch_size=8, grad_accum_steps=3, grad_clip_norm=1.0,
                   log_every_n_steps=2, seed=11, callbacks=callbacks, progress=False)


@pytest.mark.parametrize("data_mode", ["dataset", "loader_global_rng", "loader_own_generator"])
def test_resume_after_crash_reaches_identical_weights(tmp_path, data_mode):
    straight = make_trainer(tmp_path / "straight", data_mode, epochs=4)
    straight_result = straight.fit()

    crashing = make_trainer(tmp_path / "resumed", data_mode, epochs=4, callbacks=[CrashAfterEpoch(2)])
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashing.fit()
    assert load_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.pt")["epoch"] == 2
    # a half-written epoch-3 line, as a crash mid-epoch would leave; resume must drop it
    with open(tmp_path / "resumed" / "metrics.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"kind": "step", "epoch": 3, "step": 99, "train_loss": 1.0}) + "\n")

    # a different initial model proves the weights come from the checkpoint, not from the seed
    resumed = make_trainer(tmp_path / "resumed", data_mode, epochs=4, model_seed=123)
    resumed_result = resumed.fit(resume=True)

    assert_same_weights(straight.model.state_dict(), resumed.model.state_dict())
    assert resumed.global_step == straight.global_step
    assert resumed.optimizer.param_groups[0]["lr"] == straight.optimizer.param_groups[0]["lr"]
    strip = [{k: v for k, v in r.items() if k != "time"} for r in straight_result.history]
    assert [{k: v for k, v in r.items() if k != "time"} for r in resumed_result.history] == strip
    logs = [[{k: v for k, v in r.items() if k != "time"} for r in read_jsonl(d / "metrics.jsonl")]
            for d in (tmp_path / "straight", tmp_path / "resumed")]
    assert logs[0] == logs[1]
    assert resumed_result.weights_sha256 == straight_result.weights_sha256


def test_resume_can_extend_a_finished_run(tmp_path):
    straight = make_trainer(tmp_path / "a", "dataset", epochs=4)
    straight.fit()
    make_trainer(tmp_path / "b", "dataset", epochs=2).fit()
    extended = make_trainer(tmp_path / "b", "dataset", epochs=4)
    assert extended.fit(resume=True).epochs_completed == 4
    assert_same_weights(straight.model.state_dict(), extended.model.state_dict())


def test_resume_without_checkpoint_starts_fresh(tmp_path):
    result = make_trainer(tmp_path, "dataset", epochs=1).fit(resume=True)
    assert result.epochs_completed == 1


def test_checkpoint_contents(tmp_path):
    trainer = make_trainer(tmp_path, "dataset", epochs=2)
    trainer.fit()
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    for key in ("model", "optimizer", "scheduler", "epoch", "global_step", "best_metric", "best_epoch", "rng",
                "config", "history"):
        assert key in state, key
    assert state["epoch"] == 2 and state["global_step"] == trainer.global_step == 2 * 4  # ceil(10 / 3) = 4
    assert state["config"]["trainer"]["seed"] == 11
    assert state["scheduler"]["last_epoch"] == 2


def test_crash_during_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    trainer = make_trainer(tmp_path, "dataset", epochs=1)
    trainer.fit()
    last = tmp_path / "checkpoints" / "last.pt"
    before = last.read_bytes()

    def failing_save(obj, handle, *args, **kwargs):
        handle.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        make_trainer(tmp_path, "dataset", epochs=3).fit(resume=True)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(last, {"model": {}})
    monkeypatch.undo()

    assert last.read_bytes() == before
    assert load_checkpoint(last)["epoch"] == 1
    assert sorted(p.name for p in last.parent.iterdir()) == ["best.pt", "last.pt"]  # no temp files left


def test_save_and_load_weights_round_trip(tmp_path):
    model = small_mlp(seed=3)
    digest = save_weights(model, tmp_path / "w.pt")
    assert (tmp_path / "w.pt.sha256").read_text().split() == [digest, "w.pt"]
    other = small_mlp(seed=4)
    state = load_weights(other, tmp_path / "w.pt", expected_sha256=digest)
    assert_same_weights(other.state_dict(), model.state_dict())
    assert state_dict_sha256(state) == state_dict_sha256(model)
    assert state_dict_sha256(small_mlp(seed=4)) != state_dict_sha256(model)


def test_load_weights_rejects_changed_file(tmp_path):
    path = tmp_path / "w.pt"
    save_weights(small_mlp(), path)
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match=r"w\.pt: SHA-256 mismatch: sidecar"):
        load_weights(small_mlp(), path)


def test_load_weights_rejects_wrong_expected_digest(tmp_path):
    path = tmp_path / "w.pt"
    save_weights(small_mlp(), path)
    with pytest.raises(WeightsError, match="SHA-256 mismatch: expected 0000"):
        load_weights(None, path, expected_sha256="0" * 64)


def test_load_weights_errors_name_the_problem(tmp_path):
    with pytest.raises(WeightsError, match="missing.pt: weights file not found"):
        load_weights(None, tmp_path / "missing.pt")
    with pytest.raises(WeightsError, match="only local"):
        load_weights(None, "https://example.org/w.pt")

    path = tmp_path / "w.pt"
    save_weights(small_mlp(), path)
    wider = torch.nn.Sequential(torch.nn.Linear(3, 32), torch.nn.Tanh(), torch.nn.Dropout(0.2), torch.nn.Linear(32, 1))
    with pytest.raises(WeightsError, match=r"key '0.weight' has shape \(16, 3\) in the weights but \(32, 3\)"):
        load_weights(wider, path)
    deeper = torch.nn.Sequential(*small_mlp(), torch.nn.Linear(1, 1))
    with pytest.raises(WeightsError, match="key '4.weight' the model needs is missing"):
        load_weights(deeper, path)
    with pytest.raises(WeightsError, match="key '3.weight' in the weights does not exist"):
        load_weights(torch.nn.Sequential(torch.nn.Linear(3, 16)), path)

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match="garbage.pt: not a readable PyTorch file"):
        load_weights(None, garbage, expected_sha256=None)


def test_load_weights_accepts_checkpoints_and_ddp_prefixes(tmp_path):
    model = small_mlp(seed=2)
    save_checkpoint(tmp_path / "ckpt.pt", {"model": model.state_dict()})
    target = small_mlp(seed=9)
    load_weights(target, tmp_path / "ckpt.pt")
    assert_same_weights(target.state_dict(), model.state_dict())

    save_weights({f"module.{k}": v for k, v in model.state_dict().items()}, tmp_path / "ddp.pt")
    target = small_mlp(seed=9)
    load_weights(target, tmp_path / "ddp.pt")
    assert_same_weights(target.state_dict(), model.state_dict())
