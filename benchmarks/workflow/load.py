"""Load test of the workflow service on loopback: N concurrent uploads and M concurrent readers.

    .venv/bin/python benchmarks/workflow/load.py [--uploads 200] [--upload-threads 8] [--reads 1000]
        [--read-threads 8] [--workers 0]

Starts ``biomedai.web.serve`` in a subprocess (SQLite in a temporary folder, one uvicorn process),
uploads distinct small PNGs (each a new study; rules route them to no method, so only the API,
intake, storage and database are measured unless ``--workers`` and a rule say otherwise), while
reader threads fetch the worklist and study pages. Prints throughput and p50/p95 latency per
operation; bounded by count and by ``--max-seconds``.
"""
from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image


def _png(seed: int, size: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--uploads", type=int, default=200)
    ap.add_argument("--upload-threads", type=int, default=8)
    ap.add_argument("--reads", type=int, default=1000)
    ap.add_argument("--read-threads", type=int, default=8)
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--max-seconds", type=float, default=120)
    ap.add_argument("--postgres", action="store_true",
                    help="use a throwaway PostgreSQL cluster (see benchmarks/workflow/pg.py) instead of SQLite")
    args = ap.parse_args()
    if args.postgres:
        sys.path.insert(0, str(Path(__file__).parent))
        from pg import postgres_cluster

        with postgres_cluster() as url:
            return run(args, url)
    return run(args, None)


def run(args: argparse.Namespace, database_url: str | None) -> int:

    tmp = Path(tempfile.mkdtemp(prefix="biomedai-load-"))
    (tmp / "rules.yaml").write_text("rules:\n  - match: {}\n    methods: []\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "BIOMEDAI_ADMIN_PASSWORD": "load-test-password"}
    code = (f"from biomedai.web.server import serve; serve(port={port}, data_dir={str(tmp / 'data')!r}, "
            f"workers={args.workers}, rules={str(tmp / 'rules.yaml')!r}, database_url={database_url!r})")
    server = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        token = httpx.post(f"{base}/api/token", data={"username": "admin", "password": "load-test-password"}
                           ).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        payloads = [_png(i, args.image_size) for i in range(args.uploads)]
        latencies: dict[str, list[float]] = {"upload": [], "worklist": [], "study": []}
        errors: dict[str, int] = {"upload": 0, "worklist": 0, "study": 0}
        lock = threading.Lock()
        deadline = time.monotonic() + args.max_seconds
        local = threading.local()

        def client() -> httpx.Client:
            if not hasattr(local, "c"):
                local.c = httpx.Client(base_url=base, headers=headers, timeout=60)
            return local.c

        def record(kind: str, started: float, ok: bool) -> None:
            with lock:
                latencies[kind].append(time.perf_counter() - started)
                errors[kind] += 0 if ok else 1

        def upload(i: int) -> None:
            if time.monotonic() > deadline:
                return
            t = time.perf_counter()
            r = client().post("/api/studies", files={"files": (f"img{i}.png", payloads[i], "image/png")})
            record("upload", t, r.status_code == 201)

        def read(i: int) -> None:
            if time.monotonic() > deadline:
                return
            t = time.perf_counter()
            if i % 2:
                r = client().get("/api/worklist", params={"limit": 50})
                record("worklist", t, r.status_code == 200)
            else:
                r = client().get(f"/api/studies/{1 + i % max(1, len(latencies['upload']) or 1)}")
                record("study", t, r.status_code in (200, 404))

        started = time.perf_counter()
        with ThreadPoolExecutor(args.upload_threads) as up, ThreadPoolExecutor(args.read_threads) as rd:
            fu = [up.submit(upload, i) for i in range(args.uploads)]
            fr = [rd.submit(read, i) for i in range(args.reads)]
            for f in fu + fr:
                f.result()
        wall = time.perf_counter() - started
        n_studies = len(httpx.get(f"{base}/api/worklist", headers=headers, params={"limit": 1000}).json())
    finally:
        server.terminate()
        server.wait(timeout=30)
    db = "PostgreSQL 15 (pg8000)" if database_url else "SQLite (WAL)"
    print(f"machine: {os.cpu_count()} CPU(s) visible, python {sys.version.split()[0]}, {db}, 1 uvicorn process")
    print(f"wall {wall:.1f} s; {n_studies} studies stored for {args.uploads} uploads "
          f"({args.upload_threads} upload threads, {args.read_threads} reader threads, "
          f"{args.image_size}x{args.image_size} PNG ~{statistics.mean(map(len, payloads)) / 1024:.0f} KiB)")
    print("| operation | requests | errors | throughput (req/s) | p50 ms | p95 ms |")
    print("|---|---|---|---|---|---|")
    for kind, values in latencies.items():
        print(f"| {kind} | {len(values)} | {errors[kind]} | {len(values) / wall:.1f} | {_pct(values, 50):.0f} | "
              f"{_pct(values, 95):.0f} |")
    return 0 if not any(errors.values()) and n_studies == args.uploads else 1


if __name__ == "__main__":
    sys.exit(main())
