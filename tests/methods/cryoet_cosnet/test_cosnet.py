"""COS-Net: model shapes and losses, CRF, episodes, tools end to end, bad input."""
from __future__ import annotations

import argparse
import math

import numpy as np
import pytest
import torch

from biomedai.data import cryoet_sim as sim
from biomedai.errors import ConfigError, InvalidInputError
from biomedai.io.mrc import write_mrc
from biomedai.methods.cryoet_cosnet.config import TEST_CLASSES, TRAIN_CLASSES, CosNetConfig
from biomedai.methods.cryoet_cosnet.core import (EpisodeStream, episode_accuracies, plan_episodes,
                                                 ncc_rotation_scores)
from biomedai.methods.cryoet_cosnet.crf import bilateral_message, dense_crf3d
from biomedai.methods.cryoet_cosnet.demo import synthetic_molecules
from biomedai.methods.cryoet_cosnet.model import CosNet, DuSE3d, episode_loss
from biomedai.methods.cryoet_cosnet import CosNetMethod
from biomedai.methods.cryoet_cosnet.inputs import extract_boxes

torch.set_num_threads(1)


def test_split_is_disjoint_and_covers_the_templates():
    assert not set(TRAIN_CLASSES) & set(TEST_CLASSES)
    assert len(TRAIN_CLASSES) == 16 and len(TEST_CLASSES) == 10


@pytest.mark.parametrize("duse,decoder", [(True, True), (False, False)])
def test_model_shapes_and_episode_loss(duse, decoder):
    torch.manual_seed(0)
    model = CosNet(width=4, duse=duse, decoder=decoder, embedding_dim=16)
    f, logits = model.embed(torch.randn(3, 1, 32, 32, 32))
    assert f.shape == (3, 16) and ((logits is None) != decoder)
    if decoder:
        assert logits.shape == (3, 1, 32, 32, 32)
    scores = model.pair_scores(f[:2], f)
    assert scores.shape == (3, 2)
    assert torch.allclose(scores[0, 0], model.final((f[0] - f[0]).abs()).squeeze())
    data = sim.simulate_subtomograms(synthetic_molecules(4), 3, seed=0)
    batch = EpisodeStream(data, ways=3, episodes=2, steps=1).batch(np.random.default_rng(0))
    assert batch["a"].shape == (2, 3, 1, 32, 32, 32)
    assert torch.all(batch["match"].sum(-1) == 1) and torch.all(batch["match"].sum(-2) == 1)
    out = episode_loss(model, batch)
    out["loss"].backward()
    assert ("dice_loss" in out) == decoder and torch.isfinite(out["loss"])


def test_duse_fusion_max_and_add():
    x = torch.randn(2, 4, 5, 5, 5)
    m, a = DuSE3d(4, "max"), DuSE3d(4, "add")
    a.load_state_dict(m.state_dict())
    assert m(x).shape == x.shape
    v = torch.sigmoid(m.fc2(torch.relu(m.fc1(x.mean(dim=(2, 3, 4))))))
    channel = x * v[:, :, None, None, None]
    spatial = x * torch.sigmoid(m.spatial(x))
    with torch.no_grad():
        assert torch.allclose(m(x), torch.maximum(channel, spatial)) and torch.allclose(a(x), channel + spatial)


def test_bilateral_message_matches_brute_force():
    torch.manual_seed(0)
    img = torch.zeros(1, 12, 12, 12)
    img[0, 3:9, 3:9, 3:9] = torch.randn(6, 6, 6)
    q = torch.zeros(1, 12, 12, 12)
    q[0, 3:9, 3:9, 3:9] = torch.rand(6, 6, 6)
    got = bilateral_message(q, img, 1.2, 0.8, levels=40)
    p = torch.stack(torch.meshgrid(*[torch.arange(12.0)] * 3, indexing="ij"), -1).reshape(-1, 3)
    i = img.reshape(-1)
    k = torch.exp(-((p[:, None] - p[None]) ** 2).sum(-1) / (2 * 1.2 ** 2) - (i[:, None] - i[None]) ** 2 / (2 * 0.8 ** 2))
    ref = (k @ q.reshape(-1)).reshape(12, 12, 12)
    assert (got[0] - ref).abs().max() < 0.02 * ref.abs().max()


