"""``serve`` for real: uvicorn on loopback plus a worker process, driven over HTTP."""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from tests.workflow.conftest import WF_METHODS, make_png

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_processes_an_upload_with_a_real_worker(tmp_path, store, wf_methods, monkeypatch):
    port = _free_port()
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - match: {kind: 'image/*'}\n    methods: [wf_brightness]\n")
    monkeypatch.setenv("BIOMEDAI_ADMIN_PASSWORD", "admin-pass-123")
    code = ("import sys; from biomedai.web import serve; "
            f"serve(port={port}, data_dir=sys.argv[1], workers=1, rules=sys.argv[2], imports=[sys.argv[3]], "
            "database_url=sys.argv[4])")
    proc = subprocess.Popen([sys.executable, "-c", code, str(store.data_dir), str(rules), WF_METHODS,
                             store.database_url],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()[-3000:]
            time.sleep(0.2)
        token = httpx.post(f"{base}/api/token", data={"username": "admin", "password": "admin-pass-123"}).json()
        headers = {"Authorization": f"Bearer {token['token']}"}
        png = make_png(tmp_path / "a.png", value=230).read_bytes()
        r = httpx.post(f"{base}/api/studies", headers=headers, files={"files": ("a.png", png)})
        assert r.status_code == 201, r.text
        job = r.json()["jobs"][0]
        deadline = time.monotonic() + 40
        while (status := httpx.get(f"{base}/api/jobs/{job}", headers=headers).json()["status"]) != "done":
            assert status in ("queued", "running") and time.monotonic() < deadline, status
            time.sleep(0.3)
        top = httpx.get(f"{base}/api/worklist", headers=headers).json()[0]
        assert top["priority"] == 75 and top["status"] == "done"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert proc.returncode is not None
