"""What a user sees and keeps during a long run: plain progress lines without a terminal, the time budget
checked after every step, and Ctrl-C / SIGTERM saving a checkpoint that resumes from the step reached."""
from __future__ import annotations

import logging
import os
import signal

import pytest
import torch

from biomedai.train import Trainer, load_checkpoint, train_model
from biomedai.train.engine import RESUME_ENV, TrainingInterrupted
from biomedai.train.progress import BudgetClock, ProgressLines, format_seconds

from .helpers import assert_same_weights, regression_data, small_mlp

TRAIN, VAL = regression_data(n=80, seed=0), regression_data(n=24, seed=1)


class SignalAtCall:
    """An MSE loss that sends ``signum`` to this process on its ``at``-th call (as Ctrl-C or ``kill`` would)."""

    def __init__(self, at: int | None = None, signum: int = signal.SIGINT) -> None:
        self.at, self.signum, self.calls = at, signum, 0

    def __call__(self, prediction, target):
        self.calls += 1
        if self.calls == self.at:
            os.kill(os.getpid(), self.signum)
        return torch.nn.functional.mse_loss(prediction, target)


def make(output_dir, loss, epochs=3, model_seed=0, **overrides) -> Trainer:
    return Trainer(small_mlp(seed=model_seed), TRAIN, VAL, loss_fn=loss,
                   optimizer=lambda p: torch.optim.AdamW(p, lr=0.01),
                   scheduler=lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=4, gamma=0.5),
                   scheduler_interval="step", output_dir=output_dir, epochs=epochs, batch_size=8, seed=3,
                   progress=False, **overrides)


def test_plain_progress_lines_when_no_bar(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="biomedai.train.progress"):
        make(tmp_path, SignalAtCall(), epochs=2, progress_every_s=1e-9).fit()
    lines = [r.getMessage() for r in caplog.records if r.name == "biomedai.train.progress"]
    assert len(lines) >= 10  # one per step at this interval: 10 steps per epoch
    assert "step 20/20" in lines[-1] and "loss" in lines[-1] and "left ~0:00" in lines[-1]
    assert "peak memory" in lines[-1]


def test_no_progress_lines_when_turned_off(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="biomedai.train.progress"):
        make(tmp_path, SignalAtCall(), epochs=1, progress_every_s=0).fit()
    assert not [r for r in caplog.records if r.name == "biomedai.train.progress"]


def test_time_budget_is_checked_every_step(tmp_path):
    # a budget already spent after the first step: one step, not a whole epoch of 10 steps
    trainer = make(tmp_path, SignalAtCall(), epochs=50, max_minutes=1e-9)
    result = trainer.fit()
    assert result.global_step == 1 and result.epochs_completed == 1
    assert trainer.budget_exhausted
    assert result.weights is not None and load_checkpoint(tmp_path / "checkpoints" / "last.pt")["global_step"] == 1


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_saves_a_checkpoint_that_resumes_exactly(tmp_path, signum):
    # what the process had before (SIG_IGN, not Python's default, when started in the background by a shell)
    handlers_before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    straight = make(tmp_path / "straight", SignalAtCall(), epochs=3)  # 10 steps + 3 validation calls an epoch
    straight.fit()

    interrupted = make(tmp_path / "run", SignalAtCall(at=17, signum=signum), epochs=3)
    with pytest.raises(TrainingInterrupted, match="--resume") as info:
        interrupted.fit()
    state = load_checkpoint(info.value.checkpoint)
    assert state["global_step"] == 14 and state["epoch"] == 1 and state["batches_done"] == 4
    assert {s: signal.getsignal(s) for s in handlers_before} == handlers_before  # handlers restored

    resumed = make(tmp_path / "run", SignalAtCall(), epochs=3, model_seed=99)
    resumed.fit(resume=True)
    assert resumed.global_step == straight.global_step == 30
    assert_same_weights(straight.model.state_dict(), resumed.model.state_dict())


def test_train_model_resumes_when_asked_by_the_environment(tmp_path, monkeypatch):
    kwargs = dict(loss_fn=torch.nn.functional.mse_loss, output_dir=tmp_path, batch_size=8, seed=3, progress=False)
    train_model(small_mlp(), TRAIN, VAL, epochs=2, **kwargs)
    monkeypatch.setenv(RESUME_ENV, "1")
    result = train_model(small_mlp(), TRAIN, VAL, epochs=3, **kwargs)
    assert result.global_step == 30 and len(result.history) == 3  # two epochs came from the checkpoint


def test_budget_clock_and_time_left():
    assert format_seconds(59.6) == "1:00" and format_seconds(3600) == "1:00:00"
    clock = BudgetClock(0.5, "cpu")
    clock.start()
    assert not clock.exhausted() and 0 < clock.left_s() <= 30
    lines = ProgressLines(total_steps=100, budget=BudgetClock(None), every_s=1e-9)
    lines.step(1, 1, 1, 0.5)
    assert lines.time_left_s(1) == pytest.approx(0.0, abs=1.0)
    assert "step 1/100" in lines.line(1, 1, 1, 0.5)
