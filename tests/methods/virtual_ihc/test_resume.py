"""A conditional CycleGAN run stopped half-way (a killed job, or SIGTERM mid-epoch) and continued with ``--resume``
(the engine's BIOMEDAI_RESUME) ends bit-identical to the run never stopped: weights, optimiser, schedule, batch
generator and the two image pools (stored fakes and their generators) all come back. Synthetic 16 px tiles."""
from __future__ import annotations

import os
import signal

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from biomedai.methods.virtual_ihc.config import VirtualIHCConfig
from biomedai.methods.virtual_ihc.cyclegan import CycleGAN
from biomedai.methods.virtual_ihc.losses import ImagePool
from biomedai.methods.virtual_ihc.training import cycle_score, train_cyclegan
from biomedai.train import load_checkpoint, save_checkpoint
from biomedai.train.engine import RESUME_ENV, TrainingInterrupted

# pool of 3 with batches of 2: full after the second step, swapping from then on; 4 epochs of 3 steps
CFG = VirtualIHCConfig(gen_width=4, disc_width=4, gen_res_blocks=1, tile_size=16, pool_size=3, batch_size=2,
                       steps_per_epoch=3, epochs=4, decay_epochs=2, lr=2e-3, condition="plane", seed=5)
RNG = np.random.default_rng(0)
HE, IHC = RNG.integers(0, 256, (2, 10, 16, 16, 3), dtype=np.uint8)
C_HE, C_IHC = (RNG.random((2, 10)) > 0.5).astype(np.float32)


def test_image_pool_state_round_trip_and_size_check():
    pool = ImagePool(3, seed=1)
    for i in range(5):
        pool.query(torch.full((2, 3, 4, 4), float(i)))
    copy = ImagePool(3, seed=123)
    copy.load_state_dict(pool.state_dict())
    for i in range(5, 12):  # the same swaps and the same old images from here on
        x = torch.full((2, 3, 4, 4), float(i))
        assert torch.equal(pool.query(x), copy.query(x))
    with pytest.raises(ValueError, match="up to 3 images"):
        ImagePool(4).load_state_dict(pool.state_dict())


class Score:
    """The default validation score; on its ``stop_at``-th call it crashes (a killed job: the epoch is lost) or
    sends SIGTERM (a job limit: the engine stops after the next step, mid-epoch, and checkpoints that step)."""

    def __init__(self, stop_at: int | None = None, how: str = "crash") -> None:
        self.stop_at, self.how, self.calls = stop_at, how, 0

    def __call__(self, model: CycleGAN) -> float:
        self.calls += 1
        if self.calls == self.stop_at and self.how == "crash":
            raise RuntimeError("simulated job kill")
        if self.calls == self.stop_at:
            os.kill(os.getpid(), signal.SIGTERM)
        return cycle_score(model, HE[-2:], IHC[-2:], C_HE[-2:], C_IHC[-2:])


def run(folder, score: Score, init_seed: int = 0):
    torch.manual_seed(init_seed)
    model = CycleGAN(CFG)
    result = train_cyclegan(model, HE[:-2], IHC[:-2], C_HE[:-2], C_IHC[:-2], HE[-2:], IHC[-2:], C_HE[-2:],
                            C_IHC[-2:], score=score, output_dir=folder)
    return model, result


def last(folder):
    return load_checkpoint(folder / "checkpoints" / "last.pt")


def stop_and_resume(tmp_path, monkeypatch, how: str, drop_pools: bool = False):
    folder = tmp_path / "resumed"
    with pytest.raises((RuntimeError, TrainingInterrupted)):
        run(folder, Score(stop_at=3 if how == "crash" else 2, how=how))
    state = last(folder)
    assert (state["epoch"], state["global_step"]) == ((2, 6) if how == "crash" else (2, 7))  # half of 12 steps
    assert len(state["stateful"]["pool_k"]["images"]) == 3 and len(state["stateful"]["pool_h"]["images"]) == 3
    if drop_pools:  # as before the pools were checkpointed: the resumed run starts with empty, reseeded pools
        del state["stateful"]
        save_checkpoint(folder / "checkpoints" / "last.pt", state)
    monkeypatch.setenv(RESUME_ENV, "1")
    return run(folder, Score(), init_seed=99)  # other initial weights: everything must come from the checkpoint


