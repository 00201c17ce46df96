"""COS-Net training pieces of the bundled-model recipe: input binning, wedge-preserving augmentation, the
cosine schedule over a time budget, best-on-validation checkpoints, and mixed-SNR sets."""
from __future__ import annotations

import math
import time
import types

import numpy as np
import pytest
import torch

from biomedai.data import cryoet_sim as sim
from biomedai.errors import ConfigError, InvalidInputError
from biomedai.methods.cryoet_cosnet.config import CosNetConfig
from biomedai.methods.cryoet_cosnet.core import (WEDGE_PRESERVING_FLIPS, EpisodeStream, budget_schedule, load_model,
                                                 rotate_180, train_cosnet, train_supervised)
from biomedai.methods.cryoet_cosnet.matching import full_frequency_vectors, wedge_sampled
from biomedai.methods.cryoet_cosnet.model import CosNet

torch.set_num_threads(1)


def test_binned_network_keeps_the_box_size_of_its_masks_and_costs_less():
    torch.manual_seed(0)
    full, binned = CosNet(width=4, embedding_dim=8), CosNet(width=4, embedding_dim=8, input_binning=2)
    f, logits = binned.embed(torch.randn(2, 1, 32, 32, 32))
    assert f.shape == (2, 8) and logits.shape == (2, 1, 32, 32, 32)
    n_full = sum(p.numel() for p in full.feature.parameters())
    n_binned = sum(p.numel() for p in binned.feature.parameters())
    assert n_binned * 7 < n_full            # the flattened 8^3 -> 4^3 latent: 8x fewer head weights
    with pytest.raises(ConfigError, match="input_binning"):
        CosNetConfig(input_binning=3).validate()


def test_wedge_preserving_flips_are_rotations_that_keep_the_missing_wedge():
    k = full_frequency_vectors(12, real=False)                 # [..., 3] in (z, y, x) order
    wedge = wedge_sampled(k, (-60.0, 60.0))
    assert not wedge.all() and wedge.any()
    for axes in WEDGE_PRESERVING_FLIPS:
        assert len(axes) in (0, 2)                            # two flips = a proper 180-degree rotation
        flipped = np.flip(wedge, axes) if axes else wedge
        # a flip of the volume maps frequency k to -k along those axes; on the FFT grid that is a flip + roll
        rolled = np.roll(flipped, [1] * len(axes), axis=axes) if axes else flipped
        np.testing.assert_array_equal(rolled, wedge)
    # an odd number of flips would mirror the particle: not offered
    vols = np.arange(2 * 4 ** 3, dtype=np.float32).reshape(2, 4, 4, 4)
    out = rotate_180(vols, np.array([0, 1]))
    np.testing.assert_array_equal(out[0], vols[0])
    np.testing.assert_array_equal(out[1], vols[1][:, ::-1, ::-1])


def test_augmented_episodes_flip_volume_and_mask_together():
    rng = np.random.default_rng(0)
    vols = rng.normal(size=(6, 8, 8, 8)).astype(np.float32)
    data = sim.SubtomogramSet(vols, vols > 0.5, np.repeat([0, 1, 2], 2), ["a", "b", "c"], np.zeros((6, 3, 3)),
                              np.zeros(6), math.inf, {})
    batch = EpisodeStream(data, 3, 2, 1, seed=0, augment=True).batch(np.random.default_rng(1))
    np.testing.assert_array_equal(batch["a"].numpy() > 0.5, batch["ma"].numpy())
    np.testing.assert_array_equal(batch["b"].numpy() > 0.5, batch["mb"].numpy())


def test_training_stops_when_the_cpu_budget_is_spent(tmp_path):
    # the engine's CPU budget (train_cpu_seconds) stops training at the step that spends it, within the first
    # 1000-step epoch, for COS-Net and the supervised baseline alike
    cfg = CosNetConfig(box=16, width=4, embedding_dim=8, train_ways=3, episodes_per_step=1, steps=10_000,
                       steps_per_epoch=1_000, device="cpu", amp=False, lr_schedule="cosine", train_cpu_seconds=0.5)
    _, info = train_cosnet(cfg, _toy_set(4, 0))
    assert 1 <= info["steps"] < 1_000 and info["epochs"] == 1 and info["train_cpu_seconds"] < 30
    _, sinfo = train_supervised(cfg, _toy_set(4, 0))
    assert 1 <= sinfo["steps"] < 10_000