def test_crf_cleans_a_noisy_probability_map():
    rng = np.random.default_rng(0)
    z, y, x = np.mgrid[:32, :32, :32] - 15.5
    truth = (z ** 2 + y ** 2 + x ** 2) < 8 ** 2
    image = truth + 0.3 * rng.standard_normal(truth.shape)
    prob = np.clip(0.5 + 0.35 * (truth - 0.5) * 2 + 0.3 * rng.standard_normal(truth.shape), 0.01, 0.99)
    q = dense_crf3d(torch.tensor(prob[None], dtype=torch.float32), torch.tensor(image[None], dtype=torch.float32))
    def dice(a, b):
        return 2 * (a & b).sum() / (a.sum() + b.sum())
    assert dice(truth, q[0].numpy() >= 0.5) > dice(truth, prob >= 0.5) + 0.05


def test_episode_protocol_and_accuracy_on_perfect_scores():
    labels = np.repeat(np.arange(5), 6)
    plan = plan_episodes(labels, (2, 4), 50, pool=2, seed=0)
    assert not set(plan.pool_idx) & set(plan.target_idx)
    same = (labels[plan.pool_idx][:, None] == labels[plan.target_idx][None]).astype(float)
    assert episode_accuracies(same, plan, 4).mean() == 1.0
    assert episode_accuracies(-same, plan, 2).mean() == 0.0
    with pytest.raises(InvalidInputError, match="need"):
        plan_episodes(labels, (8,), 5, pool=2)


def test_ncc_baseline_finds_a_rotated_copy():
    mols = synthetic_molecules(3, seed=1)
    data = sim.simulate_subtomograms(mols, 2, snr=math.inf, seed=0)
    scores = ncc_rotation_scores(data.volumes[::2], data.volumes[1::2], n_rotations=40)
    assert np.mean(scores.argmax(0) == np.arange(3)) >= 2 / 3


def test_extract_boxes_and_coordinates_outside():
    tomo = np.arange(40 * 50 * 60, dtype=np.float32).reshape(40, 50, 60)
    boxes = extract_boxes(tomo, np.array([[30.0, 25, 20]]), 8)
    assert boxes.shape == (1, 8, 8, 8) and boxes[0, 4, 4, 4] == tomo[20, 25, 30]
    edge = extract_boxes(tomo, np.array([[0.0, 0, 0]]), 8)
    assert edge[0, 4, 4, 4] == tomo[0, 0, 0] and edge[0, 0, 0, 0] == pytest.approx(tomo.mean())
    with pytest.raises(InvalidInputError, match=r"particle 1 .* outside the tomogram"):
        extract_boxes(tomo, np.array([[1.0, 1, 1], [70.0, 1, 1]]), 8)


def test_config_validation_names_the_key():
    with pytest.raises(ConfigError, match="duse_fusion"):
        CosNetConfig.from_dict({"duse_fusion": "mul"})
    with pytest.raises(ConfigError, match="eval_ways"):
        CosNetConfig.from_dict({"eval_ways": [1]})


def _ns(**kw):
    base = {"config": None, "set": []}
    base.update(kw)
    return argparse.Namespace(**base)


