"""The Trainer: learning, hooks, gradient accumulation/clipping, best checkpoint, early stopping, the log."""
from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from biomedai.errors import ConfigError
from biomedai.train import (NonFiniteLossError, Trainer, TrainerConfig, load_checkpoint, load_weights,
                            move_to_device, read_jsonl, train_model)

from .helpers import (TRUE_BIAS, TRUE_WEIGHTS, DictDataset, ScriptedMetric, WeightSnapshots, assert_same_weights,
                      regression_data, small_mlp)


def test_linear_regression_recovers_known_coefficients(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    result = train_model(model, regression_data(seed=0), regression_data(n=32, seed=1),
                         loss_fn=torch.nn.functional.mse_loss, output_dir=tmp_path, epochs=30, lr=0.05,
                         batch_size=16, progress=False)
    losses = [r["val_loss"] for r in result.history]
    assert losses[-1] < 0.01 * losses[0]
    assert torch.allclose(model.weight.detach().cpu(), TRUE_WEIGHTS.T, atol=0.05)
    assert abs(model.bias.item() - TRUE_BIAS) < 0.05
    assert result.epochs_completed == 30 and result.monitor == "val_loss" and result.mode == "min"
    assert result.best_metric == pytest.approx(min(losses))
    assert result.weights is not None and result.weights_sha256 is not None
    load_weights(torch.nn.Linear(3, 1), result.weights)  # checksum-verified export of the best model


def test_classification_with_dict_batches_and_custom_validate(tmp_path):
    def accuracy(model, loader):
        correct = total = 0
        device = next(model.parameters()).device
        for batch in loader:
            batch = move_to_device(batch, device)
            pred = model(batch["image"]).argmax(dim=1)
            correct += int((pred == batch["label"]).sum())
            total += len(pred)
        return {"accuracy": correct / total}

    result = train_model(small_mlp(in_features=2, out_features=2), DictDataset(seed=0), DictDataset(n=64, seed=1),
                         loss_fn=torch.nn.functional.cross_entropy, validate=accuracy, output_dir=tmp_path,
                         epochs=5, lr=0.02, batch_size=16, monitor="accuracy", mode="max", progress=False)
    assert result.monitor == "val_accuracy"
    assert result.history[-1]["val_accuracy"] >= 0.95
    assert result.best_metric == max(r["val_accuracy"] for r in result.history)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


def test_batch_to_loss_hook_for_unpaired_batches_logs_extra_terms(tmp_path):
    """An autoencoder: batches are single tensors, the hook returns the loss plus a logged extra term."""
    data = DataLoader(TensorDataset(torch.randn(64, 4, generator=torch.Generator().manual_seed(0))), batch_size=16)

    def batch_to_loss(model, batch):
        (x,) = batch
        recon = model(x)
        mse = torch.nn.functional.mse_loss(recon, x)
        l1 = recon.abs().mean()
        return {"loss": mse + 1e-3 * l1, "l1": l1}

    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 4))
    result = train_model(model, data, data, batch_to_loss=batch_to_loss, output_dir=tmp_path, epochs=15, lr=0.02,
                         progress=False)
    first, last = result.history[0], result.history[-1]
    assert last["val_loss"] < 0.2 * first["val_loss"]
    assert "train_l1" in last and math.isfinite(last["train_l1"])


def test_gradient_accumulation_matches_large_batch():
    """Two accumulated batches of 8 give the same update as one batch of 16 (mean-reduced loss, SGD)."""
    data = regression_data(n=64, seed=3)
    results = []
    for batch_size, accum in [(16, 1), (8, 2)]:
        torch.manual_seed(1)
        model = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
        loader = DataLoader(data, batch_size=batch_size, shuffle=False)
        trainer = Trainer(model, loader, loss_fn=torch.nn.functional.mse_loss, device="cpu",
                          optimizer=lambda p: torch.optim.SGD(p, lr=0.1), grad_accum_steps=accum, epochs=2,
                          progress=False, export_weights=False)
        trainer.fit()
        assert trainer.global_step == 8
        results.append(trainer.model.state_dict())
    for key in results[0]:
        assert torch.allclose(results[0][key], results[1][key], atol=1e-6), key


