"""virtual_ihc: seconds per 224 px tile and per 4,096 x 4,096 image on CPU, and peak memory, of our Table-2
generator against the CycleGAN reference generator (junyanz ``ResnetGenerator``, reflection padding) of the
same size, in one run.

* ``ours (image)`` - the image in memory, 224 px tiles with 32 px overlap, tent-blended
  (``virtual_ihc.stitch.translate_image`` on ``biomedai.data.tiling.predict_tiled``), as ``predict he.png``;
* ``ours (slide)`` - the same image as a pyramidal TIFF through ``predict``'s slide path
  (``virtual_ihc.slide.translate_slide``: thumbnail tissue mask, tile rows read as strips, generated, blended in
  row bands, written as a pyramidal TIFF; every tile holds "tissue" here); the positive-cell count is not timed;
* ``peer`` - the reference generator's way on a large image: tiles side by side, no overlap, no blending.

Random weights: speed does not depend on the weight values (no outputs are shown; outputs are only checked to
have the input's shape). The input is a constant H&E-coloured array (not data). One torch thread. Each
measurement runs in its own child process so that peak RSS (``ru_maxrss``) belongs to it alone.
Prints ``ours X s, peer Y s, ratio Z`` per tile and per image, peak RSS, and the load average.

Run: ``PYTHONPATH=src python benchmarks/speed/virtual_ihc_generator.py [width] [res_blocks] [image_px]``
(default ``16 2 4096``: the bundled model's generator size at the issue's 4,096 px; ``64 1 0`` is Table 2,
per tile only: ``image_px`` 0 skips the image).
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TILE, OVERLAP, COLOUR = 224, 32, (200, 120, 190)


def _network(kind: str, width: int, blocks: int):
    from biomedai.methods.virtual_ihc.networks import ReferenceResnetGenerator, TableTwoGenerator

    net = ReferenceResnetGenerator(3, 3, width, blocks) if kind == "peer" else TableTwoGenerator(3, 3, width, blocks)
    return net.eval()


def child(kind: str, width: int, blocks: int, size: int, tiles: int, slide: str) -> dict:
    import torch

    torch.set_num_threads(1)
    net = _network(kind, width, blocks)
    x = torch.zeros(1, 3, TILE, TILE)
    with torch.no_grad():
        net(x)
        start = time.perf_counter()
        for _ in range(tiles):
            net(x)
        per_tile = (time.perf_counter() - start) / tiles
    per_image = None
    if size:
        start = time.perf_counter()
        shape = _run_slide(net, Path(slide), width, blocks) if kind == "slide" else _run_image(net, kind, size)
        per_image = time.perf_counter() - start
        assert shape == (size, size, 3), shape
    return {"per_tile_s": per_tile, "per_image_s": per_image,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _run_image(net, kind: str, size: int) -> tuple[int, ...]:
    import torch

    from biomedai.methods.virtual_ihc.stitch import translate_image

    image = np.empty((size, size, 3), np.uint8)
    image[...] = COLOUR

    def generate(batch: np.ndarray, c: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.from_numpy(batch)).numpy()

    overlap, blend = (OVERLAP, "linear") if kind == "ours" else (0, "constant")
    out, _ = translate_image(image, generate, lambda b: np.zeros(len(b)), tile=TILE, overlap=overlap, blend=blend)
    return out.shape


def _run_slide(net, path: Path, width: int, blocks: int) -> tuple[int, ...]:
    """``predict``'s slide path itself (``virtual_ihc.slide``: checks, tissue mask, strips, bands, pyramid)."""
    from biomedai.io.wsi import open_wsi
    from biomedai.methods.virtual_ihc.config import VirtualIHCConfig
    from biomedai.methods.virtual_ihc.model_io import VirtualIHCModel
    from biomedai.methods.virtual_ihc.slide import inspect_slide, translate_slide

    cfg = VirtualIHCConfig(tile_size=TILE, tile_overlap=OVERLAP, condition="none", gen_width=width,
                           gen_res_blocks=blocks, device="cpu")
    model = VirtualIHCModel(cfg, with_classifier=False)
    model.generator = net
    result = translate_slide(model, inspect_slide(path, cfg, TILE), path.with_name("synthetic.tif"), cfg)
    assert result.tiles_run == result.tiles_total  # the constant H&E colour is all tissue
    with open_wsi(result.output) as out:
        return out.dimensions[1], out.dimensions[0], 3


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], *map(int, sys.argv[3:7]), sys.argv[7])))
        return
    width, blocks, size = (int(a) for a in (sys.argv[1:4] + ["16", "2", "4096"][len(sys.argv[1:4]):]))
    load_before = os.getloadavg()[0]
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        slide = Path(tmp) / "he.tif"
        kinds = ("ours", "peer") + (("slide",) if size else ())
        if size:
            from biomedai.io.wsi import write_pyramidal_tiff

            image = np.empty((size, size, 3), np.uint8)
            image[...] = COLOUR
            write_pyramidal_tiff(image, slide, mpp=0.25)
            del image
        for kind in kinds:
            out = subprocess.run([sys.executable, __file__, "--child", kind, str(width), str(blocks), str(size), "5",
                                  str(slide)], capture_output=True, text=True, check=True,
                                 env={**os.environ, "OMP_NUM_THREADS": "1"})
            res[kind] = json.loads(out.stdout.strip().splitlines()[-1])
    o, p = res["ours"], res["peer"]
    print(f"generator width {width}, {blocks} residual units, {TILE} px tiles, CPU, one torch thread, load average "
          f"{load_before:.1f} before / {os.getloadavg()[0]:.1f} after")
    print(f"per {TILE} px tile: ours {o['per_tile_s']:.3f} s, peer {p['per_tile_s']:.3f} s, "
          f"ratio {o['per_tile_s'] / p['per_tile_s']:.2f}")
    if size:
        s = res["slide"]
        print(f"per {size}x{size} image: ours {o['per_image_s']:.1f} s (in memory, {OVERLAP} px overlap, tent blend), "
              f"peer {p['per_image_s']:.1f} s (no overlap), ratio {o['per_image_s'] / p['per_image_s']:.2f}")
        print(f"per {size}x{size} slide (pyramidal TIFF in and out, streamed): ours {s['per_image_s']:.1f} s, peer "
              f"{p['per_image_s']:.1f} s (in memory, no overlap), ratio {s['per_image_s'] / p['per_image_s']:.2f}")
        print(f"peak RSS: ours {o['peak_rss_mb']:.0f} MB (image), {s['peak_rss_mb']:.0f} MB (slide), "
              f"peer {p['peak_rss_mb']:.0f} MB")
    else:
        print(f"peak RSS (tiles only): ours {o['peak_rss_mb']:.0f} MB, peer {p['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
