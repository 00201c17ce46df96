"""Missing-wedge-aware template matching against a brute-force masked correlation, and its behaviour."""
from __future__ import annotations

import math

import numpy as np
import pytest

from biomedai.data import cryoet_sim as sim
from biomedai.methods.cryoet_cosnet import matching


def _blob(n: int = 16, shift: int = 0) -> np.ndarray:
    z, y, x = np.mgrid[:n, :n, :n] - (n - 1) / 2
    vol = np.exp(-((z - 2) ** 2 + (y + 1 - shift) ** 2 + x ** 2) / 5.0) + 0.7 * np.exp(-((z + 2) ** 2 + (y - 3) ** 2 + (x - 2 + shift) ** 2) / 3.0)
    return vol.astype(np.float32)


@pytest.mark.parametrize("tilt_range", [(-60.0, 60.0), (-45.0, 30.0), None])
def test_constrained_correlation_equals_bruteforce_masked_correlation(tilt_range):
    rng = np.random.default_rng(0)
    support = _blob() + 0.3 * rng.standard_normal((16, 16, 16)).astype(np.float32)
    target = np.roll(_blob(), 1, axis=1) + 0.3 * rng.standard_normal((16, 16, 16)).astype(np.float32)
    band = (1 / 16, 0.4)
    every = matching.constrained_correlation_scores(support[None], target[None], n_rotations=4, seed=3,
                                                    tilt_range_deg=tilt_range, band=band, return_all=True)[0, :, 0]
    rotations = matching.search_rotations(4, seed=3)
    brute = [matching.masked_correlation_bruteforce(support, target, r, tilt_range, band) for r in rotations]
    assert np.allclose(every, brute, atol=2e-4)


def test_wedge_matches_the_simulator_transfer():
    """Frequencies the simulator's WBP transfer keeps are those the analytic wedge calls sampled."""
    n = 32
    cover, _ = sim.wbp_transfer((n, n, n), np.arange(-60, 61, 3.0))
    k = matching.full_frequency_vectors(n)
    inside = matching.wedge_sampled(k, (-60.0, 60.0))
    radius = np.linalg.norm(k, axis=-1)
    clear = (radius > 2.0 / n)                                      # away from the slab-blurred centre
    agree = ((cover > 0.5) == inside)[clear].mean()
    assert agree > 0.95


def test_wedge_aware_matching_separates_similar_classes_at_low_snr():
    """Two classes that differ by a 2-voxel shift of one lobe, SNR 0.05 in the particle band: above chance."""
    a = _blob(32)
    b = _blob(32, shift=2)
    ds = sim.simulate_subtomograms({"a": a, "b": b}, 12, snr=0.05, seed=5)
    supports = np.stack([ds.volumes[ds.labels == 0][0], ds.volumes[ds.labels == 1][0]])
    targets = np.concatenate([ds.volumes[ds.labels == 0][1:], ds.volumes[ds.labels == 1][1:]])
    truth = np.repeat([0, 1], 11)
    aware = matching.constrained_correlation_scores(supports, targets, 24, (-60.0, 60.0), (1 / 32, 0.25))
    acc = (aware.argmax(0) == truth).mean()
    assert acc >= 0.6


def test_predict_classes_picks_the_best_support():
    scores = np.array([[0.1, 0.9], [0.5, 0.2], [0.3, 0.95]])
    classes, best = matching.predict_classes(scores, [0, 1, 1])
    assert classes.tolist() == [1, 1] and best.tolist() == pytest.approx([0.5, 0.95])
    assert math.isclose(float(matching.search_rotations(5)[0].trace()), 3.0)


def test_match_tool_writes_classes_csv(tmp_path):
    """`biomedai tool cryoet_cosnet match`: support folder + MRC targets -> classes.csv and result.json."""
    import json

    from biomedai.cli import main
    from biomedai.io.mrc import write_mrc

    a, b = _blob(32), np.roll(_blob(32), 6, axis=0)
    ds = sim.simulate_subtomograms({"a": a, "b": b}, 4, snr=1.0, seed=0)
    (tmp_path / "support").mkdir()
    (tmp_path / "targets").mkdir()
    write_mrc(ds.volumes[0], tmp_path / "support" / "a.mrc", voxel_size=10.0)
    write_mrc(ds.volumes[4], tmp_path / "support" / "b.mrc", voxel_size=10.0)
    for i in (1, 2, 5, 6):
        write_mrc(ds.volumes[i], tmp_path / "targets" / f"t{i}.mrc", voxel_size=10.0)
    assert main(["tool", "cryoet_cosnet", "match", str(tmp_path / "targets"), "--support", str(tmp_path / "support"),
                 "-o", str(tmp_path / "out"), "--rotations", "8"]) == 0
    rows = (tmp_path / "out" / "classes.csv").read_text().splitlines()
    assert rows[0].startswith("target,predicted_class,best_score,score_a,score_b") and len(rows) == 5
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["metrics"]["method"] == "missing-wedge-aware constrained correlation"
    predicted = result["metrics"]["predicted"]
    assert sum(predicted[f"t{i}.mrc"] == ("a" if i < 4 else "b") for i in (1, 2, 5, 6)) >= 3


def test_match_tool_refuses_a_support_folder_with_one_class(tmp_path):
    from biomedai.cli import main
    from biomedai.io.mrc import write_mrc

    (tmp_path / "support").mkdir()
    write_mrc(np.zeros((32, 32, 32), np.float32) + 1, tmp_path / "support" / "a.mrc", voxel_size=10.0)
    write_mrc(np.zeros((32, 32, 32), np.float32) + 1, tmp_path / "t.mrc", voxel_size=10.0)
    assert main(["tool", "cryoet_cosnet", "match", str(tmp_path / "t.mrc"), "--support", str(tmp_path / "support"),
                 "-o", str(tmp_path / "out")]) == 2
