"""tactile_mis forward model: the fast Boussinesq model (ours) vs the finite-element solve (scikit-fem, the
reference it approximates) on the same SIMULATED press (default probe and inclusion), plus the per-frame
map-update latency of the streaming player on a simulated palpation recording.

Prints ``ours X s, peer Y s, ratio Z``, the agreement of the two force maps, and the map-update latency.

Run: ``PYTHONPATH=src python benchmarks/speed/tactile_mis_speed.py [elements_per_taxel]`` (default 2).
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

from biomedai.methods.tactile_mis.config import TactileConfig
from biomedai.methods.tactile_mis.maps import baseline_frame
from biomedai.methods.tactile_mis.mechanics import HalfSpaceModel, fe_indentation
from biomedai.methods.tactile_mis.simulate import line_path, palpation, probe_from_config, tissue_from_config
from biomedai.methods.tactile_mis.streaming import StreamingMap, play


def main(elements_per_taxel: int = 2) -> int:
    cfg = TactileConfig()
    tissue, probe = tissue_from_config(cfg), probe_from_config(cfg)
    start = time.perf_counter()
    fast = HalfSpaceModel(tissue, probe, cfg.influence_radius_mm).press((0.0, 0.0), cfg.indentation_mm)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    fe, facts = fe_indentation(tissue, probe, cfg.indentation_mm, elements_per_taxel)
    peer = time.perf_counter() - start
    rel = float(np.sqrt(np.mean((fe - fast) ** 2)) / np.sqrt(np.mean(fe ** 2)))
    load = os.getloadavg()[0]
    print(f"one press of the default 8 x 8 probe over the default inclusion, SIMULATED (load average {load:.1f}); "
          f"FE: {facts['dofs']} unknowns, {elements_per_taxel} element(s) per taxel")
    print(f"ours {ours:.4f} s, peer {peer:.3f} s, ratio {peer / ours:.0f}")
    print(f"force maps: total fast {fast.sum():.3f} N vs FE {fe.sum():.3f} N, relative RMS difference {rel:.3f}")
    rec = palpation(tissue, probe, line_path((-16, 0), (16, 0), 200), cfg.indentation_mm, cfg.noise_n, 0)
    live = StreamingMap(baseline_frame(rec.frames), cfg.indentation_mm, cfg.nodule_threshold_n)
    latency = np.array([u.latency_ms for u in play(rec.frames, np.arange(200) / cfg.frame_rate_hz, live)])
    print(f"streaming map update: median {np.median(latency):.3f} ms, p95 {np.percentile(latency, 95):.3f} ms per "
          f"frame over 200 simulated frames (review: 1 ms per image, ~45 frames/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(*(int(a) for a in sys.argv[1:2])))
