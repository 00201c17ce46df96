"""virtual_ihc: seconds per 224 px tile and per large image, and peak memory, of our Table-2 generator with the
tiled, tent-blended inference (``biomedai.data.tiling``) against the CycleGAN reference generator
(junyanz ``ResnetGenerator``, reflection padding) of the same size run tile by tile without overlap.

Random weights: speed does not depend on the weight values (no outputs are shown; the outputs are only checked
to have the input's shape). The image is SIMULATED-free: a constant H&E-coloured array. One torch thread.
Each measurement runs in its own child process so that peak RSS (``ru_maxrss``) belongs to it alone.
Prints ``ours X s, peer Y s, ratio Z`` per tile and per image, and the load average.

Run: ``PYTHONPATH=src python benchmarks/speed/virtual_ihc_generator.py [width] [res_blocks] [image_px]``
(default ``16 2 2048``: the bundled model's size; ``64 1 4096`` is Table 2 at the issue's 4,096 px, ~20x slower).
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import numpy as np


def child(kind: str, width: int, blocks: int, size: int, tiles: int) -> dict:
    import torch

    from biomedai.methods.virtual_ihc.networks import ReferenceResnetGenerator, TableTwoGenerator
    from biomedai.methods.virtual_ihc.stitch import translate_image

    torch.set_num_threads(1)
    net = (TableTwoGenerator(3, 3, width, blocks) if kind == "ours" else ReferenceResnetGenerator(3, 3, width, blocks))
    net.eval()
    x = torch.zeros(1, 3, 224, 224)
    with torch.no_grad():
        net(x)
        start = time.perf_counter()
        for _ in range(tiles):
            net(x)
        per_tile = (time.perf_counter() - start) / tiles
    image = np.zeros((size, size, 3), np.uint8)
    image[...] = (200, 120, 190)

    def generate(batch: np.ndarray, c: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.from_numpy(batch)).numpy()

    start = time.perf_counter()
    if kind == "ours":
        out, _ = translate_image(image, generate, lambda b: np.zeros(len(b)), tile=224, overlap=32, blend="linear")
    else:  # the reference's way on a large image: tiles side by side, no overlap, no blending
        out, _ = translate_image(image, generate, lambda b: np.zeros(len(b)), tile=224, overlap=0, blend="constant")
    per_image = time.perf_counter() - start
    assert out.shape == image.shape
    return {"per_tile_s": per_tile, "per_image_s": per_image,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], *map(int, sys.argv[3:7]))))
        return
    width, blocks, size = (int(a) for a in (sys.argv[1:4] + ["16", "2", "2048"][len(sys.argv[1:4]):]))
    res = {}
    for kind in ("ours", "peer"):
        out = subprocess.run([sys.executable, __file__, "--child", kind, str(width), str(blocks), str(size), "5"],
                             capture_output=True, text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        res[kind] = json.loads(out.stdout.strip().splitlines()[-1])
    o, p = res["ours"], res["peer"]
    print(f"generator width {width}, {blocks} residual units, 224 px tiles, one thread, load {os.getloadavg()[0]:.1f}")
    print(f"per tile: ours {o['per_tile_s']:.3f} s, peer {p['per_tile_s']:.3f} s, ratio {o['per_tile_s'] / p['per_tile_s']:.2f}")
    print(f"per {size}x{size} image: ours {o['per_image_s']:.1f} s (32 px overlap, tent blend), peer "
          f"{p['per_image_s']:.1f} s (no overlap), ratio {o['per_image_s'] / p['per_image_s']:.2f}")
    print(f"peak RSS: ours {o['peak_rss_mb']:.0f} MB, peer {p['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
