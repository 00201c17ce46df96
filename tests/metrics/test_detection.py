"""Detection metrics: hand-computed AP/FROC, torchvision and MONAI for IoU/FROC, pycocotools for COCO AP."""
from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.metrics import (
    box_iou,
    coco_average_precision,
    coco_mask_average_precision,
    froc_curve,
    froc_from_boxes,
    froc_from_points,
    froc_score,
    froc_sensitivities,
    match_detections,
    match_points_to_regions,
)

torch = pytest.importorskip("torch")


def test_box_iou_known_and_torchvision():
    torchvision_ops = pytest.importorskip("torchvision.ops")
    assert box_iou([[0, 0, 2, 2]], [[1, 1, 3, 3]])[0, 0] == pytest.approx(1 / 7)
    assert box_iou([[0, 0, 2, 2]], [[2, 2, 4, 4]])[0, 0] == 0.0
    assert box_iou([[0, 0, 0, 2, 2, 2]], [[1, 0, 0, 3, 2, 2]])[0, 0] == pytest.approx(4 / 12)  # 3-D
    rng = np.random.default_rng(0)
    lo = rng.uniform(0, 50, (20, 2))
    a = np.hstack([lo, lo + rng.uniform(1, 30, (20, 2))])
    lo = rng.uniform(0, 50, (15, 2))
    b = np.hstack([lo, lo + rng.uniform(1, 30, (15, 2))])
    ref = torchvision_ops.box_iou(torch.as_tensor(a), torch.as_tensor(b)).numpy()
    np.testing.assert_allclose(box_iou(a, b), ref, atol=1e-12)
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 15)


def test_match_detections_greedy_by_score():
    true = [[0, 0, 10, 10], [20, 20, 30, 30]]
    pred = [[0, 0, 10, 9], [0, 0, 10, 10], [21, 21, 31, 31], [50, 50, 60, 60]]
    assert match_detections(true, pred, [0.6, 0.9, 0.5, 0.8]).tolist() == [False, True, True, False]
    assert match_detections(true, pred, [0.6, 0.9, 0.5, 0.8], iou_threshold=0.9).tolist() == [False, True, False, False]


def test_froc_hand_computed():
    # 2 images, 4 targets; detections (score, tp): .9 T, .8 F, .7 T, .6 F, .5 F, .4 T
    curve = froc_curve([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], [1, 0, 1, 0, 0, 1], n_targets=4, n_images=2)
    np.testing.assert_allclose(curve.fps_per_image, [0, 0, 0.5, 0.5, 1.0, 1.5, 1.5])
    np.testing.assert_allclose(curve.sensitivity, [0, 0.25, 0.25, 0.5, 0.5, 0.5, 0.75])
    np.testing.assert_allclose(froc_sensitivities(curve, [0.25, 0.5, 1, 2]), [0.25, 0.5, 0.5, 0.75])
    assert froc_score(curve, [0.25, 0.5, 1, 2]) == pytest.approx(0.5)


def test_froc_points_match_monai_camelyon_code():
    from monai.metrics import compute_fp_tp_probs_nd, compute_froc_curve_data, compute_froc_score

    rng = np.random.default_rng(4)
    regions, scores, coords = [], [], []
    fp_all, tp_all, n_targets = [], [], 0
    for _ in range(5):
        lab = np.zeros((64, 64), int)
        for k in range(1, 5):
            y, x = rng.integers(4, 56, 2)
            lab[y : y + 6, x : x + 6] = k
        pts = rng.integers(0, 64, (12, 2))
        pts[:3] = np.argwhere(lab == 1)[[0, 5, 10]]  # several hits on one region: only the best counts
        s = np.round(rng.random(12), 3)
        regions.append(lab)
        scores.append(s)
        coords.append(pts)
        fp, tp, nt = compute_fp_tp_probs_nd(s, pts, lab)
        fp_all.append(fp)
        tp_all.append(tp)
        n_targets += nt
    ours = froc_from_points(scores, coords, regions)
    fps_m, sens_m = compute_froc_curve_data(np.concatenate(fp_all), np.concatenate(tp_all), n_targets, 5)
    assert n_targets == 20 and ours.sensitivity[-1] < 1  # some targets missed, as MONAI's curve assumes
    rates = (0.25, 0.5, 1, 2, 4, 8)
    expected = np.interp(rates, fps_m[::-1], sens_m[::-1])
    np.testing.assert_allclose(froc_sensitivities(ours, rates), expected, atol=1e-7)
    assert froc_score(ours, rates) == pytest.approx(compute_froc_score(fps_m, sens_m, rates), abs=1e-7)
    s, tp, n = match_points_to_regions(scores[0], coords[0], regions[0])
    assert n == 4 and tp.sum() <= 4 and s.size == tp.size


