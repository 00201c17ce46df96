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

    python benchmarks/radiomics_speed.py [--jobs 2] [--cohort 50] [--quick]
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
DATA = Path(os.environ.get("BIOMEDAI_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
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


def time_case(name: str, img, msk) -> bool:
    import SimpleITK as sitk

    n_vox = int((sitk.GetArrayViewFromImage(msk) == 1).sum())
    t0 = time.perf_counter()
    ours = run_ours(img, msk)
    t1 = time.perf_counter()
    peer = run_peer(img, msk)
    t2 = time.perf_counter()
    bad = compare(ours, peer)
    n_feat = sum(not k.startswith("diagnostics_") for k in peer)
    print(f"{name} ({n_vox} voxels, {n_feat} features): ours {t1 - t0:.3f} s, peer {t2 - t1:.3f} s, "
          f"ratio {(t2 - t1) / (t1 - t0):.2f}" + ("" if not bad else f"  MISMATCH {len(bad)}: {bad[:3]}"),
          flush=True)
    return not bad


def _cohort_worker(args):
    which, path_img, path_msk = args
    import SimpleITK as sitk

    img, msk = sitk.ReadImage(path_img), sitk.ReadImage(path_msk)
    return run_ours(img, msk, threads=1) if which == "ours" else run_peer(img, msk)


def cohort(n: int, jobs: int) -> bool:
    import SimpleITK as sitk

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
            t0 = time.perf_counter()
            ours = list(pool.map(_cohort_worker, [("ours", *it) for it in items]))
            t1 = time.perf_counter()
            peer = list(pool.map(_cohort_worker, [("peer", *it) for it in items]))
            t2 = time.perf_counter()
    bad = [b for o, p in zip(ours, peer) for b in compare(o, p)]
    print(f"cohort of {n} cases, --jobs {jobs}: ours {t1 - t0:.3f} s, peer {t2 - t1:.3f} s, "
          f"ratio {(t2 - t1) / (t1 - t0):.2f}" + ("" if not bad else f"  MISMATCH {len(bad)}: {bad[:3]}"),
          flush=True)
    return not bad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--cohort", type=int, default=50)
    ap.add_argument("--quick", action="store_true", help="bundled cases only (no large ROIs, no cohort)")
    args = ap.parse_args(argv)
    try:
        import radiomics  # noqa: F401
    except ImportError:
        print("PyRadiomics is not importable here; build it as in benchmarks/README-radiomics.md", file=sys.stderr)
        return 2
    import SimpleITK as sitk

    warm_img, warm_msk = synthetic(0, (16, 20, 20), 0.3)
    run_ours(warm_img, warm_msk)
    run_peer(warm_img, warm_msk)
    ok = True
    if PYRAD.is_dir():
        for case in ("brain1", "brain2", "breast1"):
            img = sitk.ReadImage(str(PYRAD / f"{case}_image.nrrd"))
            msk = sitk.ReadImage(str(PYRAD / f"{case}_label.nrrd"))
            ok &= time_case(case, img, msk)
    else:
        print(f"note: {PYRAD} absent; bundled cases skipped")
    if not args.quick:
        if PYRAD.is_dir():
            ok &= time_case("brain1-whole-brain", *brain_of_brain1())
        ok &= time_case("synthetic-large-1", *synthetic(1, (60, 96, 96), 0.35))
        ok &= time_case("synthetic-large-2", *synthetic(2, (80, 128, 128), 0.3, spacing=(1.5, 0.7, 0.7)))
        ok &= cohort(args.cohort, args.jobs)
    print("values agree" if ok else "VALUES DIFFER")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
