"""Training state beyond model, optimiser and scheduler: ``Trainer(stateful=...)`` objects saved in every checkpoint
and restored on resume, and data that draw batches from their own generator resumed mid-epoch exactly."""
from __future__ import annotations

import logging
import os
import random
import signal

import pytest
import torch

from biomedai.errors import ConfigError
from biomedai.train import Trainer, load_checkpoint, save_checkpoint
from biomedai.train.engine import TrainingInterrupted

from .helpers import CrashAfterEpoch, assert_same_weights, regression_data, small_mlp

TRAIN, VAL = regression_data(n=80, seed=0), regression_data(n=24, seed=1)  # 10 batches of 8 per epoch


class NoisyTargets:
    """Adds noise from its own ``random.Random`` to every training target: state no global RNG holds."""

    def __init__(self, seed: int = 5) -> None:
        self.rng = random.Random(seed)
        self.calls = 0

    def __call__(self, model, batch):
        x, y = batch
        self.calls += 1
        noise = torch.tensor([[self.rng.gauss(0.0, 1.0)] for _ in range(len(y))])
        return torch.nn.functional.mse_loss(model(x), y + (noise if model.training else 0.0))

    def state_dict(self):
        version, internal, gauss = self.rng.getstate()
        return {"rng": [version, list(internal), gauss], "calls": self.calls}

    def load_state_dict(self, state):
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
        self.calls = int(state["calls"])


def make(output_dir, noisy: NoisyTargets, epochs: int = 3, model_seed: int = 0, **overrides) -> Trainer:
    return Trainer(small_mlp(seed=model_seed), TRAIN, VAL, batch_to_loss=noisy,
                   optimizer=lambda p: torch.optim.AdamW(p, lr=0.01), output_dir=output_dir, epochs=epochs,
                   batch_size=8, seed=3, progress=False, stateful={"noise": noisy}, **overrides)


def test_stateful_objects_are_checkpointed_and_restored(tmp_path):
    straight = make(tmp_path / "straight", NoisyTargets())
    straight.fit()
    with pytest.raises(RuntimeError, match="simulated crash"):
        make(tmp_path / "run", NoisyTargets(), callbacks=[CrashAfterEpoch(1)]).fit()
    saved = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["stateful"]["noise"]
    assert saved["calls"] == 10 + 3  # 10 training and 3 validation batches after epoch 1
    noisy = NoisyTargets(seed=99)  # restored from the checkpoint, not from its own seed
    resumed = make(tmp_path / "run", noisy, model_seed=7)
    resumed.fit(resume=True)
    assert noisy.calls == straight.batch_to_loss.calls
    assert_same_weights(straight.model.state_dict(), resumed.model.state_dict())


def test_without_the_restored_state_the_run_differs(tmp_path):
    """The check above can fail: the same resume with the noise state dropped from the checkpoint diverges."""
    straight = make(tmp_path / "straight", NoisyTargets())
    straight.fit()
    with pytest.raises(RuntimeError, match="simulated crash"):
        make(tmp_path / "run", NoisyTargets(), callbacks=[CrashAfterEpoch(1)]).fit()
    path = tmp_path / "run" / "checkpoints" / "last.pt"
    state = load_checkpoint(path)
    del state["stateful"]  # as a checkpoint written before the hook existed
    save_checkpoint(path, state)
    resumed = make(tmp_path / "run", NoisyTargets())
    resumed.fit(resume=True)
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_missing_state_warns_and_bad_objects_are_refused(tmp_path, caplog):
    make(tmp_path, NoisyTargets(), epochs=1).fit()
    path = tmp_path / "checkpoints" / "last.pt"
    state = load_checkpoint(path)
    state["stateful"] = {}
    save_checkpoint(path, state)
    with caplog.at_level(logging.WARNING, logger="biomedai.train.engine"):
        make(tmp_path, NoisyTargets(), epochs=2).fit(resume=True)
    assert "no 'noise' state" in caplog.text
    with pytest.raises(ConfigError, match="stateful\\['pool'\\] needs state_dict"):
        Trainer(small_mlp(), TRAIN, loss_fn=torch.nn.functional.mse_loss, stateful={"pool": [1, 2]})


class OwnGeneratorBatches:
    """An iterable of ``steps`` random batches drawn with its own generator, seeded once (not per epoch)."""

    def __init__(self, steps: int = 6, signal_at: int | None = None) -> None:
        self.steps, self.signal_at, self.drawn = steps, signal_at, 0
        self.generator = torch.Generator().manual_seed(11)

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        for _ in range(self.steps):
            self.drawn += 1
            if self.drawn == self.signal_at:
                os.kill(os.getpid(), signal.SIGTERM)  # as a job scheduler's kill: stop after this step
            idx = torch.randint(len(TRAIN), (8,), generator=self.generator)
            yield TRAIN.tensors[0][idx], TRAIN.tensors[1][idx]


def test_an_interrupted_epoch_redraws_the_same_batches_from_the_data_generator(tmp_path):
    def build(folder, data, model_seed=0):
        return Trainer(small_mlp(seed=model_seed), data, VAL, loss_fn=torch.nn.functional.mse_loss,
                       optimizer=lambda p: torch.optim.AdamW(p, lr=0.01), output_dir=folder, epochs=3, seed=3,
                       progress=False)

    straight = build(tmp_path / "straight", OwnGeneratorBatches())
    straight.fit()
    with pytest.raises(TrainingInterrupted):
        build(tmp_path / "run", OwnGeneratorBatches(signal_at=9)).fit()
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["batches_done"] == 3
    resumed = build(tmp_path / "run", OwnGeneratorBatches(), model_seed=4)
    resumed.fit(resume=True)
    assert resumed.global_step == straight.global_step == 18
    assert_same_weights(straight.model.state_dict(), resumed.model.state_dict())