def test_cosine_schedule_follows_the_time_budget():
    spent = {"f": 0.0}
    cfg = CosNetConfig(lr_schedule="cosine", train_seconds=60.0)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = budget_schedule(cfg)(opt, types.SimpleNamespace(budget_fraction=lambda: spent["f"]))
    for _ in range(30):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(1.0)    # warm-up done, no time spent
    spent["f"] = 0.5
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.02 + 0.98 * 0.5, rel=1e-6)
    spent["f"] = 1.5
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.02)
    assert budget_schedule(CosNetConfig()) is None
    untimed = budget_schedule(CosNetConfig(lr_schedule="cosine", steps=100))(
        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0), types.SimpleNamespace(budget_fraction=lambda: 0.0))
    assert untimed.lr_lambdas[0](50) == pytest.approx(0.02 + 0.98 * 0.5)  # without a budget: over cfg.steps


def _toy_set(n_per_class: int, seed: int) -> sim.SubtomogramSet:
    """Four 16^3 classes (a ball, a bar along x, y or z) with noise and random 180-degree turns."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[:16, :16, :16] - 7.5
    shapes = [(x ** 2 + y ** 2 + z ** 2) < 25, (abs(y) < 2) & (abs(z) < 2) & (abs(x) < 7),
              (abs(x) < 2) & (abs(z) < 2) & (abs(y) < 7), (abs(x) < 2) & (abs(y) < 2) & (abs(z) < 7)]
    labels = np.repeat(np.arange(4), n_per_class)
    masks = np.stack([shapes[c] for c in labels])
    vols = sim.zscore(masks + rng.normal(0, 0.5, masks.shape)).astype(np.float32)
    return sim.SubtomogramSet(vols, masks, labels, ["ball", "x", "y", "z"], np.zeros((len(labels), 3, 3)),
                              np.zeros(len(labels)), math.inf, {})


def test_training_keeps_the_best_checkpoint_on_validation_data(tmp_path):
    cfg = CosNetConfig(box=16, width=4, embedding_dim=16, input_binning=2, train_ways=3, episodes_per_step=2,
                       steps=12, steps_per_epoch=4, device="cpu", amp=False, augment=True, lr_schedule="cosine")
    model, info = train_cosnet(cfg, _toy_set(8, 0), tmp_path / "run", val_data=_toy_set(6, 1))
    assert info["monitor"] == "val_acc" and info["steps"] == 12 and 1 <= info["best_epoch"] <= 3
    assert 0.0 <= info["best_metric"] <= 1.0
    reloaded = load_model(tmp_path / "run", CosNetConfig())            # the model folder holds the best weights
    assert reloaded.binning == 2
    x = torch.from_numpy(_toy_set(1, 2).volumes[:, None])
    with torch.no_grad():
        torch.testing.assert_close(reloaded.embed(x)[0], model.embed(x)[0])
    sup, sinfo = train_supervised(cfg.replace(steps=8), _toy_set(8, 0), tmp_path / "sup", val_data=_toy_set(6, 1))
    assert sinfo["steps"] == 8 and sinfo["best_epoch"] >= 1 and sup.body.binning == 2


def test_concatenate_and_take_keep_particles_with_their_truth():
    a, b = _toy_set(2, 0), _toy_set(3, 1)
    b.snr = 0.1
    both = sim.SubtomogramSet.concatenate([a, b])
    assert len(both.labels) == 20 and math.isnan(both.snr)
    np.testing.assert_array_equal(both.effective_snr, [math.inf] * 8 + [0.1] * 12)
    order = np.random.default_rng(0).permutation(20)
    mixed = both.take(order)
    np.testing.assert_array_equal(mixed.volumes[3], both.volumes[order[3]])
    np.testing.assert_array_equal(mixed.masks[3], both.masks[order[3]])
    assert mixed.labels[3] == both.labels[order[3]]
    c = _toy_set(2, 0)
    c.class_names = ["w", "x", "y", "z"]
    with pytest.raises(InvalidInputError, match="same classes"):
        sim.SubtomogramSet.concatenate([a, c])
