"""Han-Net training on the engine's time budget: ``max_minutes`` on ``time_budget_clock`` stops training at the
step that spends it, the one-cycle learning rate and ``val_from`` follow the budget, and ``--resume`` continues
the same budget. Time is simulated (tests.train.helpers.SimulatedClocks): each training crop costs one second
on the budget's clock and five on the other, so every stopping point is known exactly."""
from __future__ import annotations

import math

import pytest

from biomedai.data.phantoms import nuclei_phantom
from biomedai.methods.nuclei_hannet.config import HanNetConfig
from biomedai.methods.nuclei_hannet.segmenter import NucleiSegmenter, arch_from_config
from biomedai.methods.nuclei_hannet.training import CropDataset, lr_schedule, train_network
from biomedai.train import load_checkpoint
from biomedai.train.engine import RESUME_ENV
from tests.train.helpers import SimulatedClocks, assert_same_weights

torch = pytest.importorskip("torch")

# 4 tiles x 2 crops = 8 crops, batches of 2: 4 steps (8 budget seconds) an epoch; 10 epochs = 40 steps
TILES = [(p.image.array, p.labels.array) for p in (nuclei_phantom((64, 64), n_nuclei=5, seed=s) for s in range(4))]
LR = 1e-3


def _cfg(clock: str = "wall", **overrides) -> HanNetConfig:
    settings = {"base_channels": 4, "growth_rate": 2, "crop_size": 32, "batch_size": 2, "crops_per_tile": 2,
                "epochs": 10, "device": "cpu", "amp": False, "num_workers": 0, "lr": LR, "lr_schedule": "onecycle",
                "val_from": 0.5, "aug_rotate": False, "aug_elastic": False, "max_minutes": 30.0 / 60.0,
                "time_budget_clock": clock}
    return HanNetConfig(**{**settings, **overrides})


def _clocks(monkeypatch, clock: str) -> SimulatedClocks:
    clocks = SimulatedClocks(wall_s_per_tick=1.0 if clock == "wall" else 5.0,
                             cpu_s_per_tick=1.0 if clock == "cpu" else 5.0).install(monkeypatch)
    clocks.tick_on(monkeypatch, CropDataset)
    return clocks


class CountingScore:
    """``val_score``: 1, 2, 3, ... (so the last validated epoch is the best); optionally a crash at call ``crash_at``."""

    def __init__(self, crash_at: int | None = None, start: int = 0) -> None:
        self.calls, self.crash_at = start, crash_at

    def __call__(self, model) -> dict[str, float]:
        self.calls += 1
        if self.calls == self.crash_at:
            raise RuntimeError("simulated crash")
        return {"aji": float(self.calls)}


def _train(cfg: HanNetConfig, out, score: CountingScore):
    torch.manual_seed(0)
    model = NucleiSegmenter.build_network(arch_from_config(cfg))
    return train_network(model, TILES, score, out, cfg)


def _one_cycle(progress: float) -> float:
    """The recipe's shape: 5 % linear warm-up from 4 %, then a cosine to 1 % (README decision 5)."""
    if progress < 0.05:
        return 0.04 + 0.96 * progress / 0.05
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * (progress - 0.05) / 0.95))


@pytest.mark.parametrize("clock", ["wall", "cpu"])
def test_the_budget_stops_at_the_step_that_spends_it_on_its_clock(tmp_path, monkeypatch, clock):
    _clocks(monkeypatch, clock)
    score = CountingScore()
    result = _train(_cfg(clock), tmp_path, score)
    # 30 s are spent at step 15 (3 steps into epoch 4); the other clock (5 s a crop) is not the budget's
    assert result.global_step == 15 and result.epochs_completed == 4
    assert result.time_budget_spent and result.time_spent_s[clock] == pytest.approx(30.0)
    # val_from 0.5: epoch 1 (8 of 30 s) is not a candidate; 2 and 3 are; the stopped epoch 4 is validated too
    assert [r["val_aji"] for r in result.history] == [-1.0, 1.0, 2.0, 3.0] and result.best_epoch == 4
    # the one-cycle LR at each epoch's start follows the budget spent (8 s an epoch), not the 40 steps
    expected = [_one_cycle(0.0)] + [_one_cycle(8.0 * e / 30.0) for e in (1, 2, 3)]
    assert [r["lr"] for r in result.history] == pytest.approx([LR * f for f in expected])


def test_without_a_budget_the_schedule_follows_the_steps(tmp_path, monkeypatch):
    _clocks(monkeypatch, "wall")
    result = _train(_cfg(max_minutes=None, epochs=3), tmp_path, CountingScore())
    assert result.global_step == 12 and not result.time_budget_spent
    assert [r["lr"] for r in result.history] == pytest.approx([LR * _one_cycle(s / 12) for s in (0, 4, 8)])
    assert lr_schedule("constant", 12) is None


def test_resume_continues_the_same_budget_and_schedule(tmp_path, monkeypatch):
    clocks = _clocks(monkeypatch, "cpu")
    straight = _train(_cfg("cpu"), tmp_path / "straight", CountingScore())
    with pytest.raises(RuntimeError, match="simulated crash"):
        _train(_cfg("cpu"), tmp_path / "run", CountingScore(crash_at=2))  # while validating epoch 3
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["time_spent_s"]["cpu"] == 16.0
    clocks.wall, clocks.cpu = clocks.wall + 500.0, clocks.cpu + 500.0  # time between the jobs is not training
    monkeypatch.setenv(RESUME_ENV, "1")
    resumed = _train(_cfg("cpu"), tmp_path / "run", CountingScore())
    assert resumed.global_step == 15 and resumed.time_budget_spent  # not 16 s + a fresh 30 s
    assert resumed.time_spent_s["cpu"] == pytest.approx(30.0)
    assert [r["lr"] for r in resumed.history] == [r["lr"] for r in straight.history]
    assert_same_weights(load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt")["model"],
                        load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["model"])


def test_a_resumed_job_repeats_the_last_score_between_validations(tmp_path, monkeypatch):
    """val_every 2: a job killed in epoch 5 resumes there, and epoch 5 repeats epoch 4's score, as a run never
    stopped does, instead of validating (the repeated score used to live only in the killed job's memory)."""
    cfg = _cfg(max_minutes=None, epochs=6, val_every=2, val_from=0.0)
    straight_score = CountingScore()
    straight = _train(cfg, tmp_path / "straight", straight_score)
    assert [r["val_aji"] for r in straight.history] == [1.0, 2.0, 2.0, 3.0, 3.0, 4.0]
    crops, original = [0], CropDataset.__getitem__

    def dies_in_epoch_5(self, index):
        crops[0] += 1
        if crops[0] == 4 * 8 + 1:  # 8 crops an epoch: the first crop of epoch 5
            raise RuntimeError("simulated kill")
        return original(self, index)

    with monkeypatch.context() as patch:
        patch.setattr(CropDataset, "__getitem__", dies_in_epoch_5)
        with pytest.raises(RuntimeError, match="simulated kill"):
            _train(cfg, tmp_path / "run", CountingScore())
    monkeypatch.setenv(RESUME_ENV, "1")
    score = CountingScore(start=3)  # the killed job validated three times
    resumed = _train(cfg, tmp_path / "run", score)
    assert score.calls == 4  # only epoch 6 was validated in the resumed job
    assert [r["val_aji"] for r in resumed.history] == [r["val_aji"] for r in straight.history]
