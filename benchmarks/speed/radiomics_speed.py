"""Radiomics speed: biomedai.radiomics vs PyRadiomics on the same cases in one run, values checked.

Every case runs all feature classes on Original + LoG (sigma 1, 3 mm) + Wavelet (8 decompositions):
the PyRadiomics test cases brain1, brain2 and breast1, large ROIs (>= 100,000 voxels: the brain
of brain1 and two synthetic volumes) and a cohort of 50 synthetic cases with ``--jobs`` workers
(both tools get the same number of worker processes). Prints ``CASE: ours X s, peer Y s, ratio Z``
(ratio = peer / ours, so > 1 means we are faster) and exits 1 if any value differs by more than a
relative 1e-6 (absolute 1e-9 near 0).

PyRadiomics is needed in this Python (see benchmarks/README-radiomics.md for the sdist recipe).
The bundled volumes are read from ../shared/data (or BIOMEDAI_SHARED_DATA); cases whose data are
absent are skipped with a note.

Timing under load (a shared machine): each case runs ``--repeat`` times, ours and the peer
alternating, and the best wall time and the best CPU time (``time.process_time``, all threads of
the process) of each tool are reported; the cohort alternates whole rounds and sums the CPU time
the workers report per case. The load average is printed before and after. For every ROI over
100,000 voxels each run is printed in order with the load when it ended, and a closing line per
case says whether the goal (>= 3x in wall and in CPU time) was met at that load.

``--voxel`` times voxel-based feature maps instead (all classes but shape, Original image,
``kernelRadius`` 1): ours (numpy) against PyRadiomics when it is importable, and ours with the
GLCM in torch on ``--device`` (values checked against the numpy path, relative 1e-9), so it also
runs where PyRadiomics is absent (the GPU machine).

    python benchmarks/speed/radiomics_speed.py [--jobs 2] [--cohort 50] [--repeat 2] [--quick | --large]
        [--cases synthetic-large-1,synthetic-large-2]
    python benchmarks/speed/radiomics_speed.py --voxel [--device cuda] [--no-peer]
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

PARAMS = {
    "setting": {"binWidth": 25, "label": 1},
    "imageType": {"Original": {}, "LoG": {"sigma": [1.0, 3.0]}, "Wavelet": {}},
    "featureClass": {c: [] for c in ("shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")},
}
DATA = Path(os.environ.get("BIOMEDAI_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
PYRAD = DATA / "radiomics" / "pyradiomics_data"


def synthetic(seed: int, shape: tuple[int, int, int], fill: float, spacing=(1.0, 0.8, 0.8)):
    """A smooth random volume and an ellipsoid-ish blob mask filling about ``fill`` of it."""
    import SimpleITK as sitk
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    vol = ndimage.gaussian_filter(rng.normal(0, 1, shape), 2.0)
    vol = (vol / vol.std() * 120 + 400).astype(np.int16)
    zz, yy, xx = np.indices(shape, dtype=float)
    c = [(s - 1) / 2 for s in shape]
    r = [(s / 2) * fill ** (1 / 3) * 1.2 for s in shape]
    blob = ((zz - c[0]) / r[0]) ** 2 + ((yy - c[1]) / r[1]) ** 2 + ((xx - c[2]) / r[2]) ** 2
    blob += ndimage.gaussian_filter(rng.normal(0, 1, shape), 3.0) * 2
    mask = (blob < 1).astype(np.uint8)
    img, msk = sitk.GetImageFromArray(vol), sitk.GetImageFromArray(mask)
    for im in (img, msk):
        im.SetSpacing(spacing[::-1])
    return img, msk


def brain_of_brain1():
    """brain1's whole brain (intensity > 300, largest component): a large real ROI."""
    import SimpleITK as sitk
    from scipy import ndimage

    img = sitk.ReadImage(str(PYRAD / "brain1_image.nrrd"))
    arr = sitk.GetArrayFromImage(img)
    lab, n = ndimage.label(arr > 300)
    big = np.argmax(np.bincount(lab.ravel())[1:]) + 1
    mask = sitk.GetImageFromArray((lab == big).astype(np.uint8))
    mask.CopyInformation(img)
    return img, mask


def run_ours(img, msk, threads=None):
    from biomedai.radiomics import extract

    return extract(img, msk, PARAMS, threads=threads)


def run_peer(img, msk):
    import radiomics
    from radiomics import featureextractor

    radiomics.setVerbosity(logging.CRITICAL)
    return featureextractor.RadiomicsFeatureExtractor(PARAMS).execute(img, msk)


