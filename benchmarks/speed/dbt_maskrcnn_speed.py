"""DBT detection cost per volume on CPU: ours (light 3-D Mask R-CNN, sliding blocks + 3-D NMS) vs the peer
(torchvision's 2-D Mask R-CNN on every slice, detections linked into 3-D), on the same SIMULATED volume.

Each runs in its own subprocess so its peak resident memory (``ru_maxrss``) is its own. Without ``--weights``
both networks are untrained (seeded): timings and memory do not depend on the weights, and no detection is shown
as a result. Prints ``ours X s, peer Y s, ratio Z`` (Z = peer / ours).

    python benchmarks/speed/dbt_maskrcnn_speed.py [--repeats 3] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def one(kind: str, repeats: int, threads: int) -> dict:
    import numpy as np
    import torch

    from biomedai.methods.dbt_maskrcnn import baselines
    from biomedai.methods.dbt_maskrcnn.config import LIGHT_MODEL, DbtMaskRcnnConfig
    from biomedai.methods.dbt_maskrcnn.data import downsample, standardise
    from biomedai.methods.dbt_maskrcnn.inference import detect_volume
    from biomedai.methods.dbt_maskrcnn.model import MaskRCNN3d
    from biomedai.methods.dbt_maskrcnn.simulator import simulate_view

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    view = simulate_view((32, 96, 96), (1.0, 0.6, 0.6), 3, "irregular", 14.0, np.random.default_rng(0), n_iter=2)
    volume = standardise(downsample(view.volume, (1, 2, 2)))  # the light model's 1.2 mm grid: 32 x 48 x 48
    cfg = DbtMaskRcnnConfig.from_dict(dict(LIGHT_MODEL))
    if kind == "ours":
        model = MaskRCNN3d(cfg).eval()
        run = lambda: detect_volume(model, volume, cfg.patch, cfg.margin, cfg.nms_iou)  # noqa: E731
    else:
        model = baselines.build_mask_rcnn_2d(volume.shape[1]).eval()
        run = lambda: baselines.link_slices(baselines.detect_slices(model, volume), volume.shape)  # noqa: E731
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        found = run()
        times.append(time.perf_counter() - start)
    return {"kind": kind, "seconds": float(np.median(times)), "parameters": sum(p.numel() for p in model.parameters()),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, "n_detections": len(found),
            "volume_shape": list(volume.shape)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--child", choices=["ours", "peer"], help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one(args.child, args.repeats, args.threads)))
        return
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}:{os.environ.get('PYTHONPATH', '')}")
    results = {}
    for kind in ("ours", "peer"):
        proc = subprocess.run([sys.executable, __file__, "--child", kind, "--repeats", str(args.repeats), "--threads",
                               str(args.threads)], capture_output=True, text=True, env=env, check=True)
        results[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
    ours, peer = results["ours"]["seconds"], results["peer"]["seconds"]
    load = os.getloadavg()[0]
    print(f"SIMULATED DBT volume {results['ours']['volume_shape']} (1.0 x 1.2 x 1.2 mm), untrained networks, "
          f"{args.threads} thread(s), load average {load:.1f}")
    print(f"  ours (3-D Mask R-CNN, {results['ours']['parameters']} params): {ours:.2f} s, peak RSS "
          f"{results['ours']['peak_rss_mb']:.0f} MB")
    print(f"  peer (slice-wise 2-D Mask R-CNN, {results['peer']['parameters']} params): {peer:.2f} s, peak RSS "
          f"{results['peer']['peak_rss_mb']:.0f} MB")
    print(f"ours {ours:.2f} s, peer {peer:.2f} s, ratio {peer / ours:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "load": load, "machine": platform.platform()}, indent=1))


if __name__ == "__main__":
    main()
