"""Voxelwise Tofts fitting: biomedai.perfusion.fit_tofts (vectorised variable projection) vs dcmri
(``dcmri.conc_tissue(kinetics='WV')``, the standard Tofts model, fitted per curve with scipy ``curve_fit``,
the way dcmri's own pixel fits work) on the same simulated curves (Parker AIF, 4 s sampling, 6 min, noise
SD 0.005 mM). Prints ``ours X s, peer Y s, ratio Z`` and the agreement of the two fits.

Run: ``PYTHONPATH=src python benchmarks/speed/perfusion_tofts_speed.py [n_curves] [--volume]`` (default 2000;
the peer is timed on the first 200 and scaled, it costs ~10 ms a curve; ``--volume`` also times a whole
20 x 64 x 64 volume, ours only).
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

from biomedai.perfusion import fit_tofts, parker_aif, tofts_concentration


def main(n: int = 2000, n_peer: int = 200, volume: bool = False) -> int:
    try:
        import dcmri
        from scipy.optimize import curve_fit
    except ImportError:
        print("dcmri is not installed (pip install dcmri); nothing to compare with")
        return 1
    rng = np.random.default_rng(0)
    t = np.arange(0, 360, 4.0)
    ca = parker_aif(t, delay=20)
    kt, ve = rng.uniform(0.02, 0.8, n), rng.uniform(0.05, 0.6, n)
    curves = tofts_concentration(t, ca, kt, ve) + rng.normal(0, 0.005, (n, t.size))

    start = time.perf_counter()
    fit = fit_tofts(t, ca, curves)
    ours = time.perf_counter() - start

    def model(tt, ktrans_per_min, vi):
        return dcmri.conc_tissue(ca, t=tt, kinetics="WV", Ktrans=ktrans_per_min / 60, vi=vi, H=0.0)

    peer_kt = np.empty(n_peer)
    start = time.perf_counter()
    for i in range(n_peer):
        popt, _ = curve_fit(model, t, curves[i], p0=(0.6, 0.2), bounds=([0, 1e-3], [5, 1]))
        peer_kt[i] = popt[0]
    peer = (time.perf_counter() - start) * n / n_peer
    diff = np.abs(fit.params["Ktrans"][:n_peer] - peer_kt)
    load = os.getloadavg()[0]
    print(f"Tofts fit of {n} simulated curves x {t.size} time points (load average {load:.1f}, "
          f"peer timed on {n_peer} curves and scaled)")
    print(f"ours {ours:.3f} s, peer {peer:.3f} s, ratio {peer / ours:.1f}")
    print(f"Ktrans ours vs peer: median |diff| {np.median(diff):.2e} /min, max {diff.max():.2e}; "
          f"ours vs truth median |rel err| {np.median(np.abs(fit.params['Ktrans'] / kt - 1)):.3f}")
    if not volume:
        return 0
    vol = tofts_concentration(t, ca, rng.uniform(0.02, 0.8, 20 * 64 * 64), rng.uniform(0.05, 0.6, 20 * 64 * 64))
    vol = (vol + rng.normal(0, 0.005, vol.shape)).reshape(20, 64, 64, t.size)
    start = time.perf_counter()
    fit_tofts(t, ca, vol)
    print(f"whole volume 20 x 64 x 64 = {vol[..., 0].size} voxels x {t.size} time points: ours "
          f"{time.perf_counter() - start:.1f} s (no peer run: {vol[..., 0].size / n * peer:.0f} s extrapolated)")
    return 0


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--volume"]
    sys.exit(main(*(int(a) for a in args[:1]), volume="--volume" in sys.argv))
