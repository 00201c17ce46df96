"""The 3-D Mask R-CNN (losses, outputs), sliding-block inference, slice linking and the segmentation scores."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from biomedai.methods.dbt_maskrcnn.baselines import link_slices, max_diameter_slice  # noqa: E402
from biomedai.methods.dbt_maskrcnn.config import LIGHT_MODEL, DbtMaskRcnnConfig  # noqa: E402
from biomedai.methods.dbt_maskrcnn.data import ViewRecord  # noqa: E402
from biomedai.methods.dbt_maskrcnn.evaluate import lesion_segmentation  # noqa: E402
from biomedai.methods.dbt_maskrcnn.inference import (VolumeDetections, detect_in_blocks, full_masks,  # noqa: E402
                                                     pad_to_multiple)
from biomedai.methods.dbt_maskrcnn.model import MaskRCNN3d, paste_mask  # noqa: E402


def _tiny() -> DbtMaskRcnnConfig:
    return DbtMaskRcnnConfig.from_dict(dict(LIGHT_MODEL, widths=(4, 8, 8, 8, 8), fpn_channels=8, mask_channels=8,
                                            box_hidden=16, groups=2))


def test_light_model_losses_and_detections():
    torch.manual_seed(0)
    model = MaskRCNN3d(_tiny())
    x = torch.randn(2, 1, 16, 32, 32)
    masks = torch.zeros(1, 16, 32, 32, dtype=torch.bool)
    masks[0, 4:12, 8:20, 10:22] = True
    targets = [{"boxes": torch.tensor([[4.0, 8, 10, 12, 20, 22]]), "masks": masks},
               {"boxes": torch.zeros(0, 6), "masks": torch.zeros(0, 16, 32, 32, dtype=torch.bool)}]
    losses = model(x, targets)
    assert set(losses) == {"rpn_cls", "rpn_box", "cls", "box", "mask"}
    total = sum(losses.values())
    assert torch.isfinite(total) and losses["mask"] > 0
    total.backward()
    assert model.mask_head[0].weight.grad is not None and model.backbone.stem[0].weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        out = model(x[:1])
    assert out[0]["boxes"].shape[1] == 6 and out[0]["mask_probs"].shape[1:] == (16, 28, 28)
    assert torch.all(out[0]["boxes"][:, 3:] <= torch.tensor([16.0, 32, 32]))


def test_paper_size_model_builds_with_resnet50_fpn():
    model = MaskRCNN3d(DbtMaskRcnnConfig())
    n = sum(p.numel() for p in model.backbone.parameters())
    assert 4e7 < n < 2e8  # a 3-D ResNet-50-FPN: about three times the 2-D one's 2.6e7


def test_pad_and_paste():
    x = torch.zeros(1, 1, 5, 9, 17)
    assert pad_to_multiple(x, (4, 8, 8), 0.0).shape[2:] == (8, 16, 24)
    probs = torch.ones(4, 4, 4)
    out = paste_mask(probs, torch.tensor([1.0, 2.0, 3.0, 3.0, 6.0, 9.0]), (4, 8, 8))
    assert out.sum() == 2 * 4 * 5 and out[1:3, 2:6, 3:8].all()


def test_detect_in_blocks_maps_and_owns_detections():
    """A fake detector that finds every object fully inside its block: each object comes out once, in place."""
    volume = np.zeros((8, 40, 40), np.float32)
    objects = [(2, 3, 3, 6, 9, 9), (1, 17, 18, 5, 23, 24), (3, 30, 2, 7, 36, 8)]  # the middle one sits on seams
    for o in objects:
        volume[o[0]:o[3], o[1]:o[4], o[2]:o[5]] = 1.0

    calls = []

    def detect(block: np.ndarray) -> VolumeDetections:
        calls.append(block.shape)
        from scipy import ndimage
        lab, _ = ndimage.label(block > 0)
        boxes = [[s.start for s in sl] + [s.stop for s in sl] for sl in ndimage.find_objects(lab)
                 if all(s.start > 0 or n == full for s, n, full in zip(sl, block.shape, volume.shape))]
        return VolumeDetections(np.asarray(boxes, np.float32).reshape(-1, 6), np.ones(len(boxes), np.float32),
                                [np.ones(tuple(int(b[3 + a] - b[a]) for a in range(3)), bool) for b in boxes])

    found = detect_in_blocks(detect, volume, patch=(8, 24, 24), margin=(0, 6, 6))
    assert len(calls) > 1
    got = sorted(tuple(int(v) for v in b) for b in found.boxes)
    assert got == sorted(objects)
    stack = full_masks(found, volume.shape)
    assert np.array_equal(stack.any(0), volume > 0)


def test_link_slices_builds_3d_boxes():
    m = np.zeros((10, 10), bool)
    m[2:5, 2:5] = True
    det = {"boxes": np.array([[2.0, 2, 5, 5]]), "scores": np.array([0.5]), "masks": m[None]}
    far = {"boxes": np.array([[6.0, 6, 9, 9]]), "scores": np.array([0.9]), "masks": np.zeros((1, 10, 10), bool)}
    none = {"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "masks": np.zeros((0, 10, 10), bool)}
    per_slice = [none, det, dict(det, scores=np.array([0.8])), det, none, far]
    found = link_slices(per_slice, (6, 10, 10))
    boxes = {tuple(b.astype(int)): s for b, s in zip(found.boxes, found.scores)}
    assert boxes == {(1, 2, 2, 4, 5, 5): pytest.approx(0.8), (5, 6, 6, 6, 9, 9): pytest.approx(0.9)}


def test_max_diameter_slice():
    mask = np.zeros((5, 20, 20), bool)
    mask[1, 5:8, 5:8] = True
    mask[3, 2:12, 9:11] = True
    mask[4, 4:12, 4:12] = True  # larger area but a shorter extent than slice 3
    assert max_diameter_slice(mask, (1.0, 0.5, 0.5)) == 3


def test_lesion_segmentation_scores():
    mask = np.zeros((6, 12, 12), bool)
    mask[1:5, 2:10, 2:10] = True
    rec = ViewRecord("v", "b", "CC", "test", np.zeros(mask.shape, np.float32), mask,
                     np.array([1, 2, 2, 5, 10, 10], np.float32), (1.0, 1.0, 1.0), {})
    half = np.zeros((4, 8, 8), bool)
    half[:2] = True
    found = {"v": VolumeDetections(np.array([[1, 2, 2, 5, 10, 10]], np.float32), np.array([0.9], np.float32), [half])}
    s = lesion_segmentation([rec], found)["v"]
    assert s["fnr"] == pytest.approx(0.5) and s["dice"] == pytest.approx(2 * 128 / (128 + 256))
    missed = {"v": VolumeDetections.empty()}
    assert lesion_segmentation([rec], missed)["v"] == {"dice": 0.0, "fnr": 1.0}


def test_sfcm_segments_a_bright_blob_in_noise():
    from biomedai.methods.dbt_maskrcnn.baselines import sfcm_segment
    rng = np.random.default_rng(0)
    zz, yy, xx = np.mgrid[:12, :20, :20]
    truth = (zz - 6) ** 2 / 16 + ((yy - 10) ** 2 + (xx - 10) ** 2) / 36 <= 1
    crop = truth * 1.0 + rng.normal(0, 0.35, truth.shape)
    seg = sfcm_segment(crop)
    dice = 2 * (seg & truth).sum() / (seg.sum() + truth.sum())
    plain = crop > 0.5
    assert dice > 0.85 and dice > 2 * (plain & truth).sum() / (plain.sum() + truth.sum())  # the spatial term helps
