"""The CE simulator's known answers: CD classes match their degradations and labels; video lesion segments."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.methods.capsule_mtcsn import simulator as sim
from biomedai.methods.capsule_mtcsn.palette import TISSUE_CLASSES


@pytest.mark.parametrize("cd", ["clear", "blur", "invisible"])
def test_frame_labels_follow_the_clearness_class(cd: str) -> None:
    rng = np.random.default_rng(3)
    for _ in range(3):
        frame, truth = sim.simulate_frame(rng, size=64, cd=cd, lesion=True)
        assert frame.shape == (64, 64, 3) and truth.mask.max() < len(TISSUE_CLASSES)
        assert truth.mask[0, 0] == sim.BG and frame[0, 0].max() == 0          # outside the lens circle
        counts = np.bincount(truth.mask.ravel(), minlength=8) / truth.mask.size
        if cd == "clear":
            assert counts[sim.BLUR_TISSUE] == 0 and counts[sim.CLEAR_TISSUE] > 0.3
        elif cd == "blur":
            assert counts[sim.CLEAR_TISSUE] == 0 and counts[sim.BLUR_TISSUE] > 0.3
        elif truth.degradation == "dark":
            assert counts[sim.BG] == 1.0 and frame.mean() < 20
        else:
            assert counts[sim.BUBBLE_INVISIBLE] + counts[sim.EXCRETA] > 0.4


def test_blur_lowers_sharpness() -> None:
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    scene_a, scene_b = sim.simulate_scene(rng_a, 96), sim.simulate_scene(rng_b, 96)
    sharp, _ = sim.render_frame(rng_a, scene_a, 96, (5, 5), "clear")
    blurred, _ = sim.render_frame(rng_b, scene_b, 96, (5, 5), "blur", "defocus")
    from scipy import ndimage

    # edges at a scale above the sensor noise (added after the blur, as in a camera)
    grad = [np.abs(np.diff(ndimage.gaussian_filter(f[20:76, 20:76].astype(float).mean(-1), 1.0), axis=1)).mean()
            for f in (sharp, blurred)]
    assert grad[1] < 0.6 * grad[0]


def test_frame_set_and_video_truth() -> None:
    images, cds, masks, truths = sim.simulate_frames(12, 48, seed=1)
    assert images.shape == (12, 48, 48, 3) and masks.shape == (12, 48, 48) and len(truths) == 12
    assert [t.cd_index for t in truths] == cds.tolist()
    truth = sim.VideoTruth(fps=4.0)
    frames = list(sim.simulate_video_frames(300, size=40, seed=2, lesion_rate=0.6, truth=truth))
    assert len(frames) == len(truth.cd) == 300
    segments = truth.lesion_segments()
    assert segments, "a lesion-rich video has lesion segments"
    for start, end in segments:
        assert all(truth.lesion_fraction[i] >= 0.005 and truth.cd[i] != "invisible" for i in range(start, end + 1))
    assert set(truth.cd) == {"clear", "blur", "invisible"}