@pytest.mark.parametrize("how", ["crash", "sigterm"])
def test_a_stopped_run_resumes_bit_identical(tmp_path, monkeypatch, how):
    straight_model, straight = run(tmp_path / "straight", Score())
    model, result = stop_and_resume(tmp_path, monkeypatch, how)
    assert result.steps == straight.steps == 12
    reference, resumed = last(tmp_path / "straight"), last(tmp_path / "resumed")
    for key, value in reference["model"].items():
        assert torch.equal(value, resumed["model"][key]), f"{key} differs after the resume"
    for name in ("pool_k", "pool_h"):
        a, b = reference["stateful"][name], resumed["stateful"][name]
        assert a["rng"] == b["rng"] and all(torch.equal(x, y) for x, y in zip(a["images"], b["images"]))
    for x, y in zip(straight_model.G.state_dict().values(), model.G.state_dict().values()):  # the kept best epoch
        assert torch.equal(x, y)
    assert [h["val_score"] for h in result.history] == [h["val_score"] for h in straight.history]


def test_the_check_fails_when_the_pools_are_not_restored(tmp_path, monkeypatch):
    run(tmp_path / "straight", Score())
    stop_and_resume(tmp_path, monkeypatch, "crash", drop_pools=True)
    reference, resumed = last(tmp_path / "straight")["model"], last(tmp_path / "resumed")["model"]
    assert any(not torch.equal(reference[k], resumed[k]) for k in reference if k.startswith("G."))


MIL_CFG = VirtualIHCConfig(mil_width=4, mil_layers=(1, 1, 1, 1), mil_input_size=16, mil_epochs=2, mil_lr=0.05,
                           mil_batch_size=2, mil_top_k=2, seed=3)
# near-identical instances: one large step reorders a bag's probabilities, so the selection depends on the weights
BAGS = list(np.clip(128 + RNG.normal(0, 4, (8, 4, 16, 16, 3)), 0, 255).astype(np.uint8))
BAG_LABELS = [i % 2 for i in range(8)]


def run_mil(folder, monkeypatch, stop_at: int | None = None):
    """Top-k MIL on 6 + 2 bags; SIGTERM during the ``stop_at``-th validation stops it after the next step."""
    from biomedai.methods.virtual_ihc import mil

    calls, scores = [0], mil.bag_scores

    def scores_then_stop(probs, labels):
        calls[0] += 1
        if calls[0] == stop_at:
            os.kill(os.getpid(), signal.SIGTERM)
        return scores(probs, labels)

    monkeypatch.setattr(mil, "bag_scores", scores_then_stop)
    return mil.train_mil(BAGS[:6], BAG_LABELS[:6], BAGS[6:], BAG_LABELS[6:], MIL_CFG, output_dir=folder)


@pytest.mark.parametrize("drop_selection", [False, True])
def test_mil_resumed_mid_epoch_trains_on_the_same_selection(tmp_path, monkeypatch, drop_selection):
    """A MIL epoch picks its instances with the weights it began with; resumed after its first step it must train
    on that selection again, not on one the updated weights pick (dropping it from the checkpoint must show)."""
    straight = run_mil(tmp_path / "straight", monkeypatch)
    with pytest.raises(TrainingInterrupted):
        run_mil(tmp_path / "resumed", monkeypatch, stop_at=1)
    state = last(tmp_path / "resumed")
    assert (state["epoch"], state["global_step"], state["batches_done"]) == (1, 7, 1)  # 6 steps an epoch
    if drop_selection:
        del state["stateful"]
        save_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.pt", state)
    monkeypatch.setenv(RESUME_ENV, "1")
    resumed = run_mil(tmp_path / "resumed", monkeypatch)
    assert resumed.steps == straight.steps == 12
    reference, again = last(tmp_path / "straight")["model"], last(tmp_path / "resumed")["model"]
    same = all(torch.equal(reference[k], again[k]) for k in reference)
    assert same != drop_selection