def test_gradient_clipping_bounds_the_update():
    model = torch.nn.Linear(3, 1)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()]).cpu()
    x = torch.randn(8, 3) * 100
    loader = [(x, torch.full((8, 1), 1e4))]  # an iterable of batches, used as is
    Trainer(model, loader, loss_fn=torch.nn.functional.mse_loss, optimizer=lambda p: torch.optim.SGD(p, lr=1.0),
            grad_clip_norm=0.5, epochs=1, progress=False).fit()
    after = torch.cat([p.detach().flatten() for p in model.parameters()]).cpu()
    assert torch.linalg.vector_norm(after - before).item() == pytest.approx(0.5, rel=1e-4)


@pytest.mark.parametrize(("mode", "expected_epoch"), [("min", 2), ("max", 3)])
def test_best_checkpoint_holds_the_best_epoch(tmp_path, mode, expected_epoch):
    values = [0.4, 0.1, 0.9, 0.3]
    snapshots = WeightSnapshots()
    result = train_model(small_mlp(), regression_data(), regression_data(n=16, seed=1),
                         loss_fn=torch.nn.functional.mse_loss, validate=ScriptedMetric(values), monitor="val_score",
                         mode=mode, output_dir=tmp_path, epochs=4, callbacks=[snapshots], progress=False)
    assert result.best_epoch == expected_epoch
    assert result.best_metric == values[expected_epoch - 1]
    best = load_checkpoint(result.best_checkpoint)
    assert best["epoch"] == expected_epoch
    assert_same_weights(best["model"], snapshots.by_epoch[expected_epoch])
    assert load_checkpoint(result.last_checkpoint)["epoch"] == 4
    assert_same_weights(load_weights(None, result.weights), snapshots.by_epoch[expected_epoch])
    assert [r["is_best"] for r in result.history] == ([True, True, False, False] if mode == "min"
                                                      else [True, False, True, False])


def test_early_stopping_stops_after_patience(tmp_path):
    values = [1.0, 0.5, 0.6, 0.55, 0.7, 0.2, 0.1, 0.1, 0.1, 0.1]
    validate = ScriptedMetric(values, name="loss")
    result = train_model(small_mlp(), regression_data(), regression_data(n=16, seed=1),
                         loss_fn=torch.nn.functional.mse_loss, validate=validate, patience=3, output_dir=tmp_path,
                         epochs=10, progress=False)
    assert result.stopped_early
    assert result.epochs_completed == 5 and validate.calls == 5
    assert result.best_epoch == 2 and result.best_metric == 0.5
    assert len([r for r in read_jsonl(result.metrics_log) if r["kind"] == "epoch"]) == 5
    # resuming a run that stopped early does not train further
    again = Trainer(small_mlp(), regression_data(), regression_data(n=16, seed=1), validate=validate,
                    loss_fn=torch.nn.functional.mse_loss, patience=3, output_dir=tmp_path, epochs=10,
                    progress=False).fit(resume=True)
    assert again.epochs_completed == 5 and validate.calls == 5


def test_min_delta_requires_a_real_improvement():
    values = [1.0, 0.95, 0.5]
    result = train_model(small_mlp(), regression_data(), regression_data(n=16, seed=1),
                         loss_fn=torch.nn.functional.mse_loss, validate=ScriptedMetric(values, "loss"),
                         min_delta=0.1, epochs=3, progress=False)
    assert [r["is_best"] for r in result.history] == [True, False, True]


def test_metrics_log_is_parseable_json_lines(tmp_path):
    result = train_model(small_mlp(), regression_data(n=64), regression_data(n=16, seed=1),
                         loss_fn=torch.nn.functional.mse_loss, output_dir=tmp_path, epochs=3, batch_size=8,
                         log_every_n_steps=3, progress=False,
                         scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5))
    records = read_jsonl(tmp_path / "metrics.jsonl")
    epochs = [r for r in records if r["kind"] == "epoch"]
    steps = [r for r in records if r["kind"] == "step"]
    assert len(epochs) == 3 and [r["epoch"] for r in epochs] == [1, 2, 3]
    for record in epochs:
        assert {"epoch", "step", "lr", "train_loss", "val_loss", "time", "is_best"} <= record.keys()
    assert [r["step"] for r in epochs] == [8, 16, 24]
    assert [r["step"] for r in steps] == list(range(3, 25, 3))
    assert all({"epoch", "step", "lr", "train_loss", "time"} <= r.keys() for r in steps)
    assert [r["lr"] for r in epochs] == pytest.approx([1e-3, 5e-4, 2.5e-4])  # StepLR halves it each epoch
    assert epochs == [{**h} for h in result.history]


