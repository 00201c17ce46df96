"""Ki-67 FCN vs the naive way: one region classified by the FCN in one pass vs 64x64 patches one by one.

Same classifier, same input, same output grid (stride 32), for each architecture asked for:
``resnet18_valid`` (padding-free: the FCN output must equal the naive one to float tolerance, and the
script checks it) and ``resnet18`` (Liu et al.'s padded network: close, not equal, because zero padding
sees real neighbours in the FCN and zeros at a lone patch's border; spec section 1.6). Each way runs in
its own subprocess so that its peak memory is its own (CPU: ru_maxrss; CUDA:
``torch.cuda.max_memory_allocated``). Prints ``ours X s, peer Y s, ratio Z``, the max |logit difference|
and the argmax agreement on the common grid.

    python benchmarks/speed/ki67_fcn.py                        # the paper's 7,556 x 3,864 region, both networks
    python benchmarks/speed/ki67_fcn.py --width 1889 --height 966 --device cpu   # CPU-sized check
    python benchmarks/speed/ki67_fcn.py --weights valid.pt --weights padded.pt --json out.json

The input is a mosaic of scikit-image's ``ihc.png`` re-rendered as haematoxylin only (bundled, no
download), so that the classifier sees tissue-like texture; without ``--weights`` the network is
untrained (timings and memory do not depend on the weights; the agreement figures then only
describe the padding effect on an untrained network, and are labelled so).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SRC = Path(__file__).resolve().parents[2] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))


def make_region(height: int, width: int) -> np.ndarray:
    from skimage import data

    from biomedai.methods.ki67.ihc import hematoxylin_only_rgb

    tile = hematoxylin_only_rgb(data.immunohistochemistry())
    reps = (height // tile.shape[0] + 1, width // tile.shape[1] + 1, 1)
    flipped = np.concatenate([tile, tile[:, ::-1]], axis=1)
    return np.tile(flipped, (reps[0], reps[1] // 2 + 1, 1))[:height, :width].copy()


def weights_by_architecture(paths: list[str]) -> dict[str, str]:
    """``{architecture: path}`` read from the saved parameters of each weights file."""
    from biomedai.methods.ki67.networks import architecture_of_state
    from biomedai.train.checkpoint import load_weights

    return {architecture_of_state(load_weights(None, p)): p for p in paths}


def build_model(architecture: str, weights: str | None, device: str):
    import torch

    from biomedai.methods.ki67.config import Ki67Config
    from biomedai.methods.ki67.model import build_classifier, load_classifier

    if weights:
        model = load_classifier(weights, Ki67Config(architecture=architecture))
    else:
        torch.manual_seed(0)
        model = build_classifier(architecture)
    return model.eval().to(device)


def run_child(mode: str, args: argparse.Namespace, out_npy: str) -> dict:
    import torch

    from biomedai.nn.fcn import classifier_to_fcn, fcn_map_tiled, sliding_window_classify

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = build_model(args.child_arch, args.weights[0] if args.weights else None, args.device)
    image = torch.from_numpy(make_region(args.height, args.width)).permute(2, 0, 1).float().div_(255.0).to(device)
    dtype = torch.float16 if args.half and device.type == "cuda" else torch.float32
    model = model.to(dtype)
    image = image.to(dtype)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _rss_mib()
    with torch.inference_mode():
        if device.type == "cuda":  # warm-up on a small crop (cuDNN autotune, lazy init)
            model.to_fcn()(image[None, :, :256, :256])  # noqa
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()  # logits (no softmax) from every way, so that they can be compared as such
        if mode == "fcn":
            prob = fcn_map_tiled(classifier_to_fcn(model.trunk, model.fc, 64).eval(), image, None)
        elif mode == "fcn_tiled":
            prob = fcn_map_tiled(classifier_to_fcn(model.trunk, model.fc, 64).eval(), image, args.tile)
        else:
            prob = sliding_window_classify(model, image, 64, 32, batch_size=args.batch, softmax=False)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    np.save(out_npy, prob.float().cpu().numpy())
    if device.type == "cuda":
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
        unit = "MiB GPU (max_memory_allocated above the model)"
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
        unit = "MiB host (ru_maxrss above the RSS before the run)"
    return {"mode": mode, "seconds": seconds, "peak_memory_mib": peak, "memory_unit": unit,
            "map_shape": list(prob.shape)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=3864)
    parser.add_argument("--width", type=int, default=7556)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--weights", action="append", default=[],
                        help="trained weights (repeatable; the architecture is read from each file)")
    parser.add_argument("--architectures", default="resnet18_valid,resnet18")
    parser.add_argument("--batch", type=int, default=512, help="patches per batch for the naive way")
    parser.add_argument("--tile", type=int, default=2048, help="tile side for the tiled-FCN variant")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("KI67_BENCH_THREADS", "2")))
    parser.add_argument("--half", action="store_true", help="float16 on CUDA")
    parser.add_argument("--modes", default="fcn,fcn_tiled,naive")
    parser.add_argument("--json", default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-arch", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.child:
        print(json.dumps(run_child(args.child, args, args.child_out)))
        return 0
    weights = weights_by_architecture(args.weights)
    summary: dict = {"region": [args.height, args.width], "device": args.device, "threads": args.threads,
                     "gpu": _gpu_name(args.device), "cpu": platform.processor() or platform.machine(),
                     "half": args.half, "load_average_before": os.getloadavg(), "architectures": {}}
    for arch in args.architectures.split(","):
        summary["architectures"][arch] = run_architecture(arch, weights.get(arch), args)
    summary["load_average_after"] = os.getloadavg()
    print(f"load average before {summary['load_average_before']}, after {summary['load_average_after']}")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return 0


def run_architecture(arch: str, weights: str | None, args: argparse.Namespace) -> dict:
    """Every way for one architecture, each in a subprocess; timings, memory and agreement with the naive way."""
    results, maps = {}, {}
    print(f"## {arch} ({weights or 'untrained: timing, memory and exactness only'})")
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes.split(","):
            npy = str(Path(tmp) / f"{mode}.npy")
            cmd = [sys.executable, __file__, "--child", mode, "--child-out", npy, "--child-arch", arch,
                   "--height", str(args.height), "--width", str(args.width), "--device", args.device,
                   "--batch", str(args.batch), "--tile", str(args.tile), "--threads", str(args.threads)]
            cmd += ["--weights", weights] if weights else []
            cmd += ["--half"] if args.half else []
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(done.stderr[-3000:], file=sys.stderr)
                results[mode] = {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
                continue
            results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
            maps[mode] = np.load(npy)
            print(f"{mode:10s} {results[mode]['seconds']:8.2f} s   peak {results[mode]['peak_memory_mib']:9.1f} "
                  f"{results[mode]['memory_unit']}   map {results[mode]['map_shape']}")
    summary: dict = {"weights": weights or "untrained (timing, memory and exactness only)", "results": results}
    if "naive" in maps:
        naive = maps["naive"]
        rows, cols = naive.shape[1:]
        p_naive = _softmax(naive)
        for mode in ("fcn", "fcn_tiled"):
            if mode not in maps:
                continue
            dense = maps[mode][:, :rows, :cols]
            agree = float((dense.argmax(0) == naive.argmax(0)).mean())
            logit_diff = float(np.abs(dense - naive).max())
            prob_diff = float(np.abs(_softmax(dense) - p_naive).max())
            ratio = results["naive"]["seconds"] / results[mode]["seconds"]
            summary[f"{mode}_vs_naive"] = {"argmax_agreement": agree, "max_abs_logit_diff": logit_diff,
                                           "max_abs_prob_diff": prob_diff, "max_abs_logit": float(np.abs(naive).max()),
                                           "extra_edge_positions": [int(v) for v in maps[mode].shape[1:]],
                                           "speedup": ratio}
            print(f"{arch} {mode}: ours {results[mode]['seconds']:.2f} s, peer (naive 64x64 patches) "
                  f"{results['naive']['seconds']:.2f} s, ratio {ratio:.1f}x; argmax agreement {agree:.4%}, "
                  f"max |d logit| {logit_diff:.3g} (logits up to {np.abs(naive).max():.3g}), max |dP| {prob_diff:.3g}")
    if "fcn" in maps and "fcn_tiled" in maps:
        summary["fcn_tiled_vs_fcn_max_abs_logit_diff"] = float(np.abs(maps["fcn"] - maps["fcn_tiled"]).max())
        print(f"{arch} tiled vs one pass: max |d logit| {summary['fcn_tiled_vs_fcn_max_abs_logit_diff']:.3g}")
    if arch == "resnet18_valid" and "fcn_vs_naive" in summary:  # exact by construction: check it
        ok = summary["fcn_vs_naive"]["argmax_agreement"] == 1.0 and summary["fcn_vs_naive"]["max_abs_logit_diff"] < 1e-3
        summary["same_output"] = ok
        print(f"{arch}: same output as the naive way: {'yes' if ok else 'NO'}")
    return summary


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(0, keepdims=True))
    return e / e.sum(0, keepdims=True)


def _rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _gpu_name(device: str) -> str | None:
    if not device.startswith("cuda"):
        return None
    import torch

    return torch.cuda.get_device_name(0)


if __name__ == "__main__":
    raise SystemExit(main())