def test_froc_from_boxes():
    true = [np.array([[0, 0, 10, 10], [20, 20, 30, 30]]), np.zeros((0, 4))]
    pred = [np.array([[0, 0, 10, 10], [40, 40, 50, 50]]), np.array([[5, 5, 9, 9]])]
    curve = froc_from_boxes(true, pred, [[0.9, 0.3], [0.6]])
    np.testing.assert_allclose(curve.sensitivity, [0, 0.5, 0.5, 0.5])
    np.testing.assert_allclose(curve.fps_per_image, [0, 0, 0.5, 1.0])


def test_coco_ap_hand_computed_101_points():
    # two true boxes; detections TP (.9), FP (.8), TP (.7), exact boxes so every IoU threshold agrees
    true = [np.array([[0, 0, 50, 50], [100, 100, 150, 150]])]
    pred = [np.array([[0, 0, 50, 50], [300, 300, 350, 350], [100, 100, 150, 150]])]
    r = coco_average_precision(true, pred, [[0.9, 0.8, 0.7]])
    assert r["AP"] == pytest.approx((51 * 1.0 + 50 * 2 / 3) / 101, abs=1e-9)
    assert r["AP50"] == pytest.approx(r["AP"]) and r["AP75"] == pytest.approx(r["AP"])
    assert r["AR1"] == 0.5 and r["AR10"] == 1.0
    assert r["AP_medium"] == pytest.approx(r["AP"]) and np.isnan(r["AP_small"]) and np.isnan(r["AP_large"])


def _random_dataset(seed: int, n_images: int = 6, with_masks: bool = False, size: int = 160):
    rng = np.random.default_rng(seed)
    data = []
    for i in range(n_images):
        n_gt = int(rng.integers(0, 7)) if i else 0  # image 0 has no true objects, only false positives
        wh = rng.choice([6, 14, 40, 110], size=(n_gt, 2)) + rng.integers(0, 6, (n_gt, 2))
        xy = rng.integers(0, size - wh.max(initial=1) - 1, (n_gt, 2)) if n_gt else np.zeros((0, 2), int)
        gt = np.hstack([xy, xy + wh]).astype(float)
        gl = rng.integers(1, 4, n_gt)
        jitter = rng.integers(-3, 4, gt.shape) if n_gt else np.zeros((0, 4))
        dt = np.clip(gt + jitter, 0, size - 1)
        dt[:, 2:] = np.maximum(dt[:, 2:], dt[:, :2] + 1)
        n_fp = 25 if i == 1 else int(rng.integers(1, 14))  # image 1: more than 10 detections of one class
        fxy = rng.integers(0, size - 30, (n_fp, 2))
        fp = np.hstack([fxy, fxy + rng.integers(3, 30, (n_fp, 2))]).astype(float)
        dt = np.vstack([dt, fp])
        dl = np.concatenate([gl, np.ones(n_fp, int) if i == 1 else rng.integers(1, 4, n_fp)])
        flip = rng.random(dl.size) < 0.15
        dl[flip] = rng.integers(1, 4, flip.sum())
        sc = rng.random(dt.shape[0])
        item = {"gt": gt, "gl": gl, "dt": dt, "dl": dl, "sc": sc}
        if with_masks:
            yy, xx = np.mgrid[:size, :size]

            def masks(boxes, ellipse):
                out = np.zeros((len(boxes), size, size), bool)
                for k, (x1, y1, x2, y2) in enumerate(boxes.astype(int)):
                    if ellipse[k]:
                        cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, max((x2 - x1) / 2, 1), max((y2 - y1) / 2, 1)
                        out[k] = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
                    else:
                        out[k, y1:y2, x1:x2] = True
                return out

            item["gm"] = masks(gt, rng.random(len(gt)) < 0.5)
            item["dm"] = masks(dt, rng.random(len(dt)) < 0.5)
        data.append(item)
    return data


