"""DICOMweb latency under load: QIDO-RS and WADO-RS frame requests at 8 concurrent clients on loopback,
next to the service's existing page reads (worklist JSON, study JSON, study page), and against Orthanc's
DICOMweb plugin (the peer) on the same SIMULATED CT series when Orthanc is installed.

Starts ``biomedai serve`` (no job workers) on a free loopback port over a temporary data folder holding a
simulated CT series (``--slices`` x ``--size``^2, int16), and Orthanc with ``libOrthancDicomWeb`` holding the
same instances. Each of ``--clients`` threads keeps one HTTP connection and sends ``--requests`` requests per
endpoint; the latencies of all clients give p50 and p95. Prints ``ENDPOINT: ours X s, peer Y s, ratio Z``
(p95; ratio = peer / ours, > 1 means ours is faster) and writes ``benchmarks/results/dicomweb_latency.json``
with the date, the machine, the load average and the command. Run with no arguments.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "bench-pass-123"
STUDY, SERIES = "1.2.826.0.1.3680043.8.498.900", "1.2.826.0.1.3680043.8.498.900.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def simulated_series(folder: Path, slices: int, size: int) -> list[Path]:
    """A SIMULATED CT series: a water cylinder with noise, one file per slice (Explicit VR Little Endian)."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    body = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (0.4 * size) ** 2
    paths = []
    for k in range(1, slices + 1):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CTImageStorage, f"{SERIES}.{k}"
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"{k}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, f"{SERIES}.{k}"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.Modality = STUDY, SERIES, "CT"
        ds.PatientName, ds.PatientID, ds.StudyDate, ds.AccessionNumber = "Bench^Simulated", "SIM1", "20240101", "B1"
        ds.StudyDescription, ds.SeriesNumber, ds.InstanceNumber = "simulated CT", 1, k
        ds.ImagePositionPatient, ds.ImageOrientationPatient, ds.PixelSpacing = [0, 0, k], [1, 0, 0, 0, 1, 0], [1, 1]
        ds.Rows = ds.Columns = size
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        pixels = np.where(body, 1024, 24) + rng.normal(0, 10, (size, size))
        ds.PixelData = pixels.astype(np.int16).tobytes()
        ds.save_as(folder / f"{k}.dcm", enforce_file_format=True)
        paths.append(folder / f"{k}.dcm")
    return paths


def wait_up(url: str, proc: subprocess.Popen, what: str, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"{what} stopped (exit code {proc.returncode})")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start")
        time.sleep(0.2)


