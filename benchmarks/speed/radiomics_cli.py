"""Radiomics through the command line: ``biomedai radiomics`` vs PyRadiomics' ``pyradiomics`` CLI.

Each tool runs as its own process on the same NRRD files and params file (all classes of the
Original image, binWidth 25), the two alternating ``--repeat`` times; the best wall time, the best
CPU time (user + system of the process, from ``wait4``) and the peak resident memory of each are
printed, plus ``biomedai.radiomics.extract`` called from a bare Python process on the same files
(the API row: the memory the CLI must not exceed). One untimed run of each fills a bytecode cache
(``PYTHONPYCACHEPREFIX``), so neither tool pays for compiling its sources, as with installed
packages (PYTHONDONTWRITEBYTECODE is dropped). Values of the two CSVs are checked to agree
(relative 1e-6, absolute 1e-9 near 0); exit 1 if they do not.

Cases: ``tiny`` (PyRadiomics' breast1, 143 ROI voxels, from ../shared/data; a synthetic tiny case
when absent: start-up dominates) and ``large`` (synthetic, about 1.17 M ROI voxels: memory and
throughput dominate). The load average is printed with every line (a shared machine).

    python benchmarks/speed/radiomics_cli.py [--repeat 3] [--cases tiny large]
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("BIOMEDAI_SHARED_DATA", ROOT.parent / "shared" / "data"))
PYRAD = DATA / "radiomics" / "pyradiomics_data"
PARAMS_YAML = """\
setting:
  binWidth: 25
  label: 1
imageType:
  Original: {}
featureClass:
  shape:
  firstorder:
  glcm:
  glrlm:
  glszm:
  gldm:
  ngtdm:
"""
API_SNIPPET = ("import sys; from biomedai.radiomics import extract; "
               "f = extract(sys.argv[1], sys.argv[2], sys.argv[3]); print(len(f))")


def _load() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "n/a"


def synthetic_case(folder: Path, name: str, shape: tuple[int, int, int], fill: float, seed: int) -> tuple[Path, Path]:
    """A smooth int16 volume and a blob mask filling about ``fill`` of it, written as NRRD."""
    import SimpleITK as sitk
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    vol = ndimage.gaussian_filter(rng.normal(0, 1, shape).astype(np.float32), 2.0)
    vol = (vol / vol.std() * 120 + 400).astype(np.int16)
    grid = np.ogrid[tuple(slice(0, s) for s in shape)]
    radius = [(s / 2) * fill ** (1 / 3) * 1.2 for s in shape]
    blob = sum(((g - (s - 1) / 2) / r) ** 2 for g, s, r in zip(grid, shape, radius))
    blob = blob + ndimage.gaussian_filter(rng.normal(0, 1, shape).astype(np.float32), 3.0) * 2
    img, msk = sitk.GetImageFromArray(vol), sitk.GetImageFromArray((blob < 1).astype(np.uint8))
    for im in (img, msk):
        im.SetSpacing((0.8, 0.8, 1.0))
    paths = folder / f"{name}_image.nrrd", folder / f"{name}_label.nrrd"
    sitk.WriteImage(img, str(paths[0]), True)
    sitk.WriteImage(msk, str(paths[1]), True)
    return paths


def run_process(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall s, CPU s (user + system) and peak RSS (MB) of one child process; raises if it fails."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} ... failed ({proc.returncode}): {err[-800:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0


def read_features(path: Path) -> dict[str, float]:
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = {}
    for key, value in rows[-1].items():
        if key.startswith("original_"):
            out[key] = float(value)
    return out


def compare(ours: dict[str, float], peer: dict[str, float]) -> list[str]:
    bad = [f"{k} missing" for k in peer if k not in ours]
    for key, exp in peer.items():
        got = ours.get(key)
        if got is not None and not (math.isclose(got, exp, rel_tol=1e-6, abs_tol=1e-9)
                                    or (math.isnan(got) and math.isnan(exp))):
            bad.append(f"{key}: ours {got!r} peer {exp!r}")
    return bad


def time_case(name: str, image: Path, mask: Path, params: Path, folder: Path, repeat: int) -> bool:
    import SimpleITK as sitk

    n_vox = int(np.count_nonzero(sitk.GetArrayViewFromImage(sitk.ReadImage(str(mask))) == 1))
    py = sys.executable
    biomedai = [py, "-m", "biomedai"]
    pyradiomics = shutil.which("pyradiomics", path=str(Path(py).parent)) or "pyradiomics"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
           "PYTHONPYCACHEPREFIX": str(folder / "pycache")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # both tools start from cached bytecode, as installed packages do
    cmds = {
        "ours": biomedai + ["radiomics", str(image), str(mask), "-p", str(params), "-o", str(folder / "ours.csv")],
        "peer": [pyradiomics, str(image), str(mask), "-p", str(params), "-o", str(folder / "peer.csv"), "-f", "csv"],
        "api": [py, "-c", API_SNIPPET, str(image), str(mask), str(params)],
    }
    best: dict[str, list[float]] = {}
    for who in ("ours", "peer", "api"):  # untimed: fills the bytecode cache
        run_process(cmds[who], env)
    for r in range(repeat):
        for who in (("ours", "peer", "api") if r % 2 == 0 else ("peer", "ours", "api")):
            for stale in (folder / "ours.csv", folder / "peer.csv"):
                if who != "api" and stale.name.startswith(who):
                    stale.unlink(missing_ok=True)
            wall, cpu, rss = run_process(cmds[who], env)
            prev = best.get(who, [math.inf, math.inf, 0.0])
            best[who] = [min(prev[0], wall), min(prev[1], cpu), max(prev[2], rss)]
    bad = compare(read_features(folder / "ours.csv"), read_features(folder / "peer.csv"))
    (wo, co, mo), (wp, cp, mp), (_, ca, ma) = best["ours"], best["peer"], best["api"]
    print(f"CLI {name} ({n_vox} ROI voxels): ours {wo:.3f} s, peer {wp:.3f} s, ratio {wp / wo:.2f}; "
          f"CPU ours {co:.3f} s, peer {cp:.3f} s, ratio {cp / co:.2f}; peak memory ours {mo:.0f} MB, "
          f"peer {mp:.0f} MB, API {ma:.0f} MB (CPU {ca:.3f} s) (best of {repeat}, load {_load()})"
          + ("" if not bad else f"  MISMATCH {len(bad)}: {bad[:3]}"), flush=True)
    return not bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool and case, alternating (best reported)")
    ap.add_argument("--cases", nargs="+", default=["tiny", "large"], choices=["tiny", "large"])
    args = ap.parse_args(argv)
    if shutil.which("pyradiomics", path=str(Path(sys.executable).parent)) is None:
        print("PyRadiomics' CLI is not installed in this Python; build it as in benchmarks/README-radiomics.md",
              file=sys.stderr)
        return 2
    print(f"load average at start: {_load()}", flush=True)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        params = folder / "params.yaml"
        params.write_text(PARAMS_YAML)
        for case in args.cases:
            if case == "tiny" and (PYRAD / "breast1_image.nrrd").is_file():
                paths = PYRAD / "breast1_image.nrrd", PYRAD / "breast1_label.nrrd"
                name = "tiny (breast1)"
            elif case == "tiny":
                paths = synthetic_case(folder, "tiny", (8, 16, 16), 0.1, 3)
                name = "tiny (synthetic)"
            else:
                paths = synthetic_case(folder, "large", (104, 160, 160), 0.45, 4)
                name = "large (synthetic)"
            ok &= time_case(name, *paths, params, folder, args.repeat)
    print(f"load average at end: {_load()}")
    print("values agree" if ok else "VALUES DIFFER")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