def _pycocotools_stats(data, iou_type: str) -> np.ndarray:
    pytest.importorskip("pycocotools")
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(b):
        return [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]

    def rle(m):
        r = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
        r["counts"] = r["counts"].decode("ascii")
        return r

    size = 160
    gt = {"images": [], "annotations": [], "categories": [{"id": c} for c in (1, 2, 3)]}
    res = []
    ann_id = 1
    for i, d in enumerate(data):
        gt["images"].append({"id": i + 1, "height": size, "width": size})
        for k, (b, lab) in enumerate(zip(d["gt"], d["gl"])):
            ann = {"id": ann_id, "image_id": i + 1, "category_id": int(lab), "bbox": xywh(b), "iscrowd": 0}
            if iou_type == "bbox":
                ann["area"] = float((b[2] - b[0]) * (b[3] - b[1]))
            else:
                ann["segmentation"] = rle(d["gm"][k])
                ann["area"] = float(d["gm"][k].sum())
            gt["annotations"].append(ann)
            ann_id += 1
        for k, (b, lab, s) in enumerate(zip(d["dt"], d["dl"], d["sc"])):
            r = {"image_id": i + 1, "category_id": int(lab), "score": float(s)}
            if iou_type == "bbox":
                r["bbox"] = xywh(b)
            else:
                r["segmentation"] = rle(d["dm"][k])
            res.append(r)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(res)
        ev = COCOeval(coco_gt, coco_dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


KEYS = ["AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large", "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large"]


def _as_stats(result: dict) -> np.ndarray:
    return np.array([-1.0 if np.isnan(result[k]) else result[k] for k in KEYS])


@pytest.mark.parametrize("seed", [0, 2])  # 2 fills every size range; both have AR10 < AR100
def test_coco_box_ap_matches_pycocotools(seed):
    data = _random_dataset(seed)
    ours = coco_average_precision(
        [d["gt"] for d in data], [d["dt"] for d in data], [d["sc"] for d in data],
        [d["gl"] for d in data], [d["dl"] for d in data],
    )
    assert 0.05 < ours["AP"] < 0.95  # a non-trivial case
    np.testing.assert_allclose(_as_stats(ours), _pycocotools_stats(data, "bbox"), atol=1e-12)


def test_coco_mask_ap_matches_pycocotools():
    data = _random_dataset(3, n_images=4, with_masks=True)
    ours = coco_mask_average_precision(
        [d["gm"] for d in data], [d["dm"] for d in data], [d["sc"] for d in data],
        [d["gl"] for d in data], [d["dl"] for d in data],
    )
    assert 0.05 < ours["AP"] < 0.95
    np.testing.assert_allclose(_as_stats(ours), _pycocotools_stats(data, "segm"), atol=1e-12)


def test_detection_bad_inputs():
    with pytest.raises(InvalidInputError, match="max < min"):
        box_iou([[5, 5, 1, 1]], [[0, 0, 1, 1]])
    with pytest.raises(InvalidInputError, match="shape"):
        box_iou([[0, 0, 1]], [[0, 0, 1, 1]])
    with pytest.raises(InvalidInputError, match="NaN"):
        box_iou([[0, 0, np.nan, 1]], [[0, 0, 1, 1]])
    with pytest.raises(InvalidInputError, match="scores"):
        match_detections([[0, 0, 1, 1]], [[0, 0, 1, 1]], [0.5, 0.4])
    with pytest.raises(InvalidInputError, match="one entry per image"):
        coco_average_precision([np.zeros((0, 4))], [np.zeros((0, 4))], [[], []])
    with pytest.raises(InvalidInputError, match="does not match"):
        coco_mask_average_precision([np.zeros((1, 8, 8), bool)], [np.zeros((1, 8, 9), bool)], [[0.5]])
    with pytest.raises(InvalidInputError, match="outside"):
        match_points_to_regions([0.5], [[9, 9]], np.zeros((4, 4), int))
    with pytest.raises(InvalidInputError, match="true positives"):
        froc_curve([0.9, 0.8], [1, 1], n_targets=1, n_images=1)


def test_coco_equal_iou_tie_goes_to_the_later_true_box_as_pycocotools():
    # det 1 overlaps A and B equally (IoU 95/105); pycocotools gives it B (the later one), leaving A for det 2
    data = [{
        "gt": np.array([[0.0, 0, 10, 10], [1, 0, 11, 10]]), "gl": np.array([1, 1]),
        "dt": np.array([[0.5, 0, 10.5, 10], [0, 0, 10, 10]]), "dl": np.array([1, 1]), "sc": np.array([0.9, 0.8]),
    }]
    ours = coco_average_precision([data[0]["gt"]], [data[0]["dt"]], [data[0]["sc"]])
    # IoU 0.5 .. 0.9: both detections are TPs (AP 1); at 0.95 det 1 misses, det 2 hits A: precision 1/2 up to recall 1/2
    assert ours["AP"] == pytest.approx((9 * 1.0 + 51 * 0.5 / 101) / 10, abs=1e-9)
    np.testing.assert_allclose(_as_stats(ours), _pycocotools_stats(data, "bbox"), atol=1e-12)