def compare(ours: dict, peer: dict) -> list[str]:
    bad = []
    for name, value in peer.items():
        if name.startswith("diagnostics_"):
            continue
        exp, got = float(value), ours.get(name)
        if got is None:
            bad.append(f"{name} missing")
        elif not (math.isclose(got, exp, rel_tol=1e-6, abs_tol=1e-9) or (math.isnan(got) and math.isnan(exp))):
            bad.append(f"{name}: ours {got!r} peer {exp!r}")
    return bad


def _timed(fn, *args, **kwargs):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - w0, time.process_time() - c0


def _load() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "n/a"


LARGE_ROI = 100_000  # voxels: the goal for these ROIs is >= 3x, wall and CPU, measured alternately
LARGE_RESULTS: list[tuple[str, int, float, float, str]] = []  # name, voxels, wall ratio, CPU ratio, load


def time_case(name: str, img, msk, repeat: int = 2) -> bool:
    """Time one case, the tools alternating (ours, peer, peer, ours, ...); print the best of each.

    For ROIs over ``LARGE_ROI`` voxels every run is printed too, with the load average when it
    ended, and the case goes into the closing ">= 3x" summary.
    """
    import SimpleITK as sitk

    n_vox = int((sitk.GetArrayViewFromImage(msk) == 1).sum())
    walls = {"ours": [], "peer": []}
    cpus = {"ours": [], "peer": []}
    runs = []
    ours = peer = None
    load_start = _load()
    for r in range(repeat):
        for who in (("ours", "peer") if r % 2 == 0 else ("peer", "ours")):
            res, wall, cpu = _timed(run_ours if who == "ours" else run_peer, img, msk)
            walls[who].append(wall)
            cpus[who].append(cpu)
            runs.append(f"{who} {wall:.2f} s (CPU {cpu:.2f} s, load {_load().split()[0]})")
            if who == "ours":
                ours = res
            else:
                peer = res
    bad = compare(ours, peer)
    n_feat = sum(not k.startswith("diagnostics_") for k in peer)
    wo, wp, co, cp = min(walls["ours"]), min(walls["peer"]), min(cpus["ours"]), min(cpus["peer"])
    load = f"{load_start} -> {_load()}"
    print(f"{name} ({n_vox} voxels, {n_feat} features): ours {wo:.3f} s, peer {wp:.3f} s, ratio {wp / wo:.2f}; "
          f"CPU ours {co:.3f} s, peer {cp:.3f} s, ratio {cp / co:.2f} (best of {repeat}, load {load})"
          + ("" if not bad else f"  MISMATCH {len(bad)}: {bad[:3]}"), flush=True)
    if n_vox > LARGE_ROI:
        print(f"  runs in order: {'; '.join(runs)}", flush=True)
        LARGE_RESULTS.append((name, n_vox, wp / wo, cp / co, load))
    return not bad


def large_summary() -> None:
    """The goal line for the ROIs over ``LARGE_ROI`` voxels: >= 3x in wall and in CPU time."""
    for name, n_vox, wall, cpu, load in LARGE_RESULTS:
        verdict = "met" if min(wall, cpu) >= 3 else "NOT met"
        print(f"goal >= 3x, {name} ({n_vox} voxels): wall ratio {wall:.2f}, CPU ratio {cpu:.2f}: {verdict} "
              f"(load {load})")


def _cohort_worker(args):
    which, path_img, path_msk = args
    import SimpleITK as sitk

    c0 = time.process_time()
    img, msk = sitk.ReadImage(path_img), sitk.ReadImage(path_msk)
    out = run_ours(img, msk, threads=1) if which == "ours" else run_peer(img, msk)
    return out, time.process_time() - c0


