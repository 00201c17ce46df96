"""The 3-D path: U-Net shapes, patches, spur-length choice and a tiny end-to-end fold on synthetic tubes."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.methods.vessels_biosegment.datasets import VolumeStack, find_vesselnn_stacks
from biomedai.methods.vessels_biosegment.volume import (
    VolumePatches,
    VolumeRecipe,
    choose_length_settings,
    evaluate_stack,
    leave_one_out_folds,
    length_densities,
    measurement_mask,
    normalise_stack,
    train_volume_segmentation,
    volume_probability,
)

torch = pytest.importorskip("torch")


def tube_stack(seed: int, shape: tuple[int, int, int] = (6, 40, 40)) -> VolumeStack:
    """Bright straight tubes along x and y on noise, labelled exactly."""
    rng = np.random.default_rng(seed)
    label = np.zeros(shape, bool)
    for _ in range(3):
        y = int(rng.integers(4, shape[1] - 4))
        label[1:5, y - 1:y + 2, :] = True
        x = int(rng.integers(4, shape[2] - 4))
        label[1:5, :, x - 1:x + 2] = True
    image = 0.7 * label + 0.15 * rng.random(shape)
    return VolumeStack(f"tubes{seed}", image.astype(np.float32), label, (5.0, 1.0, 1.0), "synthetic")


def test_length_density_of_a_known_line() -> None:
    mask = np.zeros((3, 20, 40), bool)
    mask[1, 10, 5:35] = True   # 29 um of centreline (30 pixels of 1 um)
    d3, d2 = length_densities(mask, (5.0, 1.0, 1.0))
    assert d3 == pytest.approx(29e-3 / (3 * 20 * 40 * 5e-9), rel=1e-6)
    assert d2 == pytest.approx(29e-3 / (20 * 40 * 1e-6), rel=1e-6)


def test_spur_choice_removes_the_spurs_the_truth_lacks() -> None:
    truth = np.zeros((1, 40, 60), bool)
    truth[0, 20, 5:55] = True
    noisy = truth.copy()
    for x in (10, 20, 30, 40, 50):          # five 6-um side branches
        noisy[0, 14:20, x] = True
    chosen = choose_length_settings([noisy.astype(np.float32)], 0.5, [truth], [(1.0, 1.0, 1.0)],
                                    min_object_voxels=1, smooth_grid=(0.0,))
    assert chosen["spur_3d_um"] >= 10.0 and chosen["spur_mip_um"] >= 10.0
    assert chosen["validation_errors"]["3d"]["0/0"] > 40.0
    assert chosen["validation_errors"]["3d"]["0/10"] < chosen["validation_errors"]["3d"]["0/0"] / 2


def hollow_tube(cavities: bool) -> tuple[np.ndarray, np.ndarray]:
    """A solid 3-D tube along x (manual label) and a prediction of it with one-voxel cavities inside."""
    truth = np.zeros((9, 30, 80), bool)
    truth[2:7, 10:19, 5:75] = True
    prob = truth.astype(np.float32) * 0.9
    if cavities:
        for x in range(10, 70, 6):
            prob[4, 14, x] = 0.1
            prob[3, 13, x + 2] = 0.1
    return truth, prob


def test_cavities_of_a_noisy_mask_inflate_the_skeleton_and_measurement_mask_removes_them() -> None:
    spacing = (5.0, 1.0, 1.0)
    truth, prob = hollow_tube(cavities=True)
    manual, _ = length_densities(truth, spacing)
    raw, _ = length_densities(prob >= 0.5, spacing)
    filled, _ = length_densities(measurement_mask(prob, 0.5, spacing, min_object_voxels=1), spacing)
    assert raw > 2.0 * manual                 # closed surfaces around every cavity
    assert abs(filled - manual) / manual < 0.05
    smoothed = measurement_mask(hollow_tube(cavities=False)[1], 0.5, spacing, smooth_um=1.0, min_object_voxels=1)
    assert abs(int(smoothed.sum()) - int(truth.sum())) < 0.1 * truth.sum()   # 1 um hardly moves the boundary


def test_patches_are_augmented_copies_of_the_training_region() -> None:
    s = tube_stack(0)
    ds = VolumePatches([s.image], [s.label.astype(np.float32)], (4, 16, 16), length=5)
    x, y = ds[0]
    assert x.shape == (1, 4, 16, 16) and y.shape == (1, 4, 16, 16)
    assert set(np.unique(y.numpy())) <= {0.0, 1.0}
    with pytest.raises(ValueError):
        VolumePatches([s.image], [s.label], (8, 16, 16), length=1)


def test_tiled_probability_keeps_the_stack_shape() -> None:
    from biomedai.methods.vessels_biosegment.volume import build_unet3d

    net = build_unet3d((4, 8), ((1, 2, 2),))
    prob = volume_probability(net, normalise_stack(np.random.default_rng(0).random((5, 37, 41))), tile=(4, 16, 16))
    assert prob.shape == (5, 37, 41) and 0.0 <= prob.min() and prob.max() <= 1.0


def test_a_tiny_fold_learns_tubes(tmp_path) -> None:
    torch.manual_seed(0)
    stacks = [tube_stack(i) for i in range(3)]
    recipe = VolumeRecipe(channels=(8, 16), strides=((1, 2, 2),), patch=(4, 16, 16), tile=(4, 32, 32),
                          batch_size=4, steps_per_epoch=30, epochs=4, lr=1e-2, max_minutes=1.0,
                          min_object_voxels=5)
    (train_idx, test_idx), = [f for f in leave_one_out_folds(3) if f[1] == 2]
    trained = train_volume_segmentation([stacks[j] for j in train_idx], recipe, tmp_path)
    row = evaluate_stack(trained["model"], stacks[test_idx], threshold=trained["threshold"], settings=trained,
                         recipe=recipe)
    assert row["dice_3d"] > 0.7, row       # an untrained network gives ~0.2 on these stacks
    assert row["manual_mm_per_mm3"] > 0 and np.isfinite(row["pct_error_3d"])


def test_vesselnn_folder_errors(tmp_path) -> None:
    with pytest.raises(InvalidInputError):
        find_vesselnn_stacks(tmp_path)


def test_vesselnn_stacks_on_real_data(shared_data) -> None:
    root = shared_data / "vessels" / "vesselnn"
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    stacks = find_vesselnn_stacks(root)
    assert len(stacks) == 7
    by_name = {s.name: s for s in stacks}
    assert by_name["burgess2014_bbbDisruption"].spacing == (5.0, 0.994, 0.994)
    assert by_name["burgess2014_lowerRes_hiSNR"].image.shape == (26, 320, 320)
    assert all(s.image.shape == s.label.shape and 0.05 < s.label.mean() < 0.5 for s in stacks)
