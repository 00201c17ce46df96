"""3-D anchors, box coding, IoU/NMS and RoIAlign of the DBT Mask R-CNN against brute-force references."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from biomedai.errors import InvalidInputError  # noqa: E402
from biomedai.methods.dbt_maskrcnn.geometry import (BoxCoder3D, anchor_shapes, box_iou_3d, clip_boxes,  # noqa: E402
                                                    grid_anchors, nms_3d, roi_align_3d)
from biomedai.metrics.detection import box_iou  # noqa: E402


def test_anchor_shapes_are_physically_cubic_for_the_spacing():
    shapes = anchor_shapes((16, 32), spacing_zyx=(1.0, 0.25, 0.25))
    mm = shapes * torch.tensor([1.0, 0.25, 0.25])
    assert torch.allclose(mm[:, 0], mm[:, 1]) and torch.allclose(mm[:, 1], mm[:, 2])
    assert shapes[:, 0].tolist() == [4.0, 8.0]
    flat = anchor_shapes((16,), spacing_zyx=(1.0, 0.5, 0.5), aspect_ratios=(1.0, 0.5))
    assert flat[:, 0].tolist() == [8.0, 4.0]
    with pytest.raises(InvalidInputError):
        anchor_shapes((16,), spacing_zyx=(0.0, 0.5, 0.5))


def test_grid_anchors_centres_and_order():
    shapes = anchor_shapes((8, 16), spacing_zyx=(1, 1, 1))
    anchors = grid_anchors((2, 3, 4), (4, 8, 8), shapes)
    assert anchors.shape == (2 * 3 * 4 * 2, 6)
    centres = (anchors[:, :3] + anchors[:, 3:]) / 2
    # cell (1, 2, 3), second shape: index ((1 * 3 + 2) * 4 + 3) * 2 + 1
    k = ((1 * 3 + 2) * 4 + 3) * 2 + 1
    assert centres[k].tolist() == [6.0, 20.0, 28.0]
    assert (anchors[k, 3:] - anchors[k, :3]).tolist() == [16.0, 16.0, 16.0]


def test_box_coding_round_trip_and_known_deltas():
    g = torch.Generator().manual_seed(0)
    refs = torch.rand(50, 3, generator=g) * 50
    refs = torch.cat([refs, refs + 2 + torch.rand(50, 3, generator=g) * 30], 1)
    boxes = torch.rand(50, 3, generator=g) * 50
    boxes = torch.cat([boxes, boxes + 1 + torch.rand(50, 3, generator=g) * 40], 1)
    coder = BoxCoder3D(weights=(10, 10, 10, 5, 5, 5))
    deltas = coder.encode(boxes, refs)
    assert torch.allclose(coder.decode(deltas, refs), boxes, atol=1e-3)
    plain = BoxCoder3D()
    d = plain.encode(torch.tensor([[2.0, 0, 0, 6, 4, 8]]), torch.tensor([[0.0, 0, 0, 4, 4, 4]]))
    # centre shift (2 along z, 2 along x) over the anchor side 4; log of the size ratio (1, 1, 2)
    assert torch.allclose(d, torch.tensor([[0.5, 0.0, 0.5, 0.0, 0.0, float(np.log(2))]]), atol=1e-6)


def test_box_iou_3d_matches_the_metrics_layer():
    rng = np.random.default_rng(1)
    lo = rng.uniform(0, 20, (30, 3))
    boxes = np.concatenate([lo, lo + rng.uniform(1, 15, (30, 3))], 1)
    got = box_iou_3d(torch.tensor(boxes), torch.tensor(boxes[:10])).numpy()
    assert np.allclose(got, box_iou(boxes, boxes[:10]))


def _brute_force_nms(boxes: np.ndarray, scores: np.ndarray, thr: float) -> list[int]:
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    kept: list[int] = []
    for i in order:
        if all(box_iou(boxes[[i]], boxes[[j]])[0, 0] <= thr for j in kept):
            kept.append(i)
    return kept


@pytest.mark.parametrize("thr", [0.1, 0.3, 0.5])
def test_nms_3d_matches_brute_force(thr):
    rng = np.random.default_rng(int(thr * 10))
    lo = rng.uniform(0, 12, (80, 3))
    boxes = np.concatenate([lo, lo + rng.uniform(3, 12, (80, 3))], 1)
    scores = rng.uniform(size=80)
    kept = nms_3d(torch.tensor(boxes), torch.tensor(scores), thr).tolist()
    assert kept == _brute_force_nms(boxes, scores, thr)
    assert 1 < len(kept) < 80  # the case is not trivial
    assert nms_3d(torch.zeros(0, 6), torch.zeros(0), 0.5).numel() == 0


def _trilinear(volume: np.ndarray, z: float, y: float, x: float) -> float:
    """Value at a continuous index (voxel centres at integers), clamped to the volume as RoIAlign does."""
    pos = [min(max(c, 0.0), n - 1) for c, n in zip((z, y, x), volume.shape)]
    base = [int(np.floor(p)) for p in pos]
    total = 0.0
    for corner in itertools.product((0, 1), repeat=3):
        idx, weight = [], 1.0
        for p, b, c, n in zip(pos, base, corner, volume.shape):
            i = min(b + c, n - 1)
            weight *= (p - b) if c else (1 - (p - b))
            idx.append(i)
        total += weight * volume[tuple(idx)]
    return total


def _brute_force_roi_align(volume, box, out, scale, s):
    result = np.zeros(out)
    lo = [box[a] * scale[a] - 0.5 for a in range(3)]
    hi = [box[a + 3] * scale[a] - 0.5 for a in range(3)]
    for bz, by, bx in itertools.product(*(range(n) for n in out)):
        acc = 0.0
        for iz, iy, ix in itertools.product(range(s), repeat=3):
            pt = [lo[a] + (hi[a] - lo[a]) * ((b * s + i + 0.5) / (out[a] * s))
                  for a, b, i in zip(range(3), (bz, by, bx), (iz, iy, ix))]
            acc += _trilinear(volume, *pt)
        result[bz, by, bx] = acc / s**3
    return result


def test_roi_align_3d_matches_brute_force_trilinear_crop():
    rng = np.random.default_rng(2)
    feats = rng.normal(size=(2, 2, 6, 9, 11))
    rois = np.array([[0, 1.0, 2.0, 3.0, 9.0, 14.0, 17.5],   # inside, non-integer
                     [1, 0.0, 0.0, 0.0, 12.0, 18.0, 22.0],   # the whole map
                     [1, -2.0, 10.0, 15.0, 4.0, 20.0, 26.0]])  # reaching past the border
    scale = (0.5, 0.5, 0.5)
    got = roi_align_3d(torch.tensor(feats), torch.tensor(rois), (3, 2, 4), spatial_scale=0.5, sampling_ratio=2)
    assert got.shape == (3, 2, 3, 2, 4)
    for r, roi in enumerate(rois):
        for c in range(2):
            want = _brute_force_roi_align(feats[int(roi[0]), c], roi[1:], (3, 2, 4), scale, 2)
            assert np.allclose(got[r, c].numpy(), want, atol=1e-9)


def test_roi_align_3d_equals_torchvision_on_a_volume_constant_along_z():
    torchvision = pytest.importorskip("torchvision")
    rng = np.random.default_rng(3)
    plane = torch.tensor(rng.normal(size=(1, 3, 12, 14)), dtype=torch.float64)
    volume = plane[:, :, None].expand(1, 3, 5, 12, 14).contiguous()
    boxes2d = torch.tensor([[0, 1.3, 2.0, 9.7, 10.1], [0, 0.0, 0.0, 14.0, 12.0]], dtype=torch.float64)  # x, y
    want = torchvision.ops.roi_align(plane, boxes2d, (4, 3), spatial_scale=1.0, sampling_ratio=2, aligned=True)
    rois = torch.stack([boxes2d[:, 0], torch.full((2,), 1.0, dtype=torch.float64), boxes2d[:, 2], boxes2d[:, 1],
                        torch.full((2,), 4.0, dtype=torch.float64), boxes2d[:, 4], boxes2d[:, 3]], 1)
    got = roi_align_3d(volume, rois, (2, 4, 3), sampling_ratio=2)
    assert torch.allclose(got[:, :, 0], want, atol=1e-9) and torch.allclose(got[:, :, 1], want, atol=1e-9)


def test_clip_boxes():
    got = clip_boxes(torch.tensor([[-1.0, 2, 3, 40, 5, 60]]), (10, 20, 30))
    assert got.tolist() == [[0.0, 2.0, 3.0, 10.0, 5.0, 30.0]]