def cohort(n: int, jobs: int, repeat: int = 2) -> bool:
    import SimpleITK as sitk

    walls = {"ours": [], "peer": []}
    cpus = {"ours": [], "peer": []}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        items = []
        for i in range(n):
            shape = (int(20 + i % 7 * 3), int(40 + i % 5 * 6), int(40 + i % 3 * 8))
            img, msk = synthetic(1000 + i, shape, 0.25)
            pi, pm = os.path.join(tmp, f"c{i}.nrrd"), os.path.join(tmp, f"c{i}_label.nrrd")
            sitk.WriteImage(img, pi)
            sitk.WriteImage(msk, pm)
            items.append((pi, pm))
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(_cohort_worker, [("ours", *items[0]), ("peer", *items[0])] * jobs))  # warm workers
            for r in range(repeat):
                for who in (("ours", "peer") if r % 2 == 0 else ("peer", "ours")):
                    t0 = time.perf_counter()
                    out = list(pool.map(_cohort_worker, [(who, *it) for it in items]))
                    walls[who].append(time.perf_counter() - t0)
                    cpus[who].append(sum(c for _, c in out))
                    results[who] = [o for o, _ in out]
    bad = [b for o, p in zip(results["ours"], results["peer"]) for b in compare(o, p)]
    wo, wp, co, cp = min(walls["ours"]), min(walls["peer"]), min(cpus["ours"]), min(cpus["peer"])
    print(f"cohort of {n} cases, --jobs {jobs}: ours {wo:.3f} s, peer {wp:.3f} s, ratio {wp / wo:.2f}; "
          f"worker CPU ours {co:.3f} s, peer {cp:.3f} s, ratio {cp / co:.2f} (best of {repeat} alternating rounds, "
          f"walls ours {[round(w, 1) for w in walls['ours']]} peer {[round(w, 1) for w in walls['peer']]}, "
          f"load {_load()})" + ("" if not bad else f"  MISMATCH {len(bad)}: {bad[:3]}"), flush=True)
    return not bad


VOXEL_PARAMS = {
    "setting": {"binWidth": 25, "label": 1},
    "featureClass": {c: [] for c in ("firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")},
    "voxelSetting": {"kernelRadius": 1, "maskedKernel": True},
}


def voxel_case(name: str, img, msk, peer: bool, device: str | None, repeat: int) -> bool:
    """Voxel-based maps: ours (numpy), PyRadiomics (``peer``) and ours with the GLCM in torch on ``device``."""
    import SimpleITK as sitk

    from biomedai.radiomics import extract

    n_vox = int((sitk.GetArrayViewFromImage(msk) == 1).sum())
    best = {}
    ours = ref = dev = None
    for _ in range(repeat):
        ours, w, c = _timed(extract, img, msk, VOXEL_PARAMS, voxel_based=True, full_grid=False, threads=1)
        best["ours"] = min(best.get("ours", (1e9, 1e9)), (w, c))
        if peer:
            import radiomics
            from radiomics import featureextractor

            radiomics.setVerbosity(logging.CRITICAL)
            ext = featureextractor.RadiomicsFeatureExtractor(VOXEL_PARAMS)
            ref, w, c = _timed(ext.execute, img, msk, voxelBased=True)
            best["peer"] = min(best.get("peer", (1e9, 1e9)), (w, c))
        if device:
            dev, w, c = _timed(extract, img, msk, VOXEL_PARAMS, voxel_based=True, full_grid=False, device=device)
            if device.startswith("cuda"):
                import torch

                torch.cuda.synchronize()
            best["torch"] = min(best.get("torch", (1e9, 1e9)), (w, c))
    bad = []
    if ref is not None:
        for key, value in ref.items():
            if key.startswith("diagnostics_") or key.endswith("_MCC"):  # MCC: see tests/radiomics/test_voxel.py
                continue
            exp, got = sitk.GetArrayFromImage(value), ours[key].array
            if not (np.isclose(got, exp, rtol=1e-6, atol=1e-9) | (np.isnan(got) & np.isnan(exp))).all():
                bad.append(key)
    if dev is not None:
        for key in ours:
            if "_glcm_" in key:
                a, b = ours[key].array, dev[key].array
                atol = 1e-7 if key.endswith("_Imc2") else 1e-9  # sqrt turns 1e-16 round-off into 1e-8
                if not np.allclose(b, a, rtol=1e-9, atol=atol, equal_nan=True):
                    bad.append(f"torch {key}")
    line = f"voxel-based {name} ({n_vox} voxels, {len([k for k in ours if not k.startswith('diag')])} maps): " \
           f"ours {best['ours'][0]:.2f} s (CPU {best['ours'][1]:.2f} s)"
    (wo, co) = best["ours"]
    if "peer" in best:
        wp, cp = best["peer"]
        line += f", peer {wp:.2f} s (CPU {cp:.2f} s), ratio {wp / wo:.2f} (CPU {cp / co:.2f})"
    if "torch" in best:
        wt = best["torch"][0]
        line += f", ours GLCM in torch on {device} {wt:.2f} s ({wo / wt:.2f}x numpy)"
    print(line + f" (best of {repeat}, load {_load()})" + ("" if not bad else f"  MISMATCH {bad[:4]}"), flush=True)
    return not bad


