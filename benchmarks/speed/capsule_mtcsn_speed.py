"""capsule_mtcsn: frames per second of MTCSN (both heads + cross fusion) against a plain single-task network of the
same backbone (the TSS-only and CD-only variants), on 240 x 240 frames, on two CPU threads; and, separately,
the cost of decoding a 240 x 240 capsule video with PyAV.

Random weights: speed does not depend on the weight values (no outputs are shown). Frames are SIMULATED.
Prints ``ours X s, peer Y s, ratio Z`` (per 64 frames) and the load average at the time.

Run: ``PYTHONPATH=src python benchmarks/speed/capsule_mtcsn_speed.py [backbone] [threads]``
(default ``light 2``; ``resnet50`` is the paper's backbone and is ~50x slower on a CPU).
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from biomedai.io.video import read_video_frames
from biomedai.methods.capsule_mtcsn.config import MtcsnConfig
from biomedai.methods.capsule_mtcsn.inference import predict_batch
from biomedai.methods.capsule_mtcsn.model import Mtcsn, count_parameters
from biomedai.methods.capsule_mtcsn.simulator import simulate_video_frames, write_simulated_video

N_FRAMES, BATCH = 64, 16


def seconds_per_run(model: Mtcsn, frames: np.ndarray, size: int, repeats: int = 2) -> float:
    predict_batch(model, frames[:BATCH], size)                     # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(frames), BATCH):
            predict_batch(model, frames[i:i + BATCH], size)
        best = min(best, time.perf_counter() - start)
    return best


def main(backbone: str = "light", threads: int = 2) -> int:
    torch.set_num_threads(threads)
    frames = np.stack([f for f, _ in simulate_video_frames(N_FRAMES, size=240, seed=0)])
    times, params = {}, {}
    for variant in ("mtcsn", "tss_only", "cd_only"):
        torch.manual_seed(0)
        model = Mtcsn(MtcsnConfig(backbone=backbone, variant=variant, input_size=240)).eval()
        params[variant] = count_parameters(model)
        times[variant] = seconds_per_run(model, frames, 240, repeats=1 if backbone != "light" else 2)
    load = os.getloadavg()[0]
    print(f"{N_FRAMES} SIMULATED 240 x 240 frames, backbone {backbone}, {threads} torch threads, batch {BATCH}, "
          f"load average {load:.1f} (shared machine)")
    for variant, seconds in times.items():
        print(f"  {variant:12s} {N_FRAMES / seconds:7.1f} frames/s  ({params[variant] / 1e6:.2f} M parameters)")
    ours, peer = times["mtcsn"], times["tss_only"]
    print(f"ours {ours:.3f} s, peer {peer:.3f} s, ratio {peer / ours:.2f}  (MTCSN vs single-task TSS, same backbone)")
    print(f"ours {ours:.3f} s, peer {times['cd_only']:.3f} s, ratio {times['cd_only'] / ours:.2f}  "
          "(MTCSN vs single-task CD)")
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "capsule.mp4"
        write_simulated_video(video, 200, size=240, fps=4.0, seed=1)
        start = time.perf_counter()
        n = sum(1 for _ in read_video_frames(video))
        decode = time.perf_counter() - start
    print(f"decoding (PyAV, mpeg4, 240 x 240): {n / decode:.0f} frames/s ({n} frames, {decode:.2f} s)")
    print(f"a 4 h video at 2 frames/s scored = 28800 frames: about {28800 / (N_FRAMES / ours) / 60:.0f} min of "
          f"inference + {28800 * 2 / (n / decode) / 60:.1f} min decoding (at 4 fps stored) at this load")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "light", int(sys.argv[2]) if len(sys.argv) > 2 else 2))
