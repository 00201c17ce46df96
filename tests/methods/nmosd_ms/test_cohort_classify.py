"""The SIMULATED NMOSD/MS cohort (published differences) and one fold of classifier training with the engine."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from biomedai.methods.nmosd_ms.classify import train_and_predict
from biomedai.methods.nmosd_ms.config import NmosdMsConfig
from biomedai.methods.nmosd_ms.wmh import lesion_statistics


@pytest.mark.slow
def test_simulated_cohort_has_the_published_differences(shared_data):
    from biomedai.methods.nmosd_ms.cohort import load_template, simulate_cohort

    masks = shared_data / "ms_lesions" / "lesion_masks_mni"
    if not masks.is_dir():
        pytest.skip("ms_lesions not present")
    t = load_template(masks)
    stats = {0: [], 1: []}
    for _, label, flair, lesion in simulate_cohort(t, 12, 12, seed=2):
        assert flair.shape == t.brain.shape and not flair[~t.brain].any()
        stats[label].append(lesion_statistics(lesion, t.brain, t.voxel_ml))
    ms_vol = np.mean([s["wmh_ml"] for s in stats[0]]); nm_vol = np.mean([s["wmh_ml"] for s in stats[1]])
    ms_n = np.mean([s["lesion_count"] for s in stats[0]]); nm_n = np.mean([s["lesion_count"] for s in stats[1]])
    assert ms_vol > nm_vol and ms_n > 2 * nm_n


def test_one_fold_trains_and_predicts(tmp_path):
    rng = np.random.default_rng(0)
    vols = rng.normal(0, 1, (8, 20, 20, 20)).astype(np.float32)
    labels = np.array([0, 1] * 4)
    cfg = NmosdMsConfig(arch="twoview-r18", crop_side=18, resize_side=20, epochs=1, batch_size=4)
    r = train_and_predict(vols, labels, np.arange(6), np.arange(6, 8), cfg, tmp_path)
    assert r["pred"].shape == (2,) and r["epochs"] == 1 and 0 <= r["prob"].min() <= r["prob"].max() <= 1


class _LooksAtOneCorner(torch.nn.Module):
    """A fixed 'classifier' whose NMOSD logit is the mean of one corner cube: occlusion must light up there."""

    def forward(self, x):
        s = x[:, 0, :8, :8, :8].mean(dim=(1, 2, 3))
        return torch.stack([torch.zeros_like(s), s], 1)


def test_occlusion_map_finds_the_evidence(tmp_path):
    from biomedai.methods.nmosd_ms.explain import occlusion_map, write_map

    vol = np.ones((24, 24, 24), np.float32) * 2
    heat = occlusion_map(_LooksAtOneCorner(), vol, patch=8, stride=8)
    assert heat[:8, :8, :8].min() > 0.1 and np.abs(heat[8:, 8:, 8:]).max() < 1e-6
    files = write_map(heat, vol, tmp_path / "occlusion")
    assert all(f.is_file() for f in files)