def test_plateau_scheduler_gets_the_monitored_value():
    values = [1.0, 1.0, 1.0, 1.0]
    trainer = Trainer(small_mlp(), regression_data(), regression_data(n=16, seed=1),
                      loss_fn=torch.nn.functional.mse_loss, validate=ScriptedMetric(values, "loss"), epochs=4,
                      lr=0.1, progress=False,
                      scheduler=lambda opt: torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1, factor=0.5))
    trainer.fit()
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.05)


def test_non_finite_loss_raises_and_keeps_last_checkpoint(tmp_path):
    calls = {"n": 0}

    def batch_to_loss(model, batch):
        calls["n"] += 1
        x, y = batch
        loss = torch.nn.functional.mse_loss(model(x), y)
        return loss * float("nan") if calls["n"] > 12 else loss

    trainer = Trainer(small_mlp(), regression_data(n=96), batch_to_loss=batch_to_loss, output_dir=tmp_path,
                      epochs=3, batch_size=8, progress=False)
    with pytest.raises(NonFiniteLossError, match="epoch 2"):
        trainer.fit()
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["epoch"] == 1


def test_unknown_monitor_names_the_available_metrics():
    with pytest.raises(ConfigError, match="val_dice.*available.*val_loss"):
        train_model(small_mlp(), regression_data(), regression_data(n=16, seed=1),
                    loss_fn=torch.nn.functional.mse_loss, monitor="val_dice", epochs=1, progress=False)


def test_config_is_validated():
    with pytest.raises(ConfigError, match="grad_accum_steps"):
        TrainerConfig(grad_accum_steps=0).validate()
    with pytest.raises(ConfigError, match="unknown key 'epoch'"):
        Trainer(small_mlp(), regression_data(), loss_fn=torch.nn.functional.mse_loss, epoch=3)
    with pytest.raises(ConfigError, match="loss_fn"):
        Trainer(small_mlp(), regression_data())
    with pytest.raises(ConfigError, match="pass batch_to_loss"):
        Trainer(small_mlp(), [torch.zeros(2, 3)], loss_fn=torch.nn.functional.mse_loss, progress=False).fit()
    cfg = TrainerConfig.from_dict({"epochs": 2, "amp_dtype": "fp16", "grad_clip_norm": 1})
    assert cfg.grad_clip_norm == 1.0 and cfg.amp_dtype == "fp16"


def test_amp_is_a_no_op_on_cpu():
    trainer = Trainer(small_mlp(), regression_data(), loss_fn=torch.nn.functional.mse_loss, device="cpu",
                      amp=True, amp_dtype="fp16", epochs=1, progress=False)
    assert trainer.amp_dtype is None and trainer.scaler is None
    assert trainer.device == torch.device("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("amp_dtype", ["bf16", "fp16"])
def test_cuda_amp_training_and_exact_resume(tmp_path, amp_dtype):
    def run(folder, epochs, resume=False):
        trainer = Trainer(small_mlp(seed=0 if not resume else 5), regression_data(), regression_data(n=32, seed=1),
                          loss_fn=torch.nn.functional.mse_loss, output_dir=folder, amp_dtype=amp_dtype,
                          device="cuda", lr=0.02, batch_size=16, grad_clip_norm=1.0, grad_accum_steps=2,
                          epochs=epochs, progress=False)
        return trainer, trainer.fit(resume=resume)

    straight, result = run(tmp_path / "a", 6)
    assert straight.device.type == "cuda" and next(straight.model.parameters()).is_cuda
    assert straight.amp_dtype == (torch.bfloat16 if amp_dtype == "bf16" else torch.float16)
    assert result.history[-1]["val_loss"] < 0.5 * result.history[0]["val_loss"]
    checkpoint = load_checkpoint(result.last_checkpoint)
    assert (checkpoint["scaler"] is not None) == (amp_dtype == "fp16")
    assert next(iter(checkpoint["model"].values())).device.type == "cpu"  # loads anywhere

    run(tmp_path / "b", 3)
    resumed, _ = run(tmp_path / "b", 6, resume=True)
    assert_same_weights(straight.model.state_dict(), resumed.model.state_dict())
