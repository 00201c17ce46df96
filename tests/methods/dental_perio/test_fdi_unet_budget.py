"""The FDI U-Net's training on the engine's time budget: ``minutes`` on ``clock`` stops at the step that spends
it, the cosine LR (50-step warm-up, floor 2 %) follows it, ``max_wall_minutes`` ends the job after the epoch
that passes it, and ``--resume`` continues the same budget and schedule. Time is simulated
(tests.train.helpers.SimulatedClocks): each training film costs one second on the budget's clock and three on
the other, so every stopping point is known exactly."""
from __future__ import annotations

import math

import numpy as np
import pytest

from biomedai.train.engine import RESUME_ENV
from tests.train.helpers import SimulatedClocks

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from biomedai.methods.dental_perio.fdi_unet_training import FDIFilms, train_fdi_unet

LR = 2e-3
TRAIN, VAL = ["f0", "f1", "f2", "f3"], ["f4"]  # 4 films in batches of 2: 2 steps an epoch; 20 epochs = 40 steps


@pytest.fixture(scope="module")
def films(tmp_path_factory):
    """Five 64 px films, each with teeth 11 and 21 (bright) on a dark background, as a UFBA folder."""
    from PIL import Image

    root = tmp_path_factory.mktemp("ufba")
    (root / "images").mkdir()
    (root / "labels").mkdir()
    for i, name in enumerate(TRAIN + VAL):
        label = np.zeros((64, 64), np.uint8)
        label[10 + i:30 + i, 4:14], label[10 + i:30 + i, 40:50] = 11, 21
        image = np.where(label > 0, 200, 40).astype(np.uint8)
        Image.fromarray(image).save(root / "images" / f"{name}.png")
        Image.fromarray(label).save(root / "labels" / f"{name}.png")
    return root


def _clocks(monkeypatch, clock: str) -> SimulatedClocks:
    clocks = SimulatedClocks(wall_s_per_tick=1.0 if clock == "wall" else 3.0,
                             cpu_s_per_tick=1.0 if clock == "cpu" else 3.0).install(monkeypatch)
    clocks.tick_on(monkeypatch, FDIFilms)
    return clocks


def _train(films, out, budget_s: float, clock: str = "cpu", guard_s: float | None = None):
    return train_fdi_unet(films, TRAIN, VAL, out, channels=(4, 8), input_size=32, minutes=budget_s / 60.0,
                          epochs=20, batch_size=2, lr=LR, clock=clock,
                          max_wall_minutes=None if guard_s is None else guard_s / 60.0)["result"]


def _factor(step: int, spent_s: float, budget_s: float) -> float:
    """The recipe's schedule: 50-step linear warm-up times a cosine to 2 % over the budget (or the 40 steps)."""
    progress = min(1.0, max(step / 40, spent_s / budget_s))
    return min(1.0, (step + 1) / 50) * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))


@pytest.mark.parametrize("clock", ["cpu", "wall"])
def test_the_budget_stops_at_the_step_that_spends_it_on_its_clock(films, tmp_path, monkeypatch, clock):
    _clocks(monkeypatch, clock)
    result = _train(films, tmp_path, 9.0, clock)
    # 2 s a step on the budget's clock: 10 s >= 9 s at step 5, one step into epoch 3, which is validated
    assert result.global_step == 5 and result.epochs_completed == 3
    assert result.time_budget_spent and not result.job_time_spent
    assert [r[f"val_{clock}_minutes"] for r in result.history] == pytest.approx([4 / 60, 8 / 60, 10 / 60])
    # the LR at each epoch's start: the warm-up and the cosine over the 9 s spent so far (4 s an epoch)
    expected = [_factor(0, 0.0, 9.0), _factor(2, 4.0, 9.0), _factor(4, 8.0, 9.0)]
    assert [r["lr"] for r in result.history] == pytest.approx([LR * f for f in expected])


def test_the_wall_guard_ends_the_job_and_resume_continues_the_same_cpu_budget(films, tmp_path, monkeypatch):
    clocks = _clocks(monkeypatch, "cpu")
    straight = _train(films, tmp_path / "straight", 14.0)
    assert straight.global_step == 7 and straight.time_budget_spent  # 14 CPU s, no guard
    # a 20 s wall guard (6 wall s a step): the job ends after epoch 2 (24 s), the CPU budget (8 of 14 s) is not spent
    first = _train(films, tmp_path / "run", 14.0, guard_s=20.0)
    assert first.global_step == 4 and first.epochs_completed == 2
    assert first.job_time_spent and not first.time_budget_spent
    assert [r["val_wall_minutes"] for r in first.history] == pytest.approx([12 / 60, 24 / 60])
    clocks.wall, clocks.cpu = clocks.wall + 1000.0, clocks.cpu + 1000.0  # time between the jobs is not training
    monkeypatch.setenv(RESUME_ENV, "1")
    resumed = _train(films, tmp_path / "run", 14.0, guard_s=20.0)
    # the same total budget (not 8 s + a fresh 14 s), the same schedule and minutes as the uninterrupted run
    assert resumed.global_step == 7 and resumed.time_budget_spent and not resumed.job_time_spent
    assert [r["lr"] for r in resumed.history] == [r["lr"] for r in straight.history]
    minutes = [4 / 60, 8 / 60, 12 / 60, 14 / 60]
    assert [r["val_cpu_minutes"] for r in straight.history] == pytest.approx(minutes)
    assert [r["val_cpu_minutes"] for r in resumed.history] == pytest.approx(minutes)


def test_training_checkpoints_load_with_weights_only(films, tmp_path, monkeypatch):
    """The schedule is saved in checkpoints: it must hold no function (a checkpoint torch.load(weights_only=True)
    refuses ends the run without a model)."""
    _clocks(monkeypatch, "cpu")
    _train(films, tmp_path, 3.0)
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert state["scheduler"]["last_epoch"] == 2 and state["time_spent_s"]["cpu"] == 4.0
