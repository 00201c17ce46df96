"""Speed: tile throughput and peak memory of Han-Net vs MONAI BasicUNetPlusPlus at matched parameter count,
and post-processing time per 1000x1000 tile, ours (inside-class seeds + growth) vs the classical watershed.

Han-Net at base 18 channels and growth 16 has 2.27 M parameters, BasicUNetPlusPlus at features
(32, 32, 64, 128, 256, 32) 2.41 M. Han-Net uses the method's default normalisation (``--norm`` to change
it). Each model runs forward on batches of 256x256 tiles (inference mode; bf16 autocast on CUDA);
post-processing runs on a 1000x1000 synthetic H&E tile with 600 nuclei.

Prints ``CASE: ours X s, peer Y s, ratio Z`` lines (ratio = peer / ours, > 1 means ours is faster).
"""
from __future__ import annotations

import argparse
import platform
import resource
import sys
import time

import numpy as np
import torch

from biomedai.data.phantoms import nuclei_phantom
from biomedai.methods.nuclei_hannet.classical import classical_nuclei
from biomedai.methods.nuclei_hannet.config import HanNetConfig
from biomedai.methods.nuclei_hannet.model import build_model, count_parameters
from biomedai.methods.nuclei_hannet.postprocess import instances_from_probabilities, three_class_targets


def _peer():
    from monai.networks.nets import BasicUNetPlusPlus

    net = BasicUNetPlusPlus(spatial_dims=2, in_channels=3, out_channels=3, features=(32, 32, 64, 128, 256, 32))
    return lambda x: net(x)[0], net


def throughput(fn, module, device, batch: int, size: int, repeats: int) -> tuple[float, float | None]:
    """(tiles per second, peak memory in MiB on CUDA or None)."""
    module.to(device).eval()
    x = torch.randn(batch, 3, size, size, device=device)
    cuda = device.type == "cuda"
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
        fn(x)  # warm-up
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        for _ in range(repeats):
            fn(x)
        if cuda:
            torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else None
    module.to("cpu")
    return batch * repeats / seconds, peak


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--norm", default=HanNetConfig().norm, choices=["batch", "instance"],
                   help="Han-Net normalisation (default: the method's default)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    batch = args.batch or (16 if cuda else 2)
    repeats = args.repeats or (20 if cuda else 2)
    machine = torch.cuda.get_device_name(0) if cuda else f"CPU {platform.machine()}, {args.threads} thread(s)"
    print(f"machine: {machine}")

    torch.manual_seed(0)
    ours = build_model("hannet", base_channels=18, growth_rate=16, norm=args.norm)
    peer_fn, peer = _peer()
    print(f"parameters: Han-Net ({args.norm} norm) {count_parameters(ours) / 1e6:.2f} M, BasicUNetPlusPlus "
          f"{count_parameters(peer) / 1e6:.2f} M")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ours_tps, ours_mem = throughput(ours, ours, device, batch, 256, repeats)
    peer_tps, peer_mem = throughput(peer_fn, peer, device, batch, 256, repeats)
    print(f"tiles/s (256x256, batch {batch}): Han-Net {ours_tps:.2f}, BasicUNetPlusPlus {peer_tps:.2f}")
    if cuda:
        print(f"peak GPU memory (MiB): Han-Net {ours_mem:.0f}, BasicUNetPlusPlus {peer_mem:.0f}")
    else:
        print(f"peak RSS of this process (MiB): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} "
              f"(from {rss0 / 1024:.0f}); per-model CPU memory is not separated")
    print(f"forward per 256x256 tile: ours {1 / ours_tps:.4f} s, peer {1 / peer_tps:.4f} s, "
          f"ratio {ours_tps / peer_tps:.2f}")

    image, labels = nuclei_phantom((1000, 1000), n_nuclei=600, radius_range=(5, 10), seed=0, min_gap=0)
    t = three_class_targets(labels.array, 1)
    probs = np.stack([(t == k).astype(np.float32) for k in range(3)])
    probs = 0.9 * probs + 0.1 / 3  # not saturated, as a network's output
    best_ours, best_dist, best_peer = float("inf"), float("inf"), float("inf")
    for _ in range(3):
        start = time.perf_counter()
        instances_from_probabilities(probs, "morphological")
        best_ours = min(best_ours, time.perf_counter() - start)
        start = time.perf_counter()
        instances_from_probabilities(probs, "distance")
        best_dist = min(best_dist, time.perf_counter() - start)
        start = time.perf_counter()
        classical_nuclei(image.array)
        best_peer = min(best_peer, time.perf_counter() - start)
    print(f"post-processing per 1000x1000 tile: ours {best_ours:.4f} s, peer {best_peer:.4f} s, "
          f"ratio {best_peer / best_ours:.2f}  (peer = classical deconvolution + Otsu + watershed)")
    print(f"post-processing per 1000x1000 tile, 'distance' mode (the default): ours {best_dist:.4f} s, "
          f"peer {best_peer:.4f} s, ratio {best_peer / best_dist:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
