"""Hip landmark detector on SIMULATED pelvis radiographs: train with the foundation engine, then compare the
angles from detected landmarks with the true (manual-equivalent) landmarks: MAE, ICC(2,1), Bland-Altman.

No real hip radiographs are bundled with biomedai; every number printed here is on simulated films.
The baseline predicts every landmark at its mean training position (what a network that learnt nothing
about the image would do), so the detector's numbers can be read against it.

    python benchmarks/quality/hip_dysplasia/landmark_detector.py --train 96 --val 32 --size 64 --epochs 15 --out /tmp/hipdet
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import time
from pathlib import Path

import numpy as np


def _make(args: tuple[int, int, int]) -> list:
    n, size, seed = args
    from biomedai.methods.hip_dysplasia.detector import synthetic_samples

    return synthetic_samples(n, size, seed)


def make_samples(n: int, size: int, seed: int, workers: int) -> list:
    chunks = [(min(32, n - i), size, seed * 100_000 + i) for i in range(0, n, 32)]
    if workers > 1 and len(chunks) > 1:
        with mp.get_context("spawn").Pool(workers) as pool:
            parts = pool.map(_make, chunks)
    else:
        parts = [_make(c) for c in chunks]
    return [s for part in parts for s in part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=int, default=96)
    parser.add_argument("--val", type=int, default=32)
    parser.add_argument("--test", type=int, default=64)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--features", default="8,16,32")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="processes for simulating films")
    parser.add_argument("--out", default="hip_detector_bench")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from biomedai.methods.hip_dysplasia.config import HipDysplasiaConfig
    from biomedai.methods.hip_dysplasia.detector import agreement_report, detect_landmarks, load_detector, train_detector
    from biomedai.methods.hip_dysplasia.geometry import angles_from_landmarks
    from biomedai.methods.hip_dysplasia.model import positional_to_sides

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = HipDysplasiaConfig(detector_size=args.size, detector_features=tuple(int(v) for v in args.features.split(",")),
                             epochs=args.epochs, batch_size=args.batch, lr=args.lr,
                             heatmap_sigma=max(1.5, 2.0 * args.size / 128))
    t0 = time.perf_counter()
    train = make_samples(args.train, args.size, 1, args.workers)
    val = make_samples(args.val, args.size, 2, args.workers)
    test = make_samples(args.test, args.size, 3, args.workers)
    t_data = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = train_detector(cfg, train, val, out / "run")
    t_train = time.perf_counter() - t0
    net = load_detector(result.weights, cfg)
    if torch.cuda.is_available():
        net = net.cuda()
    t0 = time.perf_counter()
    pred_points = np.concatenate([detect_landmarks(net, [s.picture for s in test[i:i + 32]], args.size)
                                  for i in range(0, len(test), 32)])
    t_infer = time.perf_counter() - t0
    mean_points = np.mean([s.points for s in train], axis=0)
    true_a, pred_a, base_a, radial, base_radial = [], [], [], [], []
    for s, p in zip(test, pred_points):
        true_a.append(angles_from_landmarks(positional_to_sides(s.points, s.image_left_side)))
        pred_a.append(angles_from_landmarks(positional_to_sides(p[:, :2], s.image_left_side)))
        base_a.append(angles_from_landmarks(positional_to_sides(mean_points, s.image_left_side)))
        radial.append(np.hypot(*(p[:, :2] - s.points).T))
        base_radial.append(np.hypot(*(mean_points - s.points).T))
    report = {
        "data": "SIMULATED pelvis-like radiographs (no real hip data)",
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({platform.processor() or 'x86_64'}, {args.threads} thread(s))",
        "settings": vars(args), "sigma": cfg.heatmap_sigma,
        "n_train": len(train), "n_val": len(val), "n_test": len(test),
        "best_epoch": result.best_epoch, "best_val_radial_error_px": result.best_metric,
        "detector": agreement_report(true_a, pred_a),
        "detector_radial_error_px": {"mean": float(np.mean(radial)), "median": float(np.median(radial))},
        "baseline_mean_position": agreement_report(true_a, base_a),
        "baseline_radial_error_px": {"mean": float(np.mean(base_radial)), "median": float(np.median(base_radial))},
        "seconds": {"simulate": round(t_data, 1), "train": round(t_train, 1), "infer_test": round(t_infer, 2)},
        "image_size_px": args.size, "pid": os.getpid(),
    }
    (out / "hip_detector_result.json").write_text(json.dumps(report, indent=2))
    d, b = report["detector"], report["baseline_mean_position"]
    for name in ("ce", "sharp", "tonnis"):
        print(f"{name:7s} detector MAE {d[name]['mae_deg']:6.2f} deg ICC {d[name]['icc_2_1']:5.2f} "
              f"BA bias {d[name]['bland_altman_bias_deg']:+5.2f} LoA [{d[name]['bland_altman_loa_deg'][0]:.1f}, "
              f"{d[name]['bland_altman_loa_deg'][1]:.1f}] | baseline MAE {b[name]['mae_deg']:6.2f} ICC {b[name]['icc_2_1']:5.2f}")
    print(f"radial error px: detector {report['detector_radial_error_px']['mean']:.2f}, "
          f"baseline {report['baseline_radial_error_px']['mean']:.2f} (image {args.size} px); "
          f"train {t_train:.0f} s on {report['device']}")


if __name__ == "__main__":
    main()