def test_tools_end_to_end(tmp_path, capsys):
    """simulate -> train (a few steps) -> extract -> classify / segment / evaluate, and bad inputs."""
    mols = synthetic_molecules(4, seed=2)
    struct = tmp_path / "structures"
    struct.mkdir()
    for name, vol in mols.items():
        write_mrc(vol, struct / f"{name}.mrc", voxel_size=10.0)
    method = CosNetMethod({"width": 4, "embedding_dim": 16, "steps": 2, "steps_per_epoch": 2, "train_ways": 2,
                           "episodes_per_step": 1, "device": "cpu", "eval_episodes": 20, "eval_ways": [2],
                           "support_pool": 2, "crf_iterations": 1, "dice_targets_per_class": 2})
    parser = method.tool_parser("t")
    assert method.run_tool(parser.parse_args(["simulate", str(struct), "-o", str(tmp_path / "sim"),
                                              "--n-per-class", "5", "--snr", "2", "--mrc"])) == 0
    assert (tmp_path / "sim" / "particles.star").is_file()
    assert method.run_tool(parser.parse_args(["simulate", str(struct), "-o", str(tmp_path / "tomo"), "--tomogram",
                                              "40", "80", "80", "--n-particles", "4"])) == 0
    run = method.train(tmp_path / "sim", tmp_path / "run")
    weights = tmp_path / "run" / "weights.pt"
    assert weights.is_file() and run.metrics["steps"] == 2
    # extract from the packed tomogram at its own coordinates
    assert method.run_tool(parser.parse_args(["extract", str(tmp_path / "tomo" / "tomogram.mrc"),
                                              str(tmp_path / "tomo" / "particles.star"), "-o",
                                              str(tmp_path / "ext")])) == 0
    extracted = sorted((tmp_path / "ext").glob("particle_*.mrc"))
    assert len(extracted) >= 2
    # support folder: one MRC per class (1 shot) and a sub-folder with 2 shots (K = 2)
    support = tmp_path / "support"
    support.mkdir()
    names = list(mols)
    subs = sorted((tmp_path / "sim" / "subtomograms").iterdir())
    for sub in subs[:3]:
        write_mrc(_first(sub), support / f"{sub.name}.mrc", voxel_size=10.0)
    (support / subs[3].name).mkdir()
    for i, f in enumerate(sorted(subs[3].glob("*.mrc"))[:2]):
        (support / subs[3].name / f"shot{i}.mrc").write_bytes(f.read_bytes())
    assert method.run_tool(parser.parse_args(["classify", str(tmp_path / "ext"), "-w", str(weights), "--support",
                                              str(support), "-o", str(tmp_path / "cls")])) == 0
    rows = (tmp_path / "cls" / "classes.csv").read_text().splitlines()
    assert rows[0].startswith("target,predicted_class,p_") and len(rows) == len(extracted) + 1
    assert {r.split(",")[1] for r in rows[1:]} <= set(names)
    assert method.run_tool(parser.parse_args(["segment", str(extracted[0]), "-w", str(weights), "-o",
                                              str(tmp_path / "seg"), "--set", "crf_iterations=2"])) == 0
    assert (tmp_path / "seg" / "masks" / f"{extracted[0].stem}_mask.mrc").is_file()
    assert method.run_tool(parser.parse_args(["evaluate", str(tmp_path / "sim"), "-w", str(weights), "-o",
                                              str(tmp_path / "ev")])) == 0
    assert "2way-1shot" in (tmp_path / "ev" / "tables.md").read_text()
    # bad input: one-class support, wrong box size, non-cubic box, odd MRC header, outside coordinates
    one = tmp_path / "one"
    one.mkdir()
    (one / "a.mrc").write_bytes((support / f"{subs[0].name}.mrc").read_bytes())
    with pytest.raises(InvalidInputError, match=r"one.*1 class\(es\).*at least 2"):
        method.run_tool(parser.parse_args(["classify", str(extracted[0]), "-w", str(weights), "--support", str(one),
                                           "-o", str(tmp_path / "x")]))
    write_mrc(np.zeros((16, 16, 16), np.float32), tmp_path / "small.mrc", voxel_size=10.0)
    with pytest.raises(InvalidInputError, match=r"small.mrc: subtomogram box is 16\^3"):
        method.run_tool(parser.parse_args(["segment", str(tmp_path / "small.mrc"), "-w", str(weights), "-o",
                                           str(tmp_path / "x")]))
    write_mrc(np.zeros((32, 30, 32), np.float32), tmp_path / "flat.mrc", voxel_size=10.0)
    with pytest.raises(InvalidInputError, match="flat.mrc: subtomogram box is not cubic: 32x30x32"):
        method.run_tool(parser.parse_args(["segment", str(tmp_path / "flat.mrc"), "-w", str(weights), "-o",
                                           str(tmp_path / "x")]))
    broken = tmp_path / "broken.mrc"
    raw = bytearray((support / f"{subs[0].name}.mrc").read_bytes())
    raw[208:212] = b"XXXX"  # the MAP id
    broken.write_bytes(bytes(raw))
    with pytest.raises(InvalidInputError, match="broken.mrc"):
        method.run_tool(parser.parse_args(["segment", str(broken), "-w", str(weights), "-o", str(tmp_path / "x")]))
    (tmp_path / "far.csv").write_text("x,y,z\n10,10,10\n500,10,10\n")
    with pytest.raises(InvalidInputError, match="far.csv: particle 1 .* outside"):
        method.run_tool(parser.parse_args(["extract", str(tmp_path / "tomo" / "tomogram.mrc"),
                                           str(tmp_path / "far.csv"), "-o", str(tmp_path / "x")]))


def _first(folder):
    from biomedai.io.mrc import read_mrc

    return read_mrc(sorted(folder.glob("*.mrc"))[0]).array