def start_ours(data: Path, files: list[Path]) -> tuple[subprocess.Popen, str, dict[str, str], int]:
    import httpx

    from biomedai.workflow.intake import ingest
    from biomedai.workflow.store import Store

    store = Store(data)
    study_id = ingest(store, [(p.name, p) for p in files], methods=[]).studies[0]
    store.close()
    port = free_port()
    code = f"from biomedai.web import serve; serve(port={port}, data_dir={str(data)!r}, workers=0)"
    env = {**os.environ, "BIOMEDAI_ADMIN_PASSWORD": PASSWORD, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_up(f"{base}/healthz", proc, "biomedai serve")
    token = httpx.post(f"{base}/api/token", data={"username": "admin", "password": PASSWORD}).json()["token"]
    return proc, base, {"Authorization": f"Bearer {token}"}, study_id


def start_orthanc(folder: Path, files: list[Path]) -> tuple[subprocess.Popen, str] | None:
    import httpx

    binary = shutil.which("Orthanc")
    plugin = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
    if binary is None or not plugin.exists():
        return None
    port = free_port()
    config = {"Name": "bench", "StorageDirectory": str(folder / "db"), "IndexDirectory": str(folder / "db"),
              "HttpPort": port, "DicomPort": free_port(), "RemoteAccessAllowed": False,
              "AuthenticationEnabled": False, "Plugins": [str(plugin)], "StorageCompression": False,
              "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}}
    (folder / "orthanc.json").write_text(json.dumps(config))
    proc = subprocess.Popen([binary, str(folder / "orthanc.json")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_up(f"{base}/system", proc, "Orthanc")
    for path in files:
        httpx.post(f"{base}/instances", content=path.read_bytes()).raise_for_status()
    return proc, base


def load(base: str, headers: dict[str, str], paths: list[str], clients: int, requests: int,
         accept: str | None = None) -> list[float]:
    """Latencies (s) of ``clients`` threads each sending ``requests`` GETs to random ``paths``."""
    import httpx

    def one_client(seed: int) -> list[float]:
        rng = random.Random(seed)
        extra = {"Accept": accept} if accept else {}
        out = []
        with httpx.Client(base_url=base, headers={**headers, **extra}, timeout=60) as client:
            client.get(paths[0]).raise_for_status()  # warm the connection
            for _ in range(requests):
                start = time.perf_counter()
                r = client.get(rng.choice(paths))
                out.append(time.perf_counter() - start)
                if r.status_code != 200:
                    raise SystemExit(f"{base}{paths[0]}: HTTP {r.status_code} {r.text[:200]}")
        return out

    with ThreadPoolExecutor(clients) as pool:
        return [t for chunk in pool.map(one_client, range(clients)) for t in chunk]


def stats(times: list[float]) -> dict[str, float]:
    return {"n": len(times), "p50_s": float(np.percentile(times, 50)), "p95_s": float(np.percentile(times, 95))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=40, help="per client and endpoint")
    parser.add_argument("--slices", type=int, default=32)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "dicomweb_latency.json"))
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    frames = [f"/dicom-web/studies/{STUDY}/series/{SERIES}/instances/{SERIES}.{k}/frames/1"
              for k in range(1, args.slices + 1)]
    octet = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
    endpoints = {  # name: (paths, Accept, on the peer too)
        "QIDO studies (PatientName fuzzy)": (["/dicom-web/studies?PatientName=bench&fuzzymatching=true"], None, True),
        "QIDO instances of the series": ([f"/dicom-web/studies/{STUDY}/series/{SERIES}/instances"], None, True),
        "WADO-RS frame (one slice)": (frames, octet, True),
        "WADO-RS series metadata": ([f"/dicom-web/studies/{STUDY}/series/{SERIES}/metadata"], None, True),
    }
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="biomedai-bench-dicomweb-") as tmp:
        tmp = Path(tmp)
        (tmp / "series").mkdir()
        (tmp / "orthanc").mkdir()
        files = simulated_series(tmp / "series", args.slices, args.size)
        ours, base, headers, study_id = start_ours(tmp / "data", files)
        peer = start_orthanc(tmp / "orthanc", files)
        try:
            pages = {"page read: worklist JSON (/api/worklist)": ["/api/worklist"],
                     "page read: study JSON (/api/studies/<id>)": [f"/api/studies/{study_id}"],
                     "page read: study page HTML (/studies/<id>)": [f"/studies/{study_id}"]}
            for name, (paths, accept, on_peer) in endpoints.items():
                mine = stats(load(base, headers, paths, args.clients, args.requests, accept))
                entry = {"ours": mine}
                line = f"{name}: ours p95 {mine['p95_s']:.4f} s (p50 {mine['p50_s']:.4f} s)"
                if peer is not None and on_peer:
                    theirs = stats(load(peer[1], {}, paths, args.clients, args.requests, accept))
                    entry["peer_orthanc"] = theirs
                    line = (f"{name}: ours {mine['p95_s']:.4f} s, peer {theirs['p95_s']:.4f} s, "
                            f"ratio {theirs['p95_s'] / mine['p95_s']:.2f} (p95; p50 ours {mine['p50_s']:.4f} s, "
                            f"peer {theirs['p50_s']:.4f} s)")
                results[name] = entry
                print(line, flush=True)
            for name, paths in pages.items():
                mine = stats(load(base, headers, paths, args.clients, args.requests))
                results[name] = {"ours": mine}
                print(f"{name}: ours p95 {mine['p95_s']:.4f} s (p50 {mine['p50_s']:.4f} s)", flush=True)
        finally:
            for proc in (ours, peer[0] if peer else None):
                if proc is not None:
                    proc.terminate()
                    try:
                        proc.wait(15)
                    except subprocess.TimeoutExpired:
                        proc.kill()
    record = {"benchmark": "dicomweb_latency", "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs",
              "load_average_before": [round(x, 2) for x in load_before],
              "load_average_after": [round(x, 2) for x in os.getloadavg()],
              "command": "python benchmarks/speed/dicomweb_latency.py " + " ".join(argv or sys.argv[1:]),
              "data": f"SIMULATED CT series, {args.slices} slices of {args.size}x{args.size} int16, one study",
              "clients": args.clients, "requests_per_client_and_endpoint": args.requests,
              "peer": "Orthanc + libOrthancDicomWeb (Debian packages)" if peer else "none (Orthanc absent)",
              "server": "biomedai serve, one uvicorn process, SQLite, no job workers; loopback",
              "results": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(f"load average before {record['load_average_before']}, after {record['load_average_after']}; "
          f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
