"""The engine's time budget: checked per step or per epoch, carried over a resume (with the schedule that
follows it), one job's own limit, and ``set_epoch`` on training data. Time is simulated: a fake clock that
advances one second per training batch, so every stopping point is known exactly."""
from __future__ import annotations

import math

import pytest
import torch

from biomedai.errors import ConfigError
from biomedai.train import Trainer, TrainerConfig, budget_cosine, load_checkpoint
from biomedai.train.progress import TimeBudget

from .helpers import CrashAfterEpoch, assert_same_weights, regression_data, small_mlp

TRAIN, VAL = regression_data(n=80, seed=0), regression_data(n=24, seed=1)  # 10 batches of 8 per epoch


class FakeClock:
    """Seconds that pass only when a training batch is computed (one each)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(output_dir, clock: FakeClock, seconds: float | None = 45.0, epochs: int = 50, model_seed: int = 0,
         **overrides) -> Trainer:
    def batch_to_loss(model, batch):
        if model.training:
            clock.now += 1.0
        x, y = batch
        return torch.nn.functional.mse_loss(model(x), y)

    trainer = Trainer(small_mlp(seed=model_seed), TRAIN, VAL, batch_to_loss=batch_to_loss,
                      optimizer=lambda p: torch.optim.SGD(p, lr=0.05),
                      scheduler=lambda opt, trainer: budget_cosine(opt, trainer.budget_fraction, floor=0.1),
                      scheduler_interval="step", output_dir=output_dir, epochs=epochs, batch_size=8, seed=3,
                      progress=False, max_minutes=None if seconds is None else seconds / 60.0, **overrides)
    for budget_clock in (trainer.budget.wall, trainer.budget.cpu, trainer.budget.job):
        budget_clock.timer = clock
    return trainer


@pytest.mark.parametrize(("check", "steps"), [("step", 25), ("epoch", 30)])
def test_budget_stops_at_the_step_or_after_the_epoch(tmp_path, check, steps):
    result = make(tmp_path, FakeClock(), seconds=25.0, time_budget_check=check).fit()
    assert result.global_step == steps and result.epochs_completed == 3
    assert result.time_budget_spent and not result.job_time_spent and not result.stopped_early
    assert result.time_spent_s["wall"] == pytest.approx(steps)


def test_a_resumed_run_stops_at_the_same_total_budget_with_the_same_schedule(tmp_path):
    straight = make(tmp_path / "straight", FakeClock(), time_budget_check="epoch")
    reference = straight.fit()
    assert reference.global_step == 50  # 40 s spent after epoch 4, 50 s >= 45 s after epoch 5

    clock = FakeClock()
    with pytest.raises(RuntimeError, match="simulated crash"):
        make(tmp_path / "run", clock, time_budget_check="epoch", callbacks=[CrashAfterEpoch(2)]).fit()
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["time_spent_s"]["wall"] == 20.0
    clock.now += 500.0  # time between the jobs is not training time
    resumed = make(tmp_path / "run", clock, time_budget_check="epoch", model_seed=7)
    result = resumed.fit(resume=True)
    assert result.global_step == 50 and result.time_budget_spent  # not 20 + a fresh 45 s
    assert result.time_spent_s["wall"] == pytest.approx(50.0)
    # the cosine read the budget fraction carried over the resume: same learning rates, same weights
    assert [r["lr"] for r in result.history] == [r["lr"] for r in reference.history]
    assert_same_weights(straight.model.state_dict(), resumed.model.state_dict())


def test_job_minutes_end_a_job_but_keep_the_budget_and_schedule(tmp_path):
    straight = make(tmp_path / "straight", FakeClock(), time_budget_check="epoch")
    straight.fit()
    clock, steps = FakeClock(), []
    for _ in range(3):
        trainer = make(tmp_path / "run", clock, time_budget_check="epoch", job_minutes=15.0 / 60.0)
        result = trainer.fit(resume=True)
        steps.append((result.global_step, result.job_time_spent, result.time_budget_spent))
    # jobs of two epochs each (20 s >= 15 s), until the run's 45 s are spent after epoch 5
    assert steps == [(20, True, False), (40, True, False), (50, False, True)]
    assert_same_weights(straight.model.state_dict(), trainer.model.state_dict())
    again = make(tmp_path / "run", clock, time_budget_check="epoch", job_minutes=15.0 / 60.0).fit(resume=True)
    assert again.global_step == 50 and again.time_budget_spent  # the budget is spent: nothing more to train


def test_budget_fraction_and_two_clocks():
    wall, cpu = FakeClock(), FakeClock()
    budget = TimeBudget(wall_minutes=1.0, cpu_minutes=0.5, wall_timer=wall, cpu_timer=cpu)
    budget.start({"wall": 12.0})
    wall.now += 6.0
    cpu.now += 3.0
    assert budget.spent_s() == {"wall": 18.0, "cpu": 3.0}
    assert budget.fraction() == pytest.approx(0.3) and budget.left_s() == pytest.approx(27.0)
    cpu.now += 40.0  # the CPU budget (30 s) runs out first
    assert budget.exhausted() and budget.fraction() == 1.0
    unlimited = TimeBudget()
    unlimited.start()
    assert unlimited.fraction() == 0.0 and not unlimited.exhausted() and unlimited.left_s() is None


def test_config_budgets_and_validation():
    assert TrainerConfig(max_minutes=3.0).budget_minutes() == (3.0, None)
    assert TrainerConfig(max_minutes=3.0, time_budget_clock="cpu", max_cpu_minutes=2.0).budget_minutes() == (None, 2.0)
    assert TrainerConfig(max_minutes=3.0, max_cpu_minutes=2.0).budget_minutes() == (3.0, 2.0)
    for bad in ({"time_budget_check": "batch"}, {"job_minutes": 0}, {"max_cpu_minutes": -1}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            TrainerConfig.from_dict(bad)


def test_the_cpu_budget_stops_training(tmp_path):
    clock = FakeClock()
    result = make(tmp_path, clock, seconds=None, max_cpu_minutes=12.0 / 60.0).fit()
    assert result.global_step == 12 and result.time_budget_spent


class EpochRecordingData(torch.utils.data.Dataset):
    """A data set that redraws per epoch: records every ``set_epoch`` call."""

    def __init__(self) -> None:
        self.data, self.epochs = TRAIN, []

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        return self.data[index]

    def set_epoch(self, epoch: int) -> None:
        self.epochs.append(epoch)


def test_set_epoch_before_each_epoch_and_on_resume(tmp_path):
    def trainer(data, **overrides) -> Trainer:
        return Trainer(small_mlp(), data, VAL, loss_fn=torch.nn.functional.mse_loss, output_dir=tmp_path, epochs=3,
                       batch_size=8, progress=False, **overrides)

    fresh = EpochRecordingData()
    with pytest.raises(RuntimeError, match="simulated crash"):
        trainer(fresh, callbacks=[CrashAfterEpoch(1)]).fit()
    assert fresh.epochs == [0]
    resumed = EpochRecordingData()
    trainer(resumed).fit(resume=True)
    assert resumed.epochs == [1, 2]  # the resumed epochs, told before they start
    in_loader = EpochRecordingData()
    Trainer(small_mlp(), torch.utils.data.DataLoader(in_loader, batch_size=8), loss_fn=torch.nn.functional.mse_loss,
            epochs=2, progress=False).fit()
    assert in_loader.epochs == [0, 1]


def test_budget_progress_and_a_one_cycle_cosine_over_the_budget():
    from biomedai.train import budget_progress

    assert budget_progress(0.25, 10, 100) == 0.25 and budget_progress(0.05, 10, 100) == 0.1
    assert budget_progress(2.0, 0) == 1.0 and budget_progress(0.3, 500) == 0.3  # no total_steps: the budget only
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    spent = {"f": 0.0}
    factor = budget_cosine(opt, lambda: spent["f"], total_steps=100, floor=0.01, warmup_fraction=0.05,
                           warmup_start=0.04).lr_lambdas[0]
    expected = {0.0: 0.04, 0.025: 0.52, 0.05: 1.0, 0.525: 0.01 + 0.99 * 0.5, 1.0: 0.01}
    for fraction, value in expected.items():
        spent["f"] = fraction
        assert factor(0) == pytest.approx(value)
    spent["f"] = 0.0
    assert factor(50) == pytest.approx(0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * 0.45 / 0.95)))  # by steps
    with pytest.raises(ConfigError, match="warmup_fraction"):
        budget_cosine(opt, lambda: 0.0, warmup_fraction=1.0)


def test_a_validate_hook_with_three_arguments_gets_the_trainer(tmp_path):
    seen = []

    def validate(model, loader, trainer):
        seen.append((trainer.epoch, trainer.global_step, round(trainer.budget_fraction(), 3)))
        return {"score": float(len(seen))}

    result = make(tmp_path, FakeClock(), seconds=100.0, epochs=3, validate=validate, monitor="val_score",
                  mode="max").fit()
    # the epochs done before the one being validated, the steps so far and the budget share spent (10 s an epoch)
    assert seen == [(0, 10, 0.1), (1, 20, 0.2), (2, 30, 0.3)]
    assert result.best_epoch == 3


def test_simulated_clocks_drive_the_budget_of_any_training(tmp_path, monkeypatch):
    from .helpers import SimulatedClocks

    clocks = SimulatedClocks(wall_s_per_tick=0.0, cpu_s_per_tick=1.0).install(monkeypatch)
    clocks.tick_on(monkeypatch, torch.utils.data.TensorDataset)
    result = Trainer(small_mlp(), TRAIN, VAL, loss_fn=torch.nn.functional.mse_loss, epochs=5, batch_size=8,
                     progress=False, max_minutes=20.0 / 60.0, time_budget_clock="cpu").fit()
    # 8 samples (8 CPU seconds) a step: the CPU budget of 20 s is spent at step 3; the wall clock never moved
    assert result.global_step == 3 and result.time_budget_spent and result.time_spent_s["wall"] == 0.0