def voxel_main(args) -> int:
    try:
        import skimage  # noqa: F401
    except ImportError:  # the GPU machine may lack scikit-image, which GLSZM's zone labelling needs
        print("note: scikit-image not importable; glszm left out of the voxel-based timing")
        VOXEL_PARAMS["featureClass"].pop("glszm", None)
    peer = not args.no_peer
    if peer:
        try:
            import radiomics  # noqa: F401
        except ImportError:
            print("note: PyRadiomics not importable; timing ours only (numpy and torch)")
            peer = False
    ok = True
    cases = [((12, 24, 24), 0.3), ((16, 30, 30), 0.35), ((24, 48, 48), 0.3)]
    if args.device and args.device.startswith("cuda"):
        cases.append(((48, 96, 96), 0.3))  # ~100,000 ROI voxels: where a GPU can pay
    for i, (shape, fill) in enumerate(cases):
        img, msk = synthetic(50 + i, shape, fill)
        ok &= voxel_case(f"synthetic-{'x'.join(map(str, shape))}", img, msk, peer and i < 2 + args.big_peer,
                         args.device, args.repeat)
    print("values agree" if ok else "VALUES DIFFER")
    return 0 if ok else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--cohort", type=int, default=50)
    ap.add_argument("--quick", action="store_true", help="bundled cases only (no large ROIs, no cohort)")
    ap.add_argument("--large", action="store_true", help="only the ROIs over 100,000 voxels (no bundled cases, no cohort)")
    ap.add_argument("--repeat", type=int, default=2, help="runs per tool and case, alternating (best reported)")
    ap.add_argument("--cases", help="comma-separated large cases to run (default all: brain1-whole-brain, "
                                    "synthetic-large-1, synthetic-large-2)")
    ap.add_argument("--voxel", action="store_true", help="time voxel-based feature maps instead")
    ap.add_argument("--device", help="--voxel: also run the GLCM maps in torch on this device (cuda, cpu)")
    ap.add_argument("--no-peer", action="store_true", help="--voxel: do not run PyRadiomics")
    ap.add_argument("--big-peer", type=int, default=0, choices=[0, 1],
                    help="--voxel: 1 also runs PyRadiomics on the largest voxel case (slow)")
    args = ap.parse_args(argv)
    print(f"load average at start: {_load()}", flush=True)
    if args.voxel:
        return voxel_main(args)
    try:
        import radiomics  # noqa: F401
    except ImportError:
        print("PyRadiomics is not importable here; build it as in benchmarks/README-radiomics.md", file=sys.stderr)
        return 2
    import SimpleITK as sitk

    from biomedai.radiomics.extractor import default_threads

    print(f"ours runs on {default_threads()} thread(s) (its default; OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS', 'unset')}), PyRadiomics on one", flush=True)
    warm_img, warm_msk = synthetic(0, (16, 20, 20), 0.3)
    run_ours(warm_img, warm_msk)
    run_peer(warm_img, warm_msk)
    ok = True
    if PYRAD.is_dir() and not args.large:
        for case in ("brain1", "brain2", "breast1"):
            img = sitk.ReadImage(str(PYRAD / f"{case}_image.nrrd"))
            msk = sitk.ReadImage(str(PYRAD / f"{case}_label.nrrd"))
            ok &= time_case(case, img, msk, args.repeat)
    elif not args.large:
        print(f"note: {PYRAD} absent; bundled cases skipped")
    if not args.quick:
        large = {"brain1-whole-brain": brain_of_brain1 if PYRAD.is_dir() else None,
                 "synthetic-large-1": lambda: synthetic(1, (60, 96, 96), 0.35),
                 "synthetic-large-2": lambda: synthetic(2, (80, 128, 128), 0.3, spacing=(1.5, 0.7, 0.7))}
        wanted = args.cases.split(",") if args.cases else list(large)
        for name in wanted:
            if name not in large:
                print(f"unknown case {name!r}; the large cases are {', '.join(large)}", file=sys.stderr)
                return 2
            if large[name] is None:
                print(f"note: {PYRAD} absent; {name} skipped")
                continue
            ok &= time_case(name, *large[name](), repeat=args.repeat)
        if not args.large:
            ok &= cohort(args.cohort, args.jobs, args.repeat)
        large_summary()
    print(f"load average at end: {_load()}")
    print("values agree" if ok else "VALUES DIFFER")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
